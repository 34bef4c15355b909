import { createPublicKey, generateKeyPairSync, verify } from "node:crypto";
import { SigningKey } from "../../enclave/key";
import { keyidForRawKey } from "../../wire/keys";

describe("SigningKey", () => {
  it("a fresh key per generate(), its keyid the thumbprint of its public half", () => {
    const a = SigningKey.generate();
    const b = SigningKey.generate();
    expect(a.keyid).not.toBe(b.keyid);
    expect(a.publicKeyRaw).toHaveLength(32);
    expect(a.keyid).toBe(keyidForRawKey(a.publicKeyRaw));
    expect(a.info).toEqual({ keyid: a.keyid, alg: "ed25519", jwk: { kty: "OKP", crv: "Ed25519", x: a.publicKeyRaw.toString("base64url") } });
  });

  it("signs strings as UTF-8 and buffers as they are, verifiable with the published public key", () => {
    const key = SigningKey.generate();
    const pub = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: key.publicKeyRaw.toString("base64url") }, format: "jwk" });
    expect(verify(null, Buffer.from("héllo", "utf8"), pub, key.sign("héllo"))).toBe(true);
    expect(key.sign("héllo")).toEqual(key.sign(Buffer.from("héllo", "utf8")));
    expect(verify(null, Buffer.from("other"), pub, key.sign("héllo"))).toBe(false);
  });

  it("fromPrivateKey wraps an existing key: same public key, same keyid", () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const key = SigningKey.fromPrivateKey(privateKey);
    expect(key.publicKeyRaw).toEqual(Buffer.from(publicKey.export({ format: "jwk" }).x as string, "base64url"));
    expect(SigningKey.fromPrivateKey(privateKey).keyid).toBe(key.keyid);
  });

  it("exposes no key material in its enumerable state (JSON, logs)", () => {
    const key = SigningKey.generate();
    const json = JSON.stringify(key);
    expect(json).not.toMatch(/PRIVATE|"d"/);
    expect(Object.keys(key)).not.toContain("d");
  });
});
