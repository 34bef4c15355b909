/**
 * Memory and CPU of the signer's per-entity high-water marks (enclave/high-water.ts, P2): heap per
 * tracked entity at 1 M entities, and ns per admit() for a hit and a miss. Run:
 *
 *   node --expose-gc -r tsx/cjs bench/micro/high-water.ts [entities]
 *
 * Quoted in docs/trust.md (what P2 costs) and docs/performance.md.
 */
import { HighWaterMarks } from "../../enclave/high-water";

const N = Number(process.argv[2] ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");

function heap(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

const ids = Array.from({ length: N }, (_, i) => `user_${String(i).padStart(9, "0")}`);
const before = heap();
const marks = new HighWaterMarks(N + 1);
let t = process.hrtime.bigint();
for (let i = 0; i < N; i++) marks.admit("user_profile", ids[i]!, 1_800_000_000_000 + i);
const insertNs = Number(process.hrtime.bigint() - t) / N;
const after = heap();
t = process.hrtime.bigint();
for (let i = 0; i < N; i++) marks.admit("user_profile", ids[i]!, 1_800_000_000_000 + i);
const hitNs = Number(process.hrtime.bigint() - t) / N;
console.log(`high-water marks — node ${process.version}, ${N.toLocaleString("en")} entities`);
const used = Math.max(after - before, 0) + (process.memoryUsage().arrayBuffers > 0 ? marks.bytes : 0);
console.log(
  `memory: ${(used / 1024 / 1024).toFixed(1)} MiB in all (typed arrays ${(marks.bytes / 1024 / 1024).toFixed(1)} MiB, off the JS heap), ${(used / N).toFixed(1)} bytes per entity`,
);
console.log(`admit: ${insertNs.toFixed(0)} ns for a new entity, ${hitNs.toFixed(0)} ns for a tracked one`);
