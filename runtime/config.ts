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
  /** The admin-signed key directory the signer is provisioned with (runtime/key-provisioning.ts). */
  readonly keyDirectory?: string;
  /** An admin-signed registry document (views) forwarded to the signer at start, reconnect and SIGHUP. */
  readonly registryDocument?: string;
  /** Poll the fleet copy of the registry document in the store this often; 0 = never. */
  readonly registryPollMs: number;
  /** Poll each view's checkpoint log (_lane/checkpoints/, issue #16) this often; 0 = never (answers carry fresh_as_of null). */
  readonly checkpointPollMs: number;
  /** Production: wrapped writer keys document to provision the signer with (with keyDirectory). */
  readonly sealKeysFile?: string;
  /** Loopback clients may scrape /metrics without an API key (the host's own agents). */
  readonly loopbackMetrics: boolean;
  /** Production: the lane signing keys document (wire/lane-key.ts), with keyDirectory. */
  readonly laneKeysFile?: string;
  readonly store: "s3" | "file" | "memory";
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
  /** GET/HEAD over the lane's bare HTTP/1.1 client (default) or undici (runtime/store/http1-client.ts). */
  readonly storeReadClient: "lane" | "undici";
  readonly signerTimeoutMs: number;
  readonly selfVerifyRate: number;
  readonly logLevel: string;
  /** Hedged store GETs (runtime/store/hedged-store.ts). */
  readonly hedge: boolean;
  readonly hedgeMaxRatio: number;
  /** SIMULATION only: a what-if store latency model added below the store client. */
  readonly storeLatency?: LatencyModel;
  /** Hardening (docs/operations.md): keys source, limits, shedding, TLS, shutdown, access log. */
  readonly apiKeys?: string;
  readonly ssmEndpoint?: string;
  readonly defaultRateLimit: number;
  readonly defaultBurst?: number;
  readonly maxInFlight: number;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tlsClientCa?: string;
  readonly shutdownTimeoutMs: number;
  readonly accessLog: boolean;
  /** Which HTTP/1.1 server answers: the lane's own (runtime/http1.ts) or node:http (the fallback). */
  readonly httpServer: "lane" | "node";
  /** Benchmarks only: append per-read stage stamps and GC pauses to this file (runtime/stage-trace.ts). */
  readonly traceStages?: string;
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

/**
 * Keep-alive connections to the store. Above MAX_BATCH_ENTITIES so that a largest batch's GETs go
 * out in one wave: at 64, a 100-entity batch waited for a second round of GETs (≈ one more S3
 * Express first-byte time on the batch's latency) even on an idle host.
 */
export const DEFAULT_STORE_CONNECTIONS = 128;

