/**
 * The object seal's HMAC-SHA256 (enclave/seal.ts, once per object served): node's createHmac
 * object per call vs RFC 2104 spelled as two one-shot `crypto.hash` calls over precomputed
 * ipad/opad blocks. A CPU profile of a proven 100-entity batch (bundled bench/micro/freshness.ts
 * under `node --cpu-prof`) put createHmac's constructor, update and digest at ≈ 19 % of the
 * signer's time; this measures what the one-shot form would save before anyone writes it.
 *
 *   npx tsx bench/micro/hmac.ts [rounds=7] [iterations=50000]
 */
import { createHmac, hash, randomBytes } from "node:crypto";
import { loadavg } from "node:os";

const ROUNDS = Number(process.argv[2] ?? 7);
const N = Number(process.argv[3] ?? 50_000);
const key = randomBytes(32);
const message = randomBytes(4096);
const ipad = Buffer.alloc(64, 0x36);
const opad = Buffer.alloc(64, 0x5c);
for (let i = 0; i < key.length; i++) {
  ipad[i]! ^= key[i]!;
  opad[i]! ^= key[i]!;
}
let inner = Buffer.alloc(64 + 8192);
ipad.copy(inner, 0);
const outer = Buffer.alloc(64 + 32);
opad.copy(outer, 0);

function oneShot(m: Uint8Array): Buffer {
  if (64 + m.length > inner.length) {
    inner = Buffer.alloc(64 + m.length);
    ipad.copy(inner, 0);
  }
  inner.set(m, 64);
  outer.write(hash("sha256", inner.subarray(0, 64 + m.length), "binary"), 64, "latin1");
  return Buffer.from(hash("sha256", outer, "binary"), "latin1");
}
const library = (m: Uint8Array): Buffer => createHmac("sha256", key).update(m).digest();
if (!oneShot(message).equals(library(message))) throw new Error("the one-shot form disagrees with createHmac");

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
process.stdout.write(`HMAC-SHA256 micro-benchmark — node ${process.version}, load ${loadavg()[0]!.toFixed(2)}, ${ROUNDS} rounds × ${N}, µs per MAC (median)\n`);
for (const size of [200, 4096]) {
  const m = message.subarray(0, size);
  const t: Record<"library" | "oneShot", number[]> = { library: [], oneShot: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, f] of [
      ["library", library],
      ["oneShot", oneShot],
    ] as const) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < N; i++) f(m);
      t[name].push(Number(process.hrtime.bigint() - t0) / N / 1000);
    }
  }
  const lib = median(t.library);
  const one = median(t.oneShot);
  process.stdout.write(`${String(size).padStart(5)} B: createHmac ${lib.toFixed(2)} µs, one-shot ${one.toFixed(2)} µs (${(one / lib).toFixed(2)}×)\n`);
}
