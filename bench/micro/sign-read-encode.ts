/**
 * SignRead frame encoding, msgpackr's generic pack (wire/frames.ts encodeFrame) against the
 * field-by-field writer (writeSignReadFrame) into a reused slab, as runtime/frame-slab.ts uses it
 * (docs/performance.md "Session 7: runtime read path"). Per frame: a 10-feature single read of a
 * sealed demo object with its entity-map proof (what the runtime sends per read) and a 100-entity
 * batch (≈ 460 KB). Rounds interleave the variants, order alternating; medians of CPU µs per frame.
 *
 *   npx tsx bench/micro/sign-read-encode.ts [rounds=7]
 */
import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import { DEMO_VIEW, demoEntityId, demoObject } from "../../dev/demo-data";
import { generateSealKey, SealKeyring } from "../../enclave/seal";
import { encodeFrame, FrameKind, signReadFrameBound, writeSignReadFrame, type SignReadRequest } from "../../wire/frames";
import { percentile } from "../../dev/stats";
import { DEMO_TEN } from "../cpu-ab";

const now = Date.now();
const seals = new SealKeyring([{ ...generateSealKey("frames"), writer: "bench" }]);
const proof = () => ({ seq: 1234, siblings: randomBytes(11 * 32), leaf_key: randomBytes(32), leaf_value: randomBytes(40) });
const single: SignReadRequest = {
  method: "GET",
  path: `/v1/features/${DEMO_VIEW}/${demoEntityId(7)}`,
  query: `?features=${DEMO_TEN.join(",")}`,
  accept: undefined,
  acceptSignature: undefined,
  contentType: undefined,
  body: undefined,
  objects: [seals.seal(demoObject(7, now))],
  proofs: [proof()],
};
const batchObjects = Array.from({ length: 100 }, (_, i) => seals.seal(demoObject(i, now)));
const batch: SignReadRequest = {
  method: "POST",
  path: `/v1/features/${DEMO_VIEW}/batch`,
  query: "",
  contentType: "application/json",
  body: Buffer.from(JSON.stringify({ entities: batchObjects.map((_, i) => demoEntityId(i)), features: DEMO_TEN })),
  objects: batchObjects,
  proofs: batchObjects.map(proof),
};

const slab = Buffer.allocUnsafeSlow(4 << 20);
let at = 0;
function writeIntoSlab(id: number, request: SignReadRequest): number {
  const bound = signReadFrameBound(request);
  if (at + bound > slab.length) at = 0;
  const end = writeSignReadFrame(slab, at, id, request);
  const n = end - at;
  at = end;
  return n;
}
const variants = {
  msgpackr: (id: number, r: SignReadRequest) => encodeFrame(id, FrameKind.SignRead, r).length,
  "field writer": writeIntoSlab,
};

const rounds = Number(process.argv[2] ?? 7);
const samples = new Map<string, number[]>();
const cases = { "10-feature read + proof": single, "batch 100 + proofs": batch };
for (let r = 0; r < rounds; r++) {
  for (const [name, request] of Object.entries(cases)) {
    const n = name.startsWith("batch") ? 400 : 40_000;
    const order = r % 2 ? (["field writer", "msgpackr"] as const) : (["msgpackr", "field writer"] as const);
    for (const v of order) {
      const encode = variants[v];
      for (let i = 0; i < n / 10; i++) encode(i, request);
      const t0 = process.cpuUsage();
      for (let i = 0; i < n; i++) encode(i, request);
      const t = process.cpuUsage(t0);
      const key = `${name}|${v}`;
      samples.set(key, [...(samples.get(key) ?? []), (t.user + t.system) / n]);
    }
  }
}
process.stdout.write(`SignRead encoding, ${rounds} interleaved rounds, CPU µs per frame (median), load average ${loadavg()[0].toFixed(2)}\n`);
for (const name of Object.keys(cases)) {
  const a = percentile(samples.get(`${name}|msgpackr`)!, 50);
  const b = percentile(samples.get(`${name}|field writer`)!, 50);
  process.stdout.write(`${name.padEnd(26)} msgpackr ${a.toFixed(2).padStart(8)}   field writer ${b.toFixed(2).padStart(8)}   ${(b / a).toFixed(2)}×\n`);
}