export function runtimeCommand(): Command {
  return new Command("express-lane-runtime")
    .description("Express Lane reader runtime: signed feature reads over HTTP")
    .addOption(new Option("--host <addr>", "listen address").env("EXPRESS_LANE_HOST").default("127.0.0.1"))
    .addOption(new Option("--port <n>", "listen port").env("EXPRESS_LANE_PORT").default(8080).argParser(int(0, 65535)))
    .addOption(new Option("--signer-socket <path>", "signer Unix socket").env("EXPRESS_LANE_SIGNER_SOCKET").default("/run/express-lane/signer.sock"))
    .addOption(
      new Option("--key-directory <path>", "the admin-signed key directory (fetched at boot; re-read on SIGHUP) sent to the signer on every (re)connect").env(
        "EXPRESS_LANE_KEY_DIRECTORY",
      ),
    )
    .addOption(
      new Option("--registry-document <path>", "an admin-signed registry document (views; re-read on SIGHUP) sent to the signer on every (re)connect").env(
        "EXPRESS_LANE_REGISTRY_DOCUMENT",
      ),
    )
    .addOption(
      new Option("--registry-poll-ms <n>", "poll the store's fleet copy of the registry document (_lane/registry.json); 0 = off")
        .env("EXPRESS_LANE_REGISTRY_POLL_MS")
        .default(30_000)
        .argParser(int(0, 3_600_000)),
    )
    .addOption(
      new Option("--checkpoint-poll-ms <n>", "poll each view's checkpoint log (_lane/checkpoints/) for its sequencer's newest checkpoint; 0 = off (fresh_as_of null)")
        .env("EXPRESS_LANE_CHECKPOINT_POLL_MS")
        .default(250)
        .argParser(int(0, 60_000)),
    )
    .addOption(
      new Option("--lane-keys-file <path>", "production: the lane signing keys (KMS blobs, fetched at boot) the signer unwraps with attestation").env(
        "EXPRESS_LANE_LANE_KEYS_FILE",
      ),
    )
    .addOption(
      new Option(
        "--seal-keys-file <path>",
        "production: wrapped seal keys (s3://<artifacts>/seal-keys/wrapped.json, fetched at boot) sent to the signer with the instance role's credentials",
      ).env("EXPRESS_LANE_SEAL_KEYS_FILE"),
    )
    .addOption(new Option("--store <kind>", "object store").env("EXPRESS_LANE_STORE").choices(["s3", "file", "memory"]).default("s3"))
    .addOption(new Option("--bucket <name>", "bucket (a `--x-s3` name selects S3 Express)").env("EXPRESS_LANE_BUCKET").default("lane"))
    .addOption(new Option("--region <region>", "AWS region").env("EXPRESS_LANE_REGION").default("ap-south-1"))
    .addOption(new Option("--endpoint <url>", "S3 endpoint override (local store, VPC endpoint)").env("EXPRESS_LANE_S3_ENDPOINT"))
    .addOption(new Option("--addressing <mode>", "path | express (default: by bucket name)").env("EXPRESS_LANE_S3_ADDRESSING").choices(["path", "express"]))
    .addOption(new Option("--access-key-id <id>", "static access key (local stores only)").env("EXPRESS_LANE_S3_ACCESS_KEY_ID"))
    .addOption(new Option("--secret-access-key <key>", "static secret key (local stores only)").env("EXPRESS_LANE_S3_SECRET_ACCESS_KEY"))
    .addOption(new Option("--store-dir <dir>", "root folder for --store file").env("EXPRESS_LANE_STORE_DIR"))
    .addOption(new Option("--key-prefix <prefix>", "prefix of every object key").env("EXPRESS_LANE_KEY_PREFIX").default(""))
    .addOption(new Option("--store-timeout-ms <n>", "per-GET deadline").env("EXPRESS_LANE_STORE_TIMEOUT_MS").default(1000).argParser(int(10, 60000)))
    .addOption(
      new Option("--store-connections <n>", "keep-alive connections to the store").env("EXPRESS_LANE_STORE_CONNECTIONS").default(DEFAULT_STORE_CONNECTIONS).argParser(int(1, 4096)),
    )
    .addOption(
      new Option("--store-read-client <client>", "HTTP client of store GETs: lane (bare HTTP/1.1, the default) or undici (the fallback)")
        .env("EXPRESS_LANE_STORE_READ_CLIENT")
        .choices(["lane", "undici"])
        .default("lane"),
    )
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
    )
    .addOption(new Option("--api-keys <source>", "keys document: a file path, ssm:<name> or secretsmanager:<id> (unset = no access control)").env("EXPRESS_LANE_API_KEYS"))
    .addOption(new Option("--ssm-endpoint <url>", "SSM endpoint override for --api-keys ssm:/secretsmanager:").env("EXPRESS_LANE_SSM_ENDPOINT"))
    .addOption(
      new Option("--default-rate-limit <rps>", "per-key limit for keys without their own rateLimit (0 = none)")
        .env("EXPRESS_LANE_DEFAULT_RATE_LIMIT")
        .default(0)
        .argParser(int(0, 10_000_000)),
    )
    .addOption(new Option("--default-burst <n>", "bucket size for --default-rate-limit (default: = rps)").env("EXPRESS_LANE_DEFAULT_BURST").argParser(int(1, 10_000_000)))
    .addOption(new Option("--max-in-flight <n>", "requests worked on at once; beyond it 503 overloaded").env("EXPRESS_LANE_MAX_IN_FLIGHT").default(64).argParser(int(1, 100_000)))
    .addOption(new Option("--tls-cert <file>", "serve HTTPS with this certificate (PEM)").env("EXPRESS_LANE_TLS_CERT"))
    .addOption(new Option("--tls-key <file>", "private key for --tls-cert (PEM)").env("EXPRESS_LANE_TLS_KEY"))
    .addOption(new Option("--tls-client-ca <file>", "require client certificates from this CA (mTLS)").env("EXPRESS_LANE_TLS_CLIENT_CA"))
    .addOption(
      new Option("--shutdown-timeout-ms <n>", "SIGTERM: how long to drain in-flight requests").env("EXPRESS_LANE_SHUTDOWN_TIMEOUT_MS").default(10_000).argParser(int(0, 600_000)),
    )
    .addOption(
      new Option("--loopback-metrics <on|off>", "loopback clients may scrape /metrics without an API key (the host's agents)")
        .env("EXPRESS_LANE_LOOPBACK_METRICS")
        .choices(["on", "off"])
        .default("off"),
    )
    .addOption(
      new Option("--http-server <lane|node>", "the HTTP/1.1 server: the lane's own (less CPU per request) or node:http (the fallback)")
        .env("EXPRESS_LANE_HTTP_SERVER")
        .choices(["lane", "node"])
        .default("lane"),
    )
    .addOption(new Option("--access-log <on|off>", "one log line per request (id, route, status, key id)").env("EXPRESS_LANE_ACCESS_LOG").choices(["on", "off"]).default("on"))
    .addOption(
      new Option("--trace-stages <file>", "benchmarks: append per-read stage timestamps and GC pauses to this JSON-lines file (off in production)").env(
        "EXPRESS_LANE_TRACE_STAGES",
      ),
    );
}

