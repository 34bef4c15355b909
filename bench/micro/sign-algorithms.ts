/**
 * Ed25519 (what the lane signs with) vs ECDSA P-256 with SHA-256 (RFC 9421 §3.3.4,
 * `ecdsa-p256-sha256`): sign and verify cost per answer with node:crypto, on a signature base of
 * the lane's shape (≈ 400 bytes). Rounds alternate which algorithm goes first; medians of the
 * per-round means. Issue #15 goal 4 asked for this before deciding anything.
 *
 *   npx tsx bench/micro/sign-algorithms.ts [rounds=7] [iterations=2000]
 *
 * ECDSA signatures for RFC 9421 are the raw r‖s (64 bytes), i.e. dsaEncoding "ieee-p1363".
 */
import { generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { percentile } from "../../dev/stats";

const BASE = Buffer.from(
  [
    '"@status": 200',
    '"content-type": application/json',
    '"content-digest": sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:',
    '"@method": GET',
    '"@path": /v1/features/user_profile/u_000123',
    '"@query": ?features=country,segment,risk_score,txn_count_1d,flag_0',
    '"@signature-params": ("@status" "content-type" "content-digest" "@method" "@path" "@query";req);created=1764590000;expires=1764590060;keyid="Wm5qHc9VbX7p1mQ0Zr8Kc2fJ7lB3tY6uN1aS4dE9gHk";alg="ed25519";nonce="c29tZS1ub25jZQ"',
  ].join("\n"),
);

interface Algorithm {
  readonly name: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  sign(data: Buffer): Buffer;
  verify(data: Buffer, sig: Buffer): boolean;
}

function algorithms(): Algorithm[] {
  const ed = generateKeyPairSync("ed25519");
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return [
    { name: "ed25519", ...ed, sign: (d) => sign(null, d, ed.privateKey), verify: (d, s) => verify(null, d, ed.publicKey, s) },
    {
      name: "ecdsa-p256-sha256",
      ...ec,
      sign: (d) => sign("sha256", d, { key: ec.privateKey, dsaEncoding: "ieee-p1363" }),
      verify: (d, s) => verify("sha256", d, { key: ec.publicKey, dsaEncoding: "ieee-p1363" }, s),
    },
  ];
}

function timeUs(iterations: number, fn: () => void): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1000 / iterations;
}

export function measure(rounds: number, iterations: number): Record<string, { signUs: number; verifyUs: number; signBytes: number }> {
  const algs = algorithms();
  const samples: Record<string, { sign: number[]; verify: number[] }> = Object.fromEntries(algs.map((a) => [a.name, { sign: [], verify: [] }]));
  for (const a of algs) for (let i = 0; i < 200; i++) a.verify(BASE, a.sign(BASE)); // warm
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? algs : [...algs].reverse();
    for (const a of order) {
      const sig = a.sign(BASE);
      if (!a.verify(BASE, sig)) throw new Error(`${a.name}: own signature does not verify`);
      samples[a.name].sign.push(timeUs(iterations, () => a.sign(BASE)));
      samples[a.name].verify.push(timeUs(iterations, () => a.verify(BASE, sig)));
    }
  }
  return Object.fromEntries(
    algs.map((a) => [a.name, { signUs: percentile(samples[a.name].sign, 50), verifyUs: percentile(samples[a.name].verify, 50), signBytes: a.sign(BASE).length }]),
  );
}

if (require.main === module) {
  const rounds = Number(process.argv[2] ?? 7);
  const iterations = Number(process.argv[3] ?? 2000);
  const before = loadavg()[0];
  const r = measure(rounds, iterations);
  const ed = r["ed25519"];
  const ec = r["ecdsa-p256-sha256"];
  process.stdout.write(
    `${JSON.stringify({ machine: `${cpus().length} × ${cpus()[0]?.model}`, node: process.version, loadavgBefore: before, rounds, iterations, results: r, ecdsaOverEd25519: { sign: +(ec.signUs / ed.signUs).toFixed(2), verify: +(ec.verifyUs / ed.verifyUs).toFixed(2) } }, null, 2)}\n`,
  );
}
