import { createHmac } from "node:crypto";
import fc from "fast-check";
import { generateSealKey, SealKeyring } from "../../enclave/seal";
import { renderEntity } from "../../enclave/render";
import { decodeStoredObject, encodeObjectBody, encodeSealedObject, KeySelector, sealInput } from "../../wire/object";
import { defineRegistry } from "../../wire/registry";

const key = generateSealKey("t");
const ring = new SealKeyring([key]);
const object = { view: "users", entity: "u1", event_time: 1_000, written_time: 2_000, features: { a: 1, b: "x" } };

describe("enclave/seal", () => {
  it("computes exactly the documented MAC: HMAC-SHA256(key, SEAL_DOMAIN ‖ kid ‖ 0x0a ‖ body)", () => {
    const stored = decodeStoredObject(ring.seal(object));
    if (stored.v !== 2 || !stored.seal) throw new Error("not sealed");
    const expected = createHmac("sha256", key.key).update(sealInput(key.kid, stored.body)).digest();
    expect(stored.seal.mac.equals(expected)).toBe(true);
    expect(ring.open(ring.seal(object), "users", "u1").ok).toBe(true);
  });

  it("seals and opens with createHmac's MAC under each of several keys, interleaved, for bodies up to 20 KB", () => {
    const keys = [generateSealKey("a"), generateSealKey("b"), { ...generateSealKey("c"), use: "verify" as const }];
    const multi = new SealKeyring(keys);
    const writeKids = keys.filter((k) => k.use !== "verify").map((k) => k.kid);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.string({ maxLength: 20 * 1024, size: "max" })), { minLength: 1, maxLength: 10 }), (calls) => {
        for (const [pick, text] of calls) {
          const kid = writeKids[pick % writeKids.length]!;
          const key = keys.find((k) => k.kid === kid)!.key;
          const sealed = multi.seal({ ...object, features: { a: 1, b: text } }, kid);
          const stored = decodeStoredObject(sealed);
          if (stored.v !== 2 || !stored.seal) throw new Error("not sealed");
          expect(stored.seal.mac.equals(createHmac("sha256", key).update(sealInput(kid, stored.body)).digest())).toBe(true);
          expect(multi.open(sealed, "users", "u1")).toMatchObject({ ok: true, object: { features: { b: text } } });
          // A verify-only key opens what it sealed before (rotation): a body MACed with it by hand.
          const verifyKey = keys[2]!;
          const old = encodeSealedObject(stored.body, verifyKey.kid, createHmac("sha256", verifyKey.key).update(sealInput(verifyKey.kid, stored.body)).digest());
          expect(multi.open(old, "users", "u1").ok).toBe(true);
          // The same body under another kid's MAC is refused.
          const swapped = encodeSealedObject(stored.body, verifyKey.kid, stored.seal.mac);
          expect(multi.open(swapped, "users", "u1")).toMatchObject({ ok: false, code: "seal_invalid" });
        }
      }),
      { numRuns: 60 },
    );
  });

  it("refuses a sealed object whose output feature has an unsupported value (never a PRESENT value)", () => {
    const registry = defineRegistry([
      {
        name: "users",
        entityKey: "id",
        owner: "t",
        description: "t",
        ttlSeconds: 3600,
        features: [
          { name: "a", type: "int" },
          { name: "b", type: "string" },
        ],
      },
    ]);
    // A writer bug: a nested map where an int belongs, under a valid seal.
    const body = encodeObjectBody({ ...object, features: { a: { nested: 1 }, b: "x" } as never });
    const mac = createHmac("sha256", key.key).update(sealInput(key.kid, body)).digest();
    const bytes = encodeSealedObject(body, key.kid, mac);
    const def = registry.get("users")!;
    const ctx = { seals: ring, readTimeMs: 2_000, registry };
    expect(renderEntity(def, "u1", bytes, new KeySelector(["a"]), ctx)).toMatchObject({ found: false, error: { code: "corrupt_object" } });
    expect(renderEntity(def, "u1", bytes, null, ctx)).toMatchObject({ found: false, error: { code: "corrupt_object" } });
    // Features not output are not judged: projecting only b answers.
    expect(renderEntity(def, "u1", bytes, new KeySelector(["b"]), ctx)).toMatchObject({ found: true, features: { b: "x" } });
  });
});
