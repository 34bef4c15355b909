/**
 * What one message between the signer's main thread and a signing worker costs (issue #15 goal 5;
 * enclave/sign-workers.ts posts one message per worker per socket read, and the worker one back):
 * a worker posts `messages` replies of `bytes` bytes to the main thread, which answers each with a
 * small message of the same shape the pool sends (so both sides block, wake and post, as in the
 * signer). Thread CPU from /proc/thread-self/stat on each side, per round trip. Variants:
 * `transfer` (a fresh ArrayBuffer each message, transferred: the pool today), `clone` (the bytes
 * structured-cloned), `reuse` (the same Uint8Array cloned each time: no allocation on the sender).
 *
 *   npx tsx bench/micro/worker-post.ts [rounds=3] [messages=20000] [bytes=6000]
 *   npx tsx bench/micro/worker-post.ts copy [bytes=430000] [count=2000]
 *
 * `copy`: what the pool's copy of a frame into a fresh ArrayBuffer costs the main thread (the copy
 * a batch-sized frame no longer takes: FrameDecoder's `exclusive` frames are transferred whole).
 */
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { cpuMicros } from "../proc-cpu";

type Variant = "transfer" | "clone" | "reuse";
const VARIANTS: readonly Variant[] = ["transfer", "clone", "reuse"];
const threadCpu = (): number => cpuMicros(readFileSync("/proc/thread-self/stat", "utf8"));

interface Job {
  readonly variant: Variant;
  readonly messages: number;
  readonly bytes: number;
}

function workerSide(port: NonNullable<typeof parentPort>, job: Job): void {
  const reused = new Uint8Array(job.bytes);
  let sent = 0;
  let cpu0 = 0;
  const post = (): void => {
    if (job.variant === "transfer") {
      const ab = new ArrayBuffer(job.bytes);
      port.postMessage({ type: "reply", seq: sent, frames: ab }, [ab]);
    } else if (job.variant === "clone") port.postMessage({ type: "reply", seq: sent, frames: new Uint8Array(job.bytes) });
    else port.postMessage({ type: "reply", seq: sent, frames: reused });
    sent++;
  };
  port.on("message", (m: { type: string }) => {
    if (m.type === "start") cpu0 = threadCpu();
    if (sent === job.messages) return port.postMessage({ type: "done", cpu: threadCpu() - cpu0 });
    post();
  });
}

async function round(variant: Variant, messages: number, bytes: number): Promise<{ main: number; worker: number }> {
  const worker = new Worker(__filename, { workerData: { variant, messages, bytes } satisfies Job, execArgv: ["--require", require.resolve("tsx/cjs")] });
  await new Promise((r) => worker.once("online", r));
  const cpu0 = threadCpu();
  const result = await new Promise<number>((resolve) => {
    let seq = 0;
    worker.on("message", (m: { type: string; cpu?: number }) => {
      if (m.type === "done") return resolve(m.cpu!);
      // What the pool posts for a batch: ids, ends and a small transferred payload buffer.
      const payloads = new ArrayBuffer(64);
      worker.postMessage({ type: "sign", seq: ++seq, ids: [seq], ends: [64], payloads, receivedAt: 0 }, [payloads]);
    });
    worker.postMessage({ type: "start" });
  });
  const main = threadCpu() - cpu0;
  await worker.terminate();
  return { main: main / messages, worker: result / messages };
}

function copyCost(bytes: number, count: number): void {
  const payload = Buffer.alloc(bytes, 7);
  const once = (): void => {
    const ab = new ArrayBuffer(bytes);
    new Uint8Array(ab).set(payload);
  };
  for (let i = 0; i < 200; i++) once();
  for (let r = 0; r < 3; r++) {
    const cpu0 = threadCpu();
    const t0 = performance.now();
    for (let i = 0; i < count; i++) once();
    process.stdout.write(
      `copy of ${bytes} B into a fresh ArrayBuffer: ${((threadCpu() - cpu0) / count).toFixed(1)} µs CPU, ${((1000 * (performance.now() - t0)) / count).toFixed(1)} µs wall each (load ${loadavg()[0].toFixed(2)})\n`,
    );
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === "copy") return copyCost(Number(process.argv[3] ?? 430_000), Number(process.argv[4] ?? 2000));
  const [rounds = 3, messages = 20_000, bytes = 6000] = process.argv.slice(2).map(Number);
  process.stdout.write(
    `worker-post: ${messages} round trips of ${bytes} B per run, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}\n`,
  );
  const per: Record<Variant, { main: number[]; worker: number[] }> = { transfer: { main: [], worker: [] }, clone: { main: [], worker: [] }, reuse: { main: [], worker: [] } };
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
    for (const v of order) {
      const x = await round(v, messages, bytes);
      per[v].main.push(x.main);
      per[v].worker.push(x.worker);
      process.stdout.write(`round ${r + 1} ${v.padEnd(8)} main ${x.main.toFixed(1)} µs, worker ${x.worker.toFixed(1)} µs per round trip\n`);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const v of VARIANTS) process.stdout.write(`${v}: median main ${med(per[v].main).toFixed(1)} µs, worker ${med(per[v].worker).toFixed(1)} µs\n`);
  process.stdout.write(
    `load average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}\n`,
  );
}

if (!isMainThread) workerSide(parentPort!, workerData as Job);
else
  main().catch((err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  });
