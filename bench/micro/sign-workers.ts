/**
 * Signer-only throughput, 1 signing thread vs `--workers 2` (issue #15 goal 5: ≥ 1.7× on a
 * 2-core machine). The signer runs in a child process (as in the lane), this process drives it
 * over the Unix socket with the runtime's SignerClient, `inFlight` reads outstanding, for `seconds`
 * per round; rounds alternate the order (A B, B A, …) and the medians are compared. The driver's
 * own CPU shares the machine: the ratio is the honest figure, not the absolute rate.
 *
 *   npx tsx bench/micro/sign-workers.ts [rounds=3] [seconds=4] [scenario=10|batch] [inFlight=64]
 *
 * Started from sources it bundles itself (dist/bench-sign-workers.js, dev/build.ts) and runs
 * the bundle: the signer and its workers run as bundled code, as in the enclave (under tsx every
 * cross-module access is a getter call, which distorts a per-read comparison). The child:
 * `node dist/bench-sign-workers.js --child <socket> <workers> <key hex>`; its workers run the same
 * bundle (enclave/sign-worker.ts starts when loaded as a worker).
 */
import { DEFAULT_REGISTRY } from "../../registry/views";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Signer } from "../../enclave/signer";
import { SealKeyring, type SealKey } from "../../enclave/seal";
import { SignerClient } from "../../runtime/signer-client";
import { BENCH_VIEW, benchEntityId, PROJECTED_FEATURES, sizedFeatureObject } from "../targets";
import { percentile } from "../../dev/stats";
import { processCpu } from "../proc-cpu";
import type { SignReadRequest } from "../../wire/frames";
import { isMainThread } from "node:worker_threads";
// The bundle is also the workers' script: loaded in a worker thread, this runs the signing worker.
import "../../enclave/sign-worker";

function sealKey(hex: string): SealKey {
  return { kid: "bench-workers", key: Buffer.from(hex, "hex"), writer: "bench" };
}

async function child(socket: string, workers: number, keyHex: string): Promise<void> {
  const signer = new Signer({ registry: DEFAULT_REGISTRY, keys: { keyring: new SealKeyring([sealKey(keyHex)]) }, workers });
  await signer.listen(socket);
  process.stdout.write("ready\n");
}

function startChild(socket: string, workers: number, keyHex: string): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [__filename, "--child", socket, String(workers), keyHex], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    proc.stdout!.once("data", () => resolve(proc));
    proc.once("exit", (code) => reject(new Error(`signer child exited ${code}`)));
  });
}

/** CPU µs of the signer child: the whole process, and its main thread alone (/proc/<pid>/task/<pid>: the thread that splits frames and routes them). */
function childCpu(pid: number): { total: number; main: number } {
  return { total: processCpu(pid), main: processCpu(pid, pid) };
}

