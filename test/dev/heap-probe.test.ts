/**
 * The soak's leak instrument (dev/lane/heap-probe.cjs): after a full GC it reports what is retained,
 * so a process that only makes garbage reads flat while one that keeps what it allocates reads growth —
 * the distinction RSS sampling could not make (scripts/soak.ts).
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";

const PROBE = resolve(__dirname, "../../dev/lane/heap-probe.cjs");

/** A node child allocating 256 KiB every 5 ms, keeping it (`retain`) or dropping it. */
function allocator(retain: boolean) {
  const script = `const kept = []; setInterval(() => { const a = new Array(32768).fill(0).map((_, i) => ({ i })); if (${retain}) kept.push(a); }, 5);`;
  const child = spawn(process.execPath, ["--expose-gc", "--require", PROBE, "-e", script], { stdio: ["ignore", "ignore", "pipe"] });
  const waiting: Array<(heapUsed: number) => void> = [];
  createInterface({ input: child.stderr }).on("line", (line) => {
    if (line.startsWith("heap_probe ")) waiting.shift()?.((JSON.parse(line.slice(11)) as { heapUsed: number }).heapUsed);
  });
  return {
    liveHeap: () =>
      new Promise<number>((r) => {
        waiting.push(r);
        child.kill("SIGUSR2");
      }),
    stop: () => child.kill("SIGKILL"),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function growth(retain: boolean): Promise<number> {
  const p = allocator(retain);
  try {
    await sleep(500);
    const first = await p.liveHeap();
    await sleep(1500);
    const last = await p.liveHeap();
    return (last - first) / first;
  } finally {
    p.stop();
  }
}

it("reads a process that only makes garbage as flat", async () => {
  expect(await growth(false)).toBeLessThan(0.1);
}, 20_000);

it("reads a process that keeps what it allocates as growing", async () => {
  expect(await growth(true)).toBeGreaterThan(0.5);
}, 20_000);
