/**
 * Seeded randomness for dev tooling, demos, benchmarks and tests (not for keys, nonces or anything
 * a hostile host could exploit: those use node:crypto). Lives in the dev room so the runtime and
 * the enclave carry no demo helpers; code that wants reproducible draws passes `random` in.
 */

/** mulberry32: a small seeded PRNG, so simulated runs, demo data and tests are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
