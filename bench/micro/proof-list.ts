/**
 * A SignRead's proofs as one proof list (wire/checkpoint.ts encodeProofList / decodeProofList)
 * against the MessagePack maps they were before (session 6): encoding the runtime's 100-entity
 * batch frame and decoding it in the signer, with and without proofs, side by side in one process,
 * rounds interleaved (order alternating), medians of CPU µs per frame. The map of 2,000 entities
 * gives proofs of ≈ 12 siblings, like the demo lane's.
 *
 *   npx tsx bench/micro/proof-list.ts [rounds=7]
 */
import { loadavg } from "node:os";
import { Packr } from "msgpackr";
import { DEMO_VIEW, demoEntityId, demoObject } from "../../dev/demo-data";
import { generateSealKey, SealKeyring } from "../../enclave/seal";
import { entityMapValue, toWireProof, type WireProof } from "../../wire/checkpoint";
import { EntityMap, entityMapKey } from "../../wire/entity-map";
import { decodeSignRead, encodeFrame, FRAME_HEADER_BYTES, FrameKind } from "../../wire/frames";
import { percentile } from "../../dev/stats";

const now = Date.now();
const seals = new SealKeyring([{ ...generateSealKey("proofs"), writer: "bench" }]);
const objects = Array.from({ length: 100 }, (_, i) => seals.seal(demoObject(i, now)));
const map = new EntityMap();
for (let i = 0; i < 2000; i++) map.set(entityMapKey(DEMO_VIEW, demoEntityId(i)), entityMapValue(now, i < 100 ? objects[i]! : Buffer.from([i])));
const proofs: WireProof[] = objects.map((_, i) => toWireProof(7, map.prove(entityMapKey(DEMO_VIEW, demoEntityId(i)))));
const request = {
  method: "POST",
  path: `/v1/features/${DEMO_VIEW}/batch`,
  query: "",
  contentType: "application/json",
  body: Buffer.from(JSON.stringify({ entities: objects.map((_, i) => demoEntityId(i)), features: ["country", "segment"] })),
  objects,
};

// Session 6's wire form: proofs as an array of maps, decoded field by field (as wire/frames.ts did).
const packr = new Packr({ useRecords: false });
const asMaps = (): Buffer => packr.pack({ ...request, proofs });
function decodeMaps(payload: Buffer): number {
  const m = packr.unpack(payload) as { proofs: Array<Record<string, unknown>> };
  let n = 0;
  for (const p of m.proofs) {
    const w = {
      seq: p.seq as number,
      siblings: p.siblings as Buffer,
      ...(p.leaf_key ? { leaf_key: p.leaf_key as Buffer } : {}),
      ...(p.leaf_value ? { leaf_value: p.leaf_value as Buffer } : {}),
    };
    n += w.siblings.length;
  }
  return n;
}
const mapsPayload = asMaps();
const listPayload = encodeFrame(1, FrameKind.SignRead, { ...request, proofs }).subarray(FRAME_HEADER_BYTES);
const nonePayload = encodeFrame(1, FrameKind.SignRead, request).subarray(FRAME_HEADER_BYTES);

const variants: Record<string, () => unknown> = {
  "encode, no proofs": () => encodeFrame(1, FrameKind.SignRead, request),
  "encode, proofs as maps (s6)": () => asMaps(),
  "encode, proof list": () => encodeFrame(1, FrameKind.SignRead, { ...request, proofs }),
  "decode, no proofs": () => decodeSignRead(nonePayload),
  "decode, proofs as maps (s6)": () => decodeMaps(mapsPayload), // unpack + the fields of each proof, as wire/frames.ts did
  "decode, proof list": () => decodeSignRead(listPayload),
};
const rounds = Number(process.argv[2] ?? 7);
const samples = new Map<string, number[]>();
for (let r = 0; r < rounds; r++) {
  const names = Object.keys(variants);
  for (const name of r % 2 ? names.reverse() : names) {
    const run = variants[name]!;
    for (let i = 0; i < 30; i++) run();
    const t0 = process.cpuUsage();
    for (let i = 0; i < 300; i++) run();
    const t = process.cpuUsage(t0);
    samples.set(name, [...(samples.get(name) ?? []), (t.user + t.system) / 300]);
  }
}
process.stdout.write(
  `proof list vs maps: 100-entity batch SignRead (${listPayload.length} B with the list, ${mapsPayload.length} B with maps, ${nonePayload.length} B without), ${rounds} interleaved rounds, CPU µs per frame (median), load average ${loadavg()[0]!.toFixed(2)}\n`,
);
for (const [name, xs] of samples) process.stdout.write(`${name.padEnd(30)} ${percentile(xs, 50).toFixed(1).padStart(8)} µs\n`);
for (const side of ["encode", "decode"]) {
  const none = percentile(samples.get(`${side}, no proofs`)!, 50);
  const maps = percentile(samples.get(`${side}, proofs as maps (s6)`)!, 50) - (side === "decode" ? 0 : none);
  const list = percentile(samples.get(`${side}, proof list`)!, 50) - none;
  if (side === "encode") process.stdout.write(`${side}: the proofs' own cost ${maps.toFixed(0)} → ${list.toFixed(0)} µs per batch (${(list / maps).toFixed(2)}×)\n`);
}