async function drive(
  socket: string,
  requests: (i: number) => SignReadRequest,
  seconds: number,
  inFlight: number,
  pid: number,
): Promise<{ rate: number; cpu: { total: number; main: number } }> {
  const client = new SignerClient({ socketPath: socket, timeoutMs: 30_000, maxInFlight: inFlight * 2 });
  await client.ready(30_000);
  let done = 0;
  let i = 0;
  const until = performance.now() + seconds * 1000;
  const warmUntil = performance.now() + 500;
  let counted = 0;
  let t0 = 0;
  let cpu0 = { total: 0, main: 0 };
  const loop = async (): Promise<void> => {
    while (performance.now() < until) {
      await client.signRead(requests(i++));
      done++;
      if (performance.now() >= warmUntil) {
        if (t0 === 0) {
          t0 = performance.now();
          cpu0 = childCpu(pid);
        }
        counted++;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  client.close();
  void done;
  const cpu1 = childCpu(pid);
  return { rate: counted / ((performance.now() - t0) / 1000), cpu: { total: (cpu1.total - cpu0.total) / counted, main: (cpu1.main - cpu0.main) / counted } };
}

async function main(): Promise<void> {
  const [rounds = 3, seconds = 4] = process.argv.slice(2, 4).map(Number);
  const scenario = process.argv[4] ?? "10";
  const inFlight = Number(process.argv[5] ?? (scenario === "batch" ? 4 : 64));
  const keyHex = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7 + 1)).toString("hex");
  const seals = new SealKeyring([sealKey(keyHex)]);
  const now = Date.now();
  const objects = Array.from({ length: 200 }, (_, i) => seals.seal(sizedFeatureObject(i, 4096, now)));
  const projection = `?features=${PROJECTED_FEATURES.join(",")}`;
  const batchBody = Buffer.from(JSON.stringify({ entities: objects.slice(0, 100).map((_, i) => benchEntityId(i)), features: PROJECTED_FEATURES }));
  const requests =
    scenario === "batch"
      ? () => ({ method: "POST", path: `/v1/features/${BENCH_VIEW}/batch`, query: "", contentType: "application/json", body: batchBody, objects: objects.slice(0, 100) })
      : (i: number) => ({ method: "GET", path: `/v1/features/${BENCH_VIEW}/${benchEntityId(i % 200)}`, query: projection, objects: [objects[i % 200]] });
  const dir = mkdtempSync(join(tmpdir(), "sign-workers-bench-"));
  const rates: Record<"1" | "2", number[]> = { "1": [], "2": [] };
  const mainCpu: Record<"1" | "2", number[]> = { "1": [], "2": [] };
  const totalCpu: Record<"1" | "2", number[]> = { "1": [], "2": [] };
  process.stderr.write(
    `machine: ${cpus().length} × ${cpus()[0]?.model}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}; scenario ${scenario}, ${inFlight} in flight, ${rounds} rounds × ${seconds} s\n`,
  );
  try {
    for (let r = 0; r < rounds; r++) {
      const order: Array<"1" | "2"> = r % 2 === 0 ? ["1", "2"] : ["2", "1"];
      for (const w of order) {
        const socket = join(dir, `s${r}-${w}.sock`);
        const proc = await startChild(socket, Number(w), keyHex);
        try {
          const { rate, cpu } = await drive(socket, requests, seconds, inFlight, proc.pid!);
          rates[w].push(rate);
          mainCpu[w].push(cpu.main);
          totalCpu[w].push(cpu.total);
          process.stderr.write(
            `round ${r + 1}: ${w === "1" ? "1 thread " : "2 workers"} ${rate.toFixed(0)} signs/s; signer CPU per read ${cpu.total.toFixed(0)} µs, of it main thread ${cpu.main.toFixed(0)} µs\n`,
          );
        } finally {
          proc.kill("SIGKILL");
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const m1 = percentile(rates["1"], 50);
  const m2 = percentile(rates["2"], 50);
  const ratios = rates["2"].map((v, i) => v / rates["1"][i]);
  process.stdout.write(
    `${JSON.stringify({ scenario, inFlight, rounds, seconds, oneThread: rates["1"].map(Math.round), twoWorkers: rates["2"].map(Math.round), medianOne: Math.round(m1), medianTwo: Math.round(m2), ratioOfMedians: +(m2 / m1).toFixed(2), ratiosPerRound: ratios.map((x) => +x.toFixed(2)), cpuPerReadUs: { oneThread: Math.round(percentile(totalCpu["1"], 50)), twoWorkers: Math.round(percentile(totalCpu["2"], 50)), twoWorkersMainThread: Math.round(percentile(mainCpu["2"], 50)) }, loadavg: loadavg() })}\n`,
  );
}

/** From sources: bundle, then run the bundle with the same arguments. */
async function viaBundle(): Promise<number> {
  // Not a static import: the bundle must not carry the bundler.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { buildBundles } = require(join(__dirname, "../../dev/build")) as { buildBundles(names: readonly string[]): Promise<string[]> };
  const [bundle] = await buildBundles(["bench-sign-workers"]);
  const proc = spawn(process.execPath, [bundle, ...process.argv.slice(2)], { stdio: "inherit" });
  return new Promise((resolve) => proc.once("exit", (code) => resolve(code ?? 1)));
}

if (!isMainThread) {
  // a signing worker (the import above runs it)
} else if (__filename.endsWith(".ts")) {
  viaBundle().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
} else if (process.argv[2] === "--child") {
  child(process.argv[3], Number(process.argv[4]), process.argv[5]).catch((err) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  });
} else {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
