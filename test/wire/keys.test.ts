import { generateKeyPairSync } from "node:crypto";
import { ed25519Jwk, jwkThumbprint, keyidForRawKey, publicKeyFromJwk, rawFromPublicKey } from "../../wire/keys";

describe("wire/keys", () => {
  test("the JWK thumbprint is RFC 7638's (RFC 8037 appendix A.3 test vector)", () => {
    const jwk = { kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" } as const;
    expect(jwkThumbprint(jwk)).toBe("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    expect(keyidForRawKey(Buffer.from(jwk.x, "base64url"))).toBe("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
  });

  test("raw key ↔ JWK ↔ KeyObject round-trip; only 32-byte Ed25519 keys", () => {
    const { publicKey } = generateKeyPairSync("ed25519");
    const raw = rawFromPublicKey(publicKey);
    expect(raw).toHaveLength(32);
    const jwk = ed25519Jwk(raw);
    expect(rawFromPublicKey(publicKeyFromJwk(jwk))).toEqual(raw);
    expect(() => ed25519Jwk(raw.subarray(0, 31))).toThrow(/32 bytes/);
    // An EC key has a JWK `x` too; it must not pass for an Ed25519 key (failed before the type check).
    expect(() => rawFromPublicKey(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey)).toThrow(/not an Ed25519/);
  });
});
