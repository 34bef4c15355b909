/**
 * What the remembered digest match (VerifiedLookups.isLeafObject, enclave/checkpoint-state.ts)
 * saves per served object: SHA-256 of the sealed bytes every time (what a proven read did before)
 * against the seal-keyed memo, side by side in one process, rounds interleaved, median CPU µs per
 * object over the 100 objects of a demo batch (≈ 4 KB each). A batch of 100 saves 100 × the gap.
 *
 *   npx tsx bench/micro/served-digest.ts [rounds] [iterations]
 */
import { hash } from "node:crypto";
import { generateSealKey, SealKeyring } from "../../enclave/seal";
import { VerifiedLookups, type ServedObject } from "../../enclave/checkpoint-state";
import { DEMO_VIEW, demoEntityId, demoObject } from "../../dev/demo-data";

const ROUNDS = Number(process.argv[2] ?? 9);
const ITER = Number(process.argv[3] ?? 200);
const now = Date.now();
const seals = new SealKeyring([{ ...generateSealKey("bench"), writer: "loader", use: "write" as const }]);
const served: ServedObject[] = Array.from({ length: 100 }, (_, i) => {
  const object = demoObject(i, now);
  const bytes = seals.seal(object);
  const opened = seals.open(bytes, DEMO_VIEW, demoEntityId(i), null, now);
  if (!opened.ok) throw new Error(opened.code);
  return { eventTimeMs: object.event_time, writtenTimeMs: object.written_time, bytes, seal: opened.seal };
});
const digests = served.map((s) => hash("sha256", s.bytes, "buffer") as Buffer);
const meanBytes = served.reduce((n, s) => n + s.bytes.length, 0) / served.length;
const remembered = new VerifiedLookups();
const rehashing = new VerifiedLookups(0); // keeps nothing: hashes every object, as before the memo
for (let i = 0; i < served.length; i++)
  if (!remembered.isLeafObject(digests[i]!, served[i]!) || !rehashing.isLeafObject(digests[i]!, served[i]!)) throw new Error("digest mismatch");

const scenarios: Array<[string, VerifiedLookups]> = [
  ["hash every served object", rehashing],
  ["seal-keyed memo (matched before)", remembered],
];
const samples = new Map<string, number[]>(scenarios.map(([n]) => [n, []]));
let sink = 0;
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? scenarios : [...scenarios].reverse();
  for (const [name, lookups] of order) {
    const t0 = process.cpuUsage();
    for (let k = 0; k < ITER; k++) for (let i = 0; i < served.length; i++) if (lookups.isLeafObject(digests[i]!, served[i]!)) sink++;
    const t = process.cpuUsage(t0);
    samples.get(name)!.push((t.user + t.system) / (ITER * served.length));
  }
}
if (sink !== ROUNDS * 2 * ITER * served.length) throw new Error("a check failed");
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
process.stdout.write(
  `served-digest — node ${process.version}, ${served.length} objects of ${meanBytes.toFixed(0)} B, ${ITER} × ${ROUNDS} interleaved rounds, CPU µs per object (median)\n`,
);
const [a, b] = scenarios.map(([n]) => median(samples.get(n)!));
for (const [name] of scenarios) process.stdout.write(`${name.padEnd(36)} ${median(samples.get(name)!).toFixed(2).padStart(7)} µs\n`);
process.stdout.write(`ratio memo / hash: ${(b! / a!).toFixed(2)}×; per 100-object batch: ${((a! - b!) * 100).toFixed(0)} µs saved\n`);
