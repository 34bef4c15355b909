import { createHmac, randomBytes } from "node:crypto";
import fc from "fast-check";
import { HmacSha256 } from "../../wire/hmac-sha256";
import { SEAL_KEY_BYTES } from "../../enclave/seal";

const reference = (key: Uint8Array, head: Uint8Array, tail: Uint8Array): Buffer => createHmac("sha256", key).update(head).update(tail).digest();

/** Key sizes: the keyring's (32 B), and RFC 2104's edges around the 64-byte block (a longer key is hashed first). */
const KEY_SIZES = [SEAL_KEY_BYTES, 0, 1, 63, 64, 65, 200];
const keyArb = fc.oneof(fc.constantFrom(...KEY_SIZES), fc.integer({ min: 0, max: 300 })).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));
/** Prefixes like a seal's domain ‖ kid ‖ "\n" and bodies from empty to 20 KB (past the initial 4 KB scratch). */
const headArb = fc.uint8Array({ minLength: 0, maxLength: 96 });
const tailArb = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 300 }),
  fc.integer({ min: 0, max: 20 * 1024 }).map((n) => new Uint8Array(randomBytes(n))),
);

describe("wire/hmac-sha256", () => {
  it("is createHmac('sha256') byte for byte, for random keys (0…300 B), prefixes and bodies (0…20 KB)", () => {
    fc.assert(
      fc.property(keyArb, headArb, tailArb, (key, head, tail) => {
        expect(new HmacSha256(key).mac(head, tail).equals(reference(key, head, tail))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("stays correct across calls on one instance: the scratch grows, shrinking messages leave no residue, keys interleave", () => {
    fc.assert(
      fc.property(fc.array(keyArb, { minLength: 1, maxLength: 4 }), fc.array(fc.tuple(fc.nat(), headArb, tailArb), { minLength: 1, maxLength: 12 }), (keys, calls) => {
        // A tiny initial scratch so that growth happens often (the default is 4 KB).
        const macs = keys.map((k) => new HmacSha256(k, 8));
        for (const [pick, head, tail] of calls) {
          const i = pick % keys.length;
          expect(macs[i]!.mac(head, tail).equals(reference(keys[i]!, head, tail))).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("grows past the default scratch and back down (4 KB default, 20 KB body, then 10 B)", () => {
    const key = randomBytes(SEAL_KEY_BYTES);
    const mac = new HmacSha256(key);
    for (const n of [10, 4096 - 20, 4096, 20 * 1024, 10, 20 * 1024 + 1, 0]) {
      const head = Buffer.from("express-lane/object-seal/v2\nk-1\n");
      const body = randomBytes(n);
      expect(mac.mac(head, body).equals(reference(key, head, body))).toBe(true);
    }
    // The one-part form (no tail).
    expect(mac.mac(Buffer.from("abc")).equals(createHmac("sha256", key).update("abc").digest())).toBe(true);
  });

  it("matches RFC 4231 test case 6 (a 131-byte key, hashed first)", () => {
    const key = Buffer.alloc(131, 0xaa);
    const message = Buffer.from("Test Using Larger Than Block-Size Key - Hash Key First");
    expect(new HmacSha256(key).mac(message).toString("hex")).toBe("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  });
});
