/**
 * The batch answer's body format (issue #15's batch-tail levers): the same 100 entities × 10
 * features answered as rows in JSON (the default), rows in MessagePack (`Accept:
 * application/msgpack`) and Feast's columnar JSON (`POST /get-online-features`, docs/feast.md),
 * by one signer in one process, rounds interleaved (order alternating): median signer CPU µs per
 * answer and the body's size. No proofs (freshness costs the same in all three).
 *
 *   npx tsx bench/micro/batch-formats.ts [rounds=9] [iterations=60]
 */
import { loadavg } from "node:os";
import { Signer } from "../../enclave/signer";
import { DEFAULT_REGISTRY } from "../../registry/views";
import { generateSealKey, SealKeyring } from "../../enclave/seal";
import { DEMO_VIEW, demoEntityId, demoObject } from "../../dev/demo-data";
import { DEMO_TEN } from "../cpu-ab";
import { percentile } from "../../dev/stats";

const ROUNDS = Number(process.argv[2] ?? 9);
const ITER = Number(process.argv[3] ?? 60);
const now = Date.now();
const seals = new SealKeyring([{ ...generateSealKey("bench"), writer: "loader", use: "write" as const }]);
const signer = new Signer({ registry: DEFAULT_REGISTRY, keys: { keyring: seals }, now: () => now });
const objects = Array.from({ length: 100 }, (_, i) => seals.seal(demoObject(i, now)));
const ids = objects.map((_, i) => demoEntityId(i));
const rows = Buffer.from(JSON.stringify({ entities: ids, features: DEMO_TEN }));
const feast = Buffer.from(JSON.stringify({ entities: { user_id: ids }, features: DEMO_TEN.map((f) => `${DEMO_VIEW}:${f}`) }));
const batch = { method: "POST", path: `/v1/features/${DEMO_VIEW}/batch`, query: "", contentType: "application/json", body: rows, objects };

const formats: Array<[string, () => { status: number; body: Uint8Array }]> = [
  ["rows, JSON", () => signer.signRead(batch)],
  ["rows, MessagePack", () => signer.signRead({ ...batch, accept: "application/msgpack" })],
  ["Feast columnar JSON", () => signer.signRead({ method: "POST", path: "/get-online-features", query: "", contentType: "application/json", body: feast, objects })],
];
for (const [name, run] of formats) if (run().status !== 200) throw new Error(`${name}: not a 200`);
const samples = new Map<string, number[]>(formats.map(([n]) => [n, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, run] of r % 2 ? [...formats].reverse() : formats) {
    for (let i = 0; i < 10; i++) run();
    const t0 = process.cpuUsage();
    for (let i = 0; i < ITER; i++) run();
    const t = process.cpuUsage(t0);
    samples.get(name)!.push((t.user + t.system) / ITER);
  }
}
const base = percentile(samples.get(formats[0]![0])!, 50);
const baseBytes = formats[0]![1]().body.length;
process.stdout.write(
  `batch body formats — node ${process.version}, 100 × 10 features, ${ROUNDS} × ${ITER} interleaved, signer CPU µs per answer (median), load average ${loadavg()[0]!.toFixed(2)}\n`,
);
for (const [name, run] of formats) {
  const us = percentile(samples.get(name)!, 50);
  const bytes = run().body.length;
  process.stdout.write(`${name.padEnd(22)} ${us.toFixed(0).padStart(6)} µs (${(us / base).toFixed(2)}×)   ${String(bytes).padStart(6)} B (${(bytes / baseBytes).toFixed(2)}×)\n`);
}
