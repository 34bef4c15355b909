/** The benchmark's options and command line (`npm run bench -- --help`). (Split out of bench/main.ts by job, issue #17.) */
import { cpus } from "node:os";
import { resolve } from "node:path";
import { Command, Option } from "commander";
import { autoPacing, type Pacing } from "../dev/load";

export interface BenchOptions {
  url?: string;
  store: "file" | "s3" | "memory";
  suite: "default" | "hedging" | "all";
  duration: number;
  warmup: number;
  concurrency: number;
  batchConcurrency: number;
  batchSize: number;
  entities: number;
  size: number;
  verifyShare: number;
  halfRate?: number;
  pacing: "auto" | Pacing;
  hedgeModel: string;
  hedgeRate: number;
  hedgeMaxRatio: number;
  wrk: boolean;
  /** undefined: pin only with ≥ 4 CPUs (see pinLane). */
  pin?: boolean;
  out: string;
  jsonOut?: string;
  directBucket?: string;
  directRegion: string;
  directEndpoint?: string;
  directDir?: string;
  progress: boolean;
  /** Stage tracing in the local lane (runtime --trace-stages + signer trailers). @default true */
  traceStages: boolean;
  /** Signing threads in the local lane's signer (--workers). @default 1 */
  signerWorkers: number;
  /** Set by runBench when tracing: the runtime's trace file. */
  traceFile?: string;
}

export function root(): string {
  // dist/bench.js → repo root is one up; bench/main.ts (tsx) → also one up.
  return resolve(__dirname, "..");
}

export function program(): Command {
  const num = (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`not a number: ${v}`);
    return n;
  };
  return new Command("express-lane-bench")
    .description("Express Lane benchmark: direct store GET vs signed lane reads; table + JSON + HTML")
    .addOption(new Option("--url <url>", "benchmark a running lane instead of starting one locally"))
    .addOption(
      new Option(
        "--store <kind>",
        "local lane store: file (a folder, read per request), memory (that folder preloaded into the runtime: the store is not the bottleneck) or s3 (s3rver twin)",
      )
        .choices(["file", "memory", "s3"])
        .default("file"),
    )
    .addOption(new Option("--suite <name>", "default | hedging (SIMULATION what-if) | all").choices(["default", "hedging", "all"]).default("default"))
    .addOption(new Option("--duration <s>", "measured seconds per scenario").argParser(num).default(5))
    .addOption(new Option("--warmup <s>", "warm-up seconds per scenario").argParser(num).default(1))
    .addOption(new Option("-c, --concurrency <n>", "closed-loop concurrency (connections)").argParser(num).default(32))
    .addOption(new Option("--batch-concurrency <n>", "closed-loop concurrency for batch reads (1: the latency goal, unqueued on one signer core)").argParser(num).default(1))
    .addOption(new Option("--batch-size <n>", "entities per batch read").argParser(num).default(100))
    .addOption(new Option("--entities <n>", "distinct entities (objects) read").argParser(num).default(2000))
    .addOption(new Option("--size <bytes>", "object size").argParser(num).default(4096))
    .addOption(new Option("--verify-share <0..1>", "share of lane answers whose signature is verified").argParser(num).default(0.02))
    .addOption(new Option("--half-rate <n>", "open-loop rate for the added-latency run (default: half the measured max)").argParser(num))
    .addOption(
      new Option("--pacing <mode>", "open-loop pacing: spin (setImmediate below 2 ms; takes a core) or timer (never spins); auto = spin with ≥ 4 CPUs")
        .choices(["auto", "spin", "timer"])
        .default("auto"),
    )
    .addOption(new Option("--hedge-model <model>", "SIMULATION store latency for the hedging suite").default("lognormal:p50=2ms,p99=20ms"))
    .addOption(new Option("--hedge-rate <n>", "open-loop rate for the hedging suite").argParser(num).default(1000))
    .addOption(new Option("--hedge-max-ratio <0..1>", "hedge cap for the hedging suite").argParser(num).default(0.05))
    .addOption(new Option("--no-wrk", "skip the wrk throughput run even if wrk is installed"))
    .addOption(new Option("--pin", "pin the runtime to CPU 0 and the signer to CPU 1 (default: only with ≥ 4 CPUs)"))
    .addOption(new Option("--no-pin", "never pin lane processes to CPUs"))
    .addOption(new Option("--out <dir>", "results folder").default("bench-results"))
    .addOption(new Option("--json-out <file>", "write the JSON result exactly here (remote runs)"))
    .addOption(new Option("--direct-bucket <name>", "remote mode: bucket for the direct-GET baseline (`--x-s3` = S3 Express)"))
    .addOption(new Option("--direct-region <region>").default(process.env.AWS_REGION ?? "ap-south-1"))
    .addOption(new Option("--direct-endpoint <url>", "remote mode: store endpoint override"))
    .addOption(new Option("--direct-dir <dir>", "remote mode: FileStore folder for the direct baseline"))
    .addOption(new Option("--no-progress", "no progress bar"))
    .addOption(new Option("--signer-workers <n>", "local lane: the signer's signing threads (--workers; 1 = its main thread)").argParser(num).default(1))
    .addOption(new Option("--no-trace-stages", "local lane without stage tracing (no tail breakdown; the runtime's read path then takes its untraced branch)"));
}

export function pacingOf(opts: Pick<BenchOptions, "pacing">): Pacing {
  return opts.pacing === "auto" ? autoPacing(cpus().length) : opts.pacing;
}
