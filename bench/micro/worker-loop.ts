/**
 * Is a signing worker's isolate itself dearer than the main thread (goal 5)? The same signRead
 * loop (10-feature demo reads, no sockets, no messages) on the main thread and in one worker
 * thread, process CPU per read, runs alternating; `shared` uses the shared high-water table the
 * workers use. Under tsx both sides pay the same module getters, so the ratio stands.
 *
 *   npx tsx bench/micro/worker-loop.ts [rounds=2] [shared]
 */
import { loadavg } from "node:os";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { DEMO_VIEW, demoEntityId, demoObject } from "../../dev/demo-data";
import { generateSealKey, SealKeyring } from "../../enclave/seal";
import { SharedHighWaterMarks } from "../../enclave/shared-high-water";
import { Signer } from "../../enclave/signer";
import { DEFAULT_REGISTRY } from "../../registry/views";
import { DEMO_TEN } from "../cpu-ab";

function loop(shared: boolean): number {
  const now = Date.now();
  const seals = new SealKeyring([{ ...generateSealKey("loop"), writer: "bench" }]);
  const signer = new Signer({ registry: DEFAULT_REGISTRY, keys: { keyring: seals }, now: () => now, ...(shared ? { highWater: new SharedHighWaterMarks(100_000) } : {}) });
  const objects = Array.from({ length: 200 }, (_, i) => seals.seal(demoObject(i, now)));
  const query = `?features=${DEMO_TEN.join(",")}`;
  const run = (i: number) => signer.signRead({ method: "GET", path: `/v1/features/${DEMO_VIEW}/${demoEntityId(i % 200)}`, query, objects: [objects[i % 200]] });
  for (let i = 0; i < 3000; i++) run(i);
  const t0 = process.cpuUsage();
  const n = 6000;
  for (let i = 0; i < n; i++) run(i);
  const t = process.cpuUsage(t0);
  return (t.user + t.system) / n;
}

function inWorker(shared: boolean): Promise<number> {
  const w = new Worker(__filename, { workerData: { shared }, execArgv: ["--require", require.resolve("tsx/cjs")] });
  return new Promise((resolve, reject) => {
    w.once("message", (us: number) => void w.terminate().then(() => resolve(us)));
    w.once("error", reject);
  });
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 2);
  const shared = process.argv[3] === "shared";
  const rows: string[] = [];
  for (let r = 0; r < rounds; r++) {
    const sides = r % 2 ? (["worker", "main"] as const) : (["main", "worker"] as const);
    for (const side of sides) rows.push(`${side} ${(side === "main" ? loop(shared) : await inWorker(shared)).toFixed(1)} µs`);
  }
  process.stdout.write(
    `signRead loop, process CPU per 10-feature read (${shared ? "shared" : "plain"} high-water table), load average ${loadavg()[0].toFixed(2)}: ${rows.join(", ")}\n`,
  );
}

if (!isMainThread) parentPort!.postMessage(loop((workerData as { shared: boolean }).shared));
else
  main().catch((err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  });
