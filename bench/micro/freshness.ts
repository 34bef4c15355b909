/**
 * What provable freshness (#16, docs/trust.md P8) costs the signer: CPU per single read and per
 * 100-entity batch, with and without entity-map proofs, side by side in one process (scenarios
 * interleaved in rounds, median). The map holds `entities` entities (proof depth ≈ log2 n) so the
 * proofs are as deep as in a view of that size. Run from the sources or bundled:
 *
 *   npx tsx bench/micro/freshness.ts [entities] [iterations]
 *   npx esbuild bench/micro/freshness.ts --bundle --platform=node --outfile=/tmp/freshness.js && node /tmp/freshness.js [entities] [iterations]
 */
import { Signer } from "../../enclave/signer";
import { DEFAULT_REGISTRY } from "../../registry/views";
import { generateSealKey, SealKeyring } from "../../enclave/seal";
import { entityMapValue, sealCheckpoint, toWireProof, type WireProof } from "../../wire/checkpoint";
import { EntityMap, entityMapKey } from "../../wire/entity-map";
import { encodeFrame, FRAME_HEADER_BYTES, FrameKind } from "../../wire/frames";
import { DEMO_VIEW, demoEntityId, demoObject } from "../../dev/demo-data";

const ENTITIES = Number(process.argv[2] ?? 200_000);
const ITER = Number(process.argv[3] ?? 2000);
const ROUNDS = 7;
const now = Date.now();
const writer = { ...generateSealKey("bench"), writer: "loader", use: "write" as const };
const seals = new SealKeyring([writer]);
const signer = new Signer({ registry: DEFAULT_REGISTRY, keys: { keyring: seals }, now: () => now, checkpointLane: "bench" });
// The same signer without remembered lookups: every proof hashed (session 5's signer; a cold entity today).
const checking = new Signer({ registry: DEFAULT_REGISTRY, keys: { keyring: seals }, now: () => now, checkpointLane: "bench", verifiedLookupsMax: 0 });
const objects = Array.from({ length: 100 }, (_, i) => seals.seal(demoObject(i, now)));

// The view's map: the 100 served entities plus filler up to ENTITIES (filler values need not be real objects).
const map = new EntityMap();
const filler = Buffer.alloc(40, 1);
for (let i = 100; i < ENTITIES; i++) map.set(entityMapKey(DEMO_VIEW, `filler_${i}`), filler);
objects.forEach((o, i) => map.set(entityMapKey(DEMO_VIEW, demoEntityId(i)), entityMapValue(demoObject(i, now).event_time, o)));
const sealed = sealCheckpoint({ lane: "bench", view: DEMO_VIEW, seq: 1, as_of: now - 1000, root: map.rootHash(), entities: map.size }, writer.kid, writer.key);
for (const s of [signer, checking]) {
  const reply = s.handle(
    { id: 1, kind: FrameKind.ProvideCheckpoints, payload: encodeFrame(1, FrameKind.ProvideCheckpoints, { checkpoints: [sealed] }).subarray(FRAME_HEADER_BYTES) },
    "provision",
  );
  if (!Buffer.isBuffer(reply) || reply.readUInt8(8) !== FrameKind.Reply) throw new Error("checkpoint not accepted");
}
const proofs: WireProof[] = objects.map((_, i) => toWireProof(1, map.prove(entityMapKey(DEMO_VIEW, demoEntityId(i)))));
const depth = proofs.reduce((s, p) => s + p.siblings.length / 32, 0) / proofs.length;

const TEN = "country,risk_score,segment,txn_count_1d,flag_0,spend_30d_cat_0,spend_30d_cat_1,device,referrer,signup_time";
const path = `/v1/features/${DEMO_VIEW}/${demoEntityId(7)}`;
const batchBody = Buffer.from(JSON.stringify({ entities: objects.map((_, i) => demoEntityId(i)), features: TEN.split(",") }));
const batch = { method: "POST", path: `/v1/features/${DEMO_VIEW}/batch`, query: "", contentType: "application/json", body: batchBody, objects };

// Check once that the proofs do what they should (a benchmark of null bounds would measure nothing).
const check = JSON.parse(Buffer.from(signer.signRead({ ...batch, proofs }).body).toString()) as { results: Array<{ fresh_as_of: string | null }> };
if (check.results.some((r) => r.fresh_as_of === null)) throw new Error("a proof did not verify");

type Scenario = [name: string, batch: boolean, run: () => unknown];
const scenarios: Scenario[] = [
  ["single, 10 features JSON — no proof", false, () => signer.signRead({ method: "GET", path, query: `?features=${TEN}`, objects: [objects[7]] })],
  ["single, 10 features JSON — proof checked", false, () => checking.signRead({ method: "GET", path, query: `?features=${TEN}`, objects: [objects[7]], proofs: [proofs[7]!] })],
  ["single, 10 features JSON — proof remembered", false, () => signer.signRead({ method: "GET", path, query: `?features=${TEN}`, objects: [objects[7]], proofs: [proofs[7]!] })],
  ["single, full msgpack — no proof", false, () => signer.signRead({ method: "GET", path, query: "", accept: "application/msgpack", objects: [objects[7]] })],
  [
    "single, full msgpack — with proof",
    false,
    () => signer.signRead({ method: "GET", path, query: "", accept: "application/msgpack", objects: [objects[7]], proofs: [proofs[7]!] }),
  ],
  ["batch 100×10 — no proofs (per batch)", true, () => signer.signRead(batch)],
  ["batch 100×10 — proofs checked (per batch)", true, () => checking.signRead({ ...batch, proofs })],
  ["batch 100×10 — proofs remembered (per batch)", true, () => signer.signRead({ ...batch, proofs })],
];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const samples = new Map<string, number[]>(scenarios.map(([n]) => [n, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, isBatch, run] of scenarios) {
    const n = isBatch ? Math.max(20, ITER / 50) : ITER;
    for (let i = 0; i < Math.min(100, n); i++) run();
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) run();
    const t = process.cpuUsage(t0);
    samples.get(name)!.push((t.user + t.system) / n);
  }
}
process.stdout.write(
  `freshness micro-benchmark — node ${process.version}, map ${ENTITIES} entities (mean proof depth ${depth.toFixed(1)}), ${ITER} iterations × ${ROUNDS} interleaved rounds, signer CPU µs per op (median; min–max)\n`,
);
for (const [name] of scenarios) {
  const xs = samples.get(name)!;
  process.stdout.write(`${name.padEnd(42)} ${median(xs).toFixed(1).padStart(8)} µs   (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})\n`);
}
