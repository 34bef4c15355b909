import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createPublicKey, verify } from "node:crypto";
import { envelopeExample, RFC9421_TEST_KEY_PEM } from "../../../scripts/docs/envelope-example";

describe("docs/envelope.md worked example", () => {
  it("is exactly what the signer produces today", () => {
    const doc = readFileSync(join(__dirname, "../../../docs/envelope.md"), "utf8");
    const between = doc.slice(doc.indexOf("<!-- example:start -->") + 23, doc.indexOf("<!-- example:end -->")).trim();
    expect(between).toBe(envelopeExample().trim());
  });

  it("verifies with nothing but the documented public key and the documented base", () => {
    const example = envelopeExample();
    const base = /Signature base[^\n]*\n\n```\n([\s\S]*?)\n```/.exec(example)![1];
    const signature = /Signature: sig1=:([^:]+):/.exec(example)![1];
    const publicKey = createPublicKey({ key: Buffer.from("MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=", "base64"), format: "der", type: "spki" });
    expect(createPublicKey(RFC9421_TEST_KEY_PEM).export({ format: "der", type: "spki" }).toString("base64")).toBe(publicKey.export({ format: "der", type: "spki" }).toString("base64"));
    expect(verify(null, Buffer.from(base), publicKey, Buffer.from(signature, "base64"))).toBe(true);
    expect(verify(null, Buffer.from(base.replace("200", "201")), publicKey, Buffer.from(signature, "base64"))).toBe(false);
  });
});
