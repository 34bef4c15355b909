/**
 * Runtime configuration: command-line flags, each with an EXPRESS_LANE_* environment variable
 * (systemd units and the local lane set the environment). Validated once at startup; a bad value
 * stops the process with a message naming the flag.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { parseLatencyModel, type LatencyModel } from "./store/simulated-latency";

export interface RuntimeConfig {
  readonly host: string;
  readonly port: number;
  readonly signerSocket: string;
  readonly store: "s3" | "file";
  readonly bucket: string;
  readonly region: string;
  readonly endpoint?: string;
  readonly addressing?: "path" | "express";
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  readonly storeDir?: string;
  readonly keyPrefix: string;
  readonly storeTimeoutMs: number;
  readonly storeConnections: number;
  readonly signerTimeoutMs: number;
  readonly selfVerifyRate: number;
  readonly logLevel: string;
  /** Hedged store GETs (runtime/store/hedged-store.ts). */
  readonly hedge: boolean;
  readonly hedgeMaxRatio: number;
  /** SIMULATION only: a what-if store latency model added below the store client. */
  readonly storeLatency?: LatencyModel;
}

function int(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be an integer in ${min}..${max}`);
    return n;
  };
}

function fraction(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError("must be a number in 0..1");
  return n;
}

export function runtimeCommand(): Command {
  return new Command("express-lane-runtime")
    .description("Express Lane reader runtime: signed feature reads over HTTP")
    .addOption(new Option("--host <addr>", "listen address").env("EXPRESS_LANE_HOST").default("127.0.0.1"))
    .addOption(new Option("--port <n>", "listen port").env("EXPRESS_LANE_PORT").default(8080).argParser(int(0, 65535)))
    .addOption(new Option("--signer-socket <path>", "signer Unix socket").env("EXPRESS_LANE_SIGNER_SOCKET").default("/run/express-lane/signer.sock"))
    .addOption(new Option("--store <kind>", "object store").env("EXPRESS_LANE_STORE").choices(["s3", "file"]).default("s3"))
    .addOption(new Option("--bucket <name>", "bucket (a `--x-s3` name selects S3 Express)").env("EXPRESS_LANE_BUCKET").default("lane"))
    .addOption(new Option("--region <region>", "AWS region").env("EXPRESS_LANE_REGION").default("ap-south-1"))
    .addOption(new Option("--endpoint <url>", "S3 endpoint override (local store, VPC endpoint)").env("EXPRESS_LANE_S3_ENDPOINT"))
    .addOption(new Option("--addressing <mode>", "path | express (default: by bucket name)").env("EXPRESS_LANE_S3_ADDRESSING").choices(["path", "express"]))
    .addOption(new Option("--access-key-id <id>", "static access key (local stores only)").env("EXPRESS_LANE_S3_ACCESS_KEY_ID"))
    .addOption(new Option("--secret-access-key <key>", "static secret key (local stores only)").env("EXPRESS_LANE_S3_SECRET_ACCESS_KEY"))
    .addOption(new Option("--store-dir <dir>", "root folder for --store file").env("EXPRESS_LANE_STORE_DIR"))
    .addOption(new Option("--key-prefix <prefix>", "prefix of every object key").env("EXPRESS_LANE_KEY_PREFIX").default(""))
    .addOption(new Option("--store-timeout-ms <n>", "per-GET deadline").env("EXPRESS_LANE_STORE_TIMEOUT_MS").default(1000).argParser(int(10, 60000)))
    .addOption(new Option("--store-connections <n>", "keep-alive connections to the store").env("EXPRESS_LANE_STORE_CONNECTIONS").default(64).argParser(int(1, 4096)))
    .addOption(new Option("--signer-timeout-ms <n>", "per-signature deadline").env("EXPRESS_LANE_SIGNER_TIMEOUT_MS").default(1000).argParser(int(10, 60000)))
    .addOption(new Option("--self-verify-rate <0..1>", "share of answers verified before sending").env("EXPRESS_LANE_SELF_VERIFY_RATE").default(0.01).argParser(fraction))
    .addOption(new Option("--log-level <level>", "pino log level").env("EXPRESS_LANE_LOG_LEVEL").default("info"))
    .addOption(new Option("--hedge <on|off>", "hedged store GETs (second GET after the recent P95)").env("EXPRESS_LANE_HEDGE").choices(["on", "off"]).default("off"))
    .addOption(new Option("--hedge-max-ratio <0..1>", "cap on hedged GETs as a share of all GETs").env("EXPRESS_LANE_HEDGE_MAX_RATIO").default(0.05).argParser(fraction))
    .addOption(
      new Option("--store-latency <model>", "SIMULATION: delay store GETs, e.g. lognormal:p50=2ms,p99=12ms").env("EXPRESS_LANE_STORE_LATENCY").argParser((v: string) => {
        try {
          return parseLatencyModel(v);
        } catch (err) {
          throw new InvalidArgumentError((err as Error).message);
        }
      }),
    );
}

export function parseRuntimeConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  const saved = process.env;
  process.env = env; // commander reads option env vars from process.env
  try {
    const program = runtimeCommand().exitOverride();
    program.parse([...argv], { from: "user" });
    const o = program.opts<Omit<RuntimeConfig, "hedge"> & { hedge: "on" | "off" | boolean }>();
    if (o.store === "file" && !o.storeDir) throw new InvalidArgumentError("--store file needs --store-dir");
    if ((o.accessKeyId === undefined) !== (o.secretAccessKey === undefined)) {
      throw new InvalidArgumentError("--access-key-id and --secret-access-key go together");
    }
    return { ...o, hedge: o.hedge === "on" || o.hedge === true };
  } finally {
    process.env = saved;
  }
}
