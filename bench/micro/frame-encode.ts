/**
 * Frame encoding, in place vs copied (issue #15 goal 1, "reuse frame buffers"): wire/frames.ts
 * encodeFrame packs the payload with the header's 9 bytes reserved in front (msgpackr
 * RESERVE_START_SPACE); it used to pack, allocate a second buffer and copy. Per frame: a batch
 * SignRead (100 sealed 4 KB objects, ≈ 410 KB — the runtime sends one per batch), a batch answer
 * (≈ 92 KB body) and a 10-feature answer. Rounds interleave the variants; medians of µs per frame.
 *
 *   npx tsx bench/micro/frame-encode.ts [rounds=7]
 */
import { loadavg } from "node:os";
import { Packr } from "msgpackr";
import { DEMO_VIEW, demoEntityId, demoObject } from "../../dev/demo-data";
import { generateSealKey, SealKeyring } from "../../enclave/seal";
import { encodeFrame, FRAME_HEADER_BYTES, FrameKind } from "../../wire/frames";
import { percentile } from "../../dev/stats";

/** encodeFrame as it was: pack, then a second buffer and a copy. */
const oldPackr = new Packr({ useRecords: false });
function encodeFrameCopying(id: number, kind: FrameKind, message: unknown): Buffer {
  const payload = oldPackr.pack(message);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32BE(5 + payload.length, 0);
  frame.writeUInt32BE(id >>> 0, 4);
  frame.writeUInt8(kind, 8);
  payload.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

const now = Date.now();
const seals = new SealKeyring([{ ...generateSealKey("frames"), writer: "bench" }]);
const objects = Array.from({ length: 100 }, (_, i) => seals.seal(demoObject(i, now)));
const batchRequest = {
  method: "POST",
  path: `/v1/features/${DEMO_VIEW}/batch`,
  query: "",
  contentType: "application/json",
  body: Buffer.from(JSON.stringify({ entities: objects.map((_, i) => demoEntityId(i)), features: ["country", "segment"] })),
  objects,
};
const answer = (bytes: number, entities: number) => ({
  status: 200,
  contentType: "application/json",
  contentDigest: "sha-256=:" + "A".repeat(44) + ":",
  signatureInput: 'sig1=("@status" "content-type" "content-digest");created=1;expires=2;keyid="k";alg="ed25519"',
  signature: "sig1=:" + "B".repeat(88) + ":",
  body: Buffer.alloc(bytes, 0x61),
  served: Array.from({ length: entities }, (_, i) => ({ status: "found", ageSeconds: 30 + i })),
});
const frames: Record<string, unknown> = { "batch SignRead (≈ 410 KB)": batchRequest, "batch answer (92 KB)": answer(92_000, 100), "10-feature answer": answer(900, 1) };

const rounds = Number(process.argv[2] ?? 7);
const samples = new Map<string, number[]>();
for (let r = 0; r < rounds; r++) {
  for (const [name, message] of Object.entries(frames)) {
    const n = name.startsWith("batch SignRead") ? 300 : name.startsWith("batch") ? 1500 : 20_000;
    const variants = r % 2 ? (["in place", "copied"] as const) : (["copied", "in place"] as const);
    for (const v of variants) {
      const encode = v === "in place" ? encodeFrame : encodeFrameCopying;
      for (let i = 0; i < n / 10; i++) encode(i, FrameKind.Reply, message);
      const t0 = process.cpuUsage();
      for (let i = 0; i < n; i++) encode(i, FrameKind.Reply, message);
      const t = process.cpuUsage(t0);
      const key = `${name}|${v}`;
      samples.set(key, [...(samples.get(key) ?? []), (t.user + t.system) / n]);
    }
  }
}
process.stdout.write(`frame encoding, ${rounds} interleaved rounds, CPU µs per frame (median), load average ${loadavg()[0].toFixed(2)}\n`);
for (const name of Object.keys(frames)) {
  const a = percentile(samples.get(`${name}|copied`)!, 50);
  const b = percentile(samples.get(`${name}|in place`)!, 50);
  process.stdout.write(`${name.padEnd(26)} copied ${a.toFixed(2).padStart(8)}   in place ${b.toFixed(2).padStart(8)}   ${(b / a).toFixed(2)}×\n`);
}
