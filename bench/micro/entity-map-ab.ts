/**
 * The entity map's slot pool (wire/entity-map.ts) against the object tree it replaced
 * (test/helpers/entity-map-reference.ts), in one process: memory per entity after a full GC,
 * insert / update / wire-proof cost per entity, same keys, sides alternating per round (medians).
 * Memory is measured in a fresh child process per side and round (nothing else on its heap).
 *
 *   node --expose-gc -r tsx/cjs bench/micro/entity-map-ab.ts [entities=200000] [rounds=3]
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { loadavg } from "node:os";
import { EntityMap, entityMapKey } from "../../wire/entity-map";
import { toWireProof } from "../../wire/checkpoint";
import { ReferenceEntityMap } from "../../test/helpers/entity-map-reference";

const memoryOf = process.argv[2] === "--memory" ? (process.argv[3] as Side) : undefined;
const N = Number(process.argv[memoryOf ? 4 : 2] ?? 200_000);
const ROUNDS = Number(process.argv[3] ?? 3);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const used = (): number => {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const keys = Array.from({ length: N }, (_, i) => entityMapKey("user_profile", `user_${i}`));
const value = (i: number, v = 0): Buffer => Buffer.concat([Buffer.alloc(8), createHash("sha256").update(`object ${i} v${v}`).digest()]);
const values = Array.from({ length: N }, (_, i) => value(i));
const updates = Array.from({ length: Math.min(N, 50_000) }, (_, i) => value(i, 1));

type Side = "object tree (s6)" | "slot pool";
const make = (side: Side) => (side === "slot pool" ? new EntityMap() : new ReferenceEntityMap());
if (memoryOf) {
  const before = used();
  const map = make(memoryOf);
  for (let i = 0; i < N; i++) map.set(keys[i]!, values[i]!);
  const after = used();
  // Read the map after measuring: otherwise it is dead at the GC and collected before it is counted.
  if (map.size !== N) throw new Error("map lost entities");
  process.stdout.write(String((after - before) / N));
  process.exit(0);
}
const results = new Map<Side, { bytes: number[]; insert: number[]; update: number[]; prove: number[] }>();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
for (let r = 0; r < ROUNDS; r++) {
  const sides: Side[] = r % 2 ? ["slot pool", "object tree (s6)"] : ["object tree (s6)", "slot pool"];
  for (const side of sides) {
    const child = spawnSync(process.execPath, [...process.execArgv, __filename, "--memory", side, String(N)], { encoding: "utf8" });
    if (child.status !== 0) throw new Error(`memory child failed: ${child.stderr}`);
    const bytes = Number(child.stdout);
    const map = make(side);
    let t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) map.set(keys[i]!, values[i]!);
    const insert = Number(process.hrtime.bigint() - t) / N;
    t = process.hrtime.bigint();
    for (let i = 0; i < updates.length; i++) map.set(keys[i]!, updates[i]!);
    const update = Number(process.hrtime.bigint() - t) / updates.length;
    t = process.hrtime.bigint();
    // What the host does per entity served: the proof in its wire shape (runtime/checkpoint-follower.ts).
    for (let j = 0; j < 20_000; j++) toWireProof(7, map instanceof EntityMap ? map.provePacked(keys[(j * 104729) % N]!) : map.prove(keys[(j * 104729) % N]!));
    const prove = Number(process.hrtime.bigint() - t) / 20_000;
    const s = results.get(side) ?? { bytes: [], insert: [], update: [], prove: [] };
    s.bytes.push(bytes);
    s.insert.push(insert);
    s.update.push(update);
    s.prove.push(prove);
    results.set(side, s);
  }
}
process.stdout.write(
  `entity map A/B — node ${process.version}, ${N.toLocaleString("en")} entities, ${ROUNDS} rounds alternating, medians, load average ${loadavg()[0]!.toFixed(2)}\n`,
);
for (const [side, s] of results) {
  process.stdout.write(
    `${side.padEnd(18)} ${median(s.bytes).toFixed(0).padStart(5)} B per entity   insert ${(median(s.insert) / 1000).toFixed(1)} µs   update ${(median(s.update) / 1000).toFixed(1)} µs   wire proof ${(median(s.prove) / 1000).toFixed(2)} µs\n`,
  );
}