export function parseRuntimeConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  const saved = process.env;
  process.env = env; // commander reads option env vars from process.env
  try {
    const program = runtimeCommand().exitOverride();
    program.parse([...argv], { from: "user" });
    const o = program.opts<
      Omit<RuntimeConfig, "hedge" | "accessLog" | "loopbackMetrics"> & { hedge: "on" | "off" | boolean; accessLog: "on" | "off" | boolean; loopbackMetrics: "on" | "off" }
    >();
    if ((o.store === "file" || o.store === "memory") && !o.storeDir) throw new InvalidArgumentError(`--store ${o.store} needs --store-dir`);
    if ((o.accessKeyId === undefined) !== (o.secretAccessKey === undefined)) {
      throw new InvalidArgumentError("--access-key-id and --secret-access-key go together");
    }
    if (o.laneKeysFile !== undefined && o.keyDirectory === undefined) throw new InvalidArgumentError("--lane-keys-file needs --key-directory");
    if (o.sealKeysFile !== undefined && o.keyDirectory === undefined)
      throw new InvalidArgumentError("--seal-keys-file needs --key-directory (the signer uses only the keys an admin-signed directory lists)");
    if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new InvalidArgumentError("--tls-cert and --tls-key go together");
    if (o.tlsClientCa !== undefined && o.tlsCert === undefined) throw new InvalidArgumentError("--tls-client-ca needs --tls-cert");
    return { ...o, hedge: o.hedge === "on" || o.hedge === true, accessLog: o.accessLog === "on" || o.accessLog === true, loopbackMetrics: o.loopbackMetrics === "on" };
  } finally {
    process.env = saved;
  }
}
