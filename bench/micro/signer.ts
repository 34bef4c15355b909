/**
 * Signer hot-path micro-benchmark: CPU per signed answer inside one process (no sockets, no
 * contention from a load generator), and where it goes, stage by stage. Run:
 *
 *   npx tsx bench/micro/signer.ts [iterations]
 *
 * Each scenario runs interleaved in rounds (A B C A B C …) so machine noise hits all of them alike;
 * the median of the rounds is reported. Figures are quoted in docs/performance.md.
 */
import { createHmac, generateKeyPairSync, sign } from "node:crypto";
import { Packr } from "msgpackr";
import { Signer } from "../../enclave/signer";
import { DEFAULT_REGISTRY } from "../../registry/views";
import { generateSealKey, SealKeyring } from "../../enclave/seal";
import { decodeObjectBody, decodeObjectBodyProjected, decodeStoredObject, KeySelector, sealInput } from "../../wire/object";
import { contentDigest, COVERED_COMPONENTS, serializeSignatureParams } from "../../wire/envelope";
import { serializeInnerList } from "structured-headers";
import { DEMO_VIEW, demoEntityId, demoObject } from "../../dev/demo-data";

const ITER = Number(process.argv[2] ?? 3000);
const ROUNDS = 7;
const now = Date.now();
const seals = new SealKeyring([generateSealKey("bench")]);
const signer = new Signer({ registry: DEFAULT_REGISTRY, keys: { keyring: seals }, now: () => now });
const objects = Array.from({ length: 100 }, (_, i) => seals.seal(demoObject(i, now)));
const TEN = "country,risk_score,segment,txn_count_1d,flag_0,spend_30d_cat_0,spend_30d_cat_1,device,referrer,signup_time";
const TEN_SELECTOR = new KeySelector(TEN.split(","));
const batchBody = Buffer.from(JSON.stringify({ entities: objects.map((_, i) => demoEntityId(i)), features: TEN.split(",") }));

const path = `/v1/features/${DEMO_VIEW}/${demoEntityId(7)}`;
const stored = decodeStoredObject(objects[7]);
if (stored.v !== 2 || !stored.seal) throw new Error("demo object is not sealed");
const body = stored.body;
const sealKey = generateSealKey("x").key;
const object = decodeObjectBody(body);
const { privateKey } = generateKeyPairSync("ed25519");
const packr = new Packr({ useRecords: false });
const base = "x".repeat(600);
const COMPONENTS = COVERED_COMPONENTS.map((c) => [c.name, new Map(c.req ? [["req", true]] : [])] as [string, Map<string, boolean>]);

type Scenario = [name: string, ops: number, run: () => unknown];
const scenarios: Scenario[] = [
  ["signRead full JSON", 1, () => signer.signRead({ method: "GET", path, query: "", objects: [objects[7]] })],
  ["signRead 10 features JSON", 1, () => signer.signRead({ method: "GET", path, query: `?features=${TEN}`, objects: [objects[7]] })],
  ["signRead full msgpack", 1, () => signer.signRead({ method: "GET", path, query: "", accept: "application/msgpack", objects: [objects[7]] })],
  [
    "signRead batch 100×10 (per batch)",
    1,
    () => signer.signRead({ method: "POST", path: `/v1/features/${DEMO_VIEW}/batch`, query: "", contentType: "application/json", body: batchBody, objects }),
  ],
  ["  stage: decode envelope", 1, () => decodeStoredObject(objects[7])],
  ["  stage: seal HMAC (4 KB)", 1, () => createHmac("sha256", sealKey).update(sealInput("bench-x", body)).digest()],
  ["  stage: decode body", 1, () => decodeObjectBody(body)],
  ["  stage: decode body, 10 features", 1, () => decodeObjectBodyProjected(body, TEN_SELECTOR)],
  ["  stage: JSON encode full", 1, () => Buffer.from(JSON.stringify(object.features))],
  ["  stage: msgpack encode full", 1, () => packr.pack(object.features)],
  ["  stage: content digest (6 KB)", 1, () => contentDigest(Buffer.alloc(6000))],
  ["  stage: signature params (ours)", 1, () => serializeSignatureParams({ created: 1, expires: 61, keyid: "k".repeat(43), nonce: "n-1" })],
  [
    "  stage: signature params (library)",
    1,
    () =>
      serializeInnerList([
        COMPONENTS,
        new Map<string, string | number>([
          ["created", 1],
          ["expires", 61],
          ["keyid", "k".repeat(43)],
          ["alg", "ed25519"],
          ["tag", "express-lane"],
          ["nonce", "n-1"],
        ]),
      ]),
  ],
  ["  stage: Ed25519 sign", 1, () => sign(null, Buffer.from(base), privateKey)],
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const samples = new Map<string, number[]>(scenarios.map(([n]) => [n, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, , run] of scenarios) {
    const n = name.startsWith("signRead batch") ? Math.max(20, ITER / 50) : ITER;
    for (let i = 0; i < Math.min(200, n); i++) run(); // warm
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) run();
    const t = process.cpuUsage(t0);
    samples.get(name)!.push((t.user + t.system) / n);
  }
}
process.stdout.write(`signer micro-benchmark — node ${process.version}, ${ITER} iterations × ${ROUNDS} interleaved rounds, CPU µs per op (median; min–max)\n`);
for (const [name] of scenarios) {
  const xs = samples.get(name)!;
  process.stdout.write(`${name.padEnd(36)} ${median(xs).toFixed(1).padStart(8)} µs   (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})\n`);
}
