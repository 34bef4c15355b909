/**
 * What the authenticated entity map (wire/entity-map.ts, #16) costs: host memory per million
 * entities, update cost for a writer, proof depth, and the enclave's proof check per read and per
 * 100-entity batch. Run:
 *
 *   node --expose-gc -r tsx/cjs bench/micro/entity-map.ts [entities]
 */
import { createHash } from "node:crypto";
import { EntityMap, entityMapKey, verifyEntityMapProof } from "../../wire/entity-map";

const N = Number(process.argv[2] ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const heap = (): number => {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
};

const keys = Array.from({ length: N }, (_, i) => entityMapKey("user_profile", `user_${i}`));
const value = (i: number, v = 0): Buffer => Buffer.concat([Buffer.alloc(8), createHash("sha256").update(`object ${i} v${v}`).digest()]);
const values = Array.from({ length: N }, (_, i) => value(i));
const before = heap();
const map = new EntityMap();
let t = process.hrtime.bigint();
for (let i = 0; i < N; i++) map.set(keys[i]!, values[i]!);
const insertNs = Number(process.hrtime.bigint() - t) / N;
const after = heap();

const M = Math.min(N, 100_000);
t = process.hrtime.bigint();
for (let i = 0; i < M; i++) map.set(keys[i]!, value(i, 1));
const updateNs = Number(process.hrtime.bigint() - t) / M;

const root = map.rootHash();
const proofs = Array.from({ length: 10_000 }, (_, j) => map.prove(keys[(j * 7919) % N]!));
const depths = proofs.map((p) => p.siblings.length).sort((a, b) => a - b);
t = process.hrtime.bigint();
for (let j = 0; j < proofs.length; j++) {
  const r = verifyEntityMapProof(root, keys[(j * 7919) % N]!, proofs[j]!);
  if (!r.ok) throw new Error("proof failed");
}
const verifyNs = Number(process.hrtime.bigint() - t) / proofs.length;
t = process.hrtime.bigint();
for (let j = 0; j < 10_000; j++) map.prove(keys[(j * 104729) % N]!);
const proveNs = Number(process.hrtime.bigint() - t) / 10_000;

console.log(`entity map — node ${process.version}, ${N.toLocaleString("en")} entities`);
console.log(`memory: ${((after - before) / 1024 / 1024).toFixed(0)} MiB (${((after - before) / N).toFixed(0)} bytes per entity, keys and values included)`);
console.log(`writer: ${(insertNs / 1000).toFixed(1)} µs per new entity, ${(updateNs / 1000).toFixed(1)} µs per update; host: ${(proveNs / 1000).toFixed(1)} µs per proof`);
console.log(`proof depth: p50 ${depths[depths.length >> 1]}, max ${depths[depths.length - 1]} (${depths[depths.length >> 1]! * 32} bytes of siblings at p50)`);
console.log(`enclave check: ${(verifyNs / 1000).toFixed(1)} µs per entity, ${((verifyNs * 100) / 1000).toFixed(0)} µs per 100-entity batch`);
