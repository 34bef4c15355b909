import { createHmac } from "node:crypto";
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
