import { generateKeyPairSync } from "node:crypto";
import { LaneKeys } from "../../enclave/lane-keys";
import { SigningKey } from "../../enclave/key";
import { LaneKeyError } from "../../wire/lane-key";

const DAY = 86_400_000;
const T0 = 1_800_000_000_000;

function laneKey() {
  const { privateKey } = generateKeyPairSync("ed25519");
  return { privateKey, kid: SigningKey.fromPrivateKey(privateKey).keyid };
}

describe("LaneKeys", () => {
  it("holds nothing at first: no current key (the signer falls back to its own)", () => {
    expect(new LaneKeys().current(T0)).toBeUndefined();
  });

  it("refuses a key offered under a kid that is not its thumbprint (the host relabelling a blob)", () => {
    const keys = new LaneKeys();
    const a = laneKey();
    const b = laneKey();
    expect(() => keys.offer(b.kid, a.privateKey, T0, T0 + DAY)).toThrow(LaneKeyError);
    expect(keys.holds(b.kid)).toBe(false);
    expect(keys.version).toBe(0);
  });

  it("refuses an invalid window", () => {
    const a = laneKey();
    expect(() => new LaneKeys().offer(a.kid, a.privateKey, T0, T0)).toThrow(/not_after must be after not_before/);
  });

  it("signs with the valid key of the latest not_before, and only inside its window", () => {
    const keys = new LaneKeys();
    const old = laneKey();
    const next = laneKey();
    keys.offer(old.kid, old.privateKey, T0, T0 + 30 * DAY);
    keys.offer(next.kid, next.privateKey, T0 + 10 * DAY, T0 + 60 * DAY);
    expect(keys.current(T0 + DAY)?.keyid).toBe(old.kid);
    expect(keys.current(T0 + 11 * DAY)?.keyid).toBe(next.kid);
    expect(keys.current(T0 + 60 * DAY)).toBeUndefined();
    expect(keys.current(T0 - 1)).toBeUndefined();
  });

  it("a re-offer of the same kid replaces it (no duplicates) and bumps the version on each change", () => {
    const keys = new LaneKeys();
    const a = laneKey();
    keys.offer(a.kid, a.privateKey, T0, T0 + DAY);
    keys.offer(a.kid, a.privateKey, T0, T0 + 2 * DAY);
    expect(keys.version).toBe(2);
    expect(keys.list(T0)).toHaveLength(1);
    expect(keys.list(T0)[0]!.notAfter).toBe(T0 + 2 * DAY);
  });

  it("list() drops what has expired", () => {
    const keys = new LaneKeys();
    const a = laneKey();
    const b = laneKey();
    keys.offer(a.kid, a.privateKey, T0, T0 + DAY);
    keys.offer(b.kid, b.privateKey, T0, T0 + 3 * DAY);
    expect(keys.list(T0 + DAY).map((h) => h.key.keyid)).toEqual([b.kid]);
    expect(keys.holds(a.kid)).toBe(false);
    expect(keys.holds(b.kid)).toBe(true);
  });
});
