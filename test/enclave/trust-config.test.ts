import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseImageTrust, readImageTrust } from "../../enclave/trust-config";

const ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const admin = { kid: "admin-1", publicKey: Buffer.alloc(32, 5).toString("base64") };
const trust = (over: Record<string, unknown> = {}) => JSON.stringify({ lane: "lane-a", adminKeys: [admin], ...over });

describe("parseImageTrust", () => {
  it("reads the lane and the pinned admin keys; sealKms only when present", () => {
    expect(parseImageTrust(trust())).toEqual({ lane: "lane-a", adminKeys: [admin] });
    expect(parseImageTrust(trust({ sealKms: { keyArn: ARN, region: "eu-west-1" } })).sealKms).toEqual({ keyArn: ARN, region: "eu-west-1", endpoint: undefined });
  });

  it("keeps only kid and publicKey of each admin key", () => {
    expect(parseImageTrust(trust({ adminKeys: [{ ...admin, note: "x" }] })).adminKeys).toEqual([admin]);
  });

  it.each<[string, string, RegExp]>([
    ["not JSON", "{", /not JSON/],
    ["an array", "[]", /must be an object/],
    ["null", "null", /must be an object/],
    ["an unknown field", trust({ writers: [] }), /unknown field writers/],
    ["a bad lane name", trust({ lane: "Lane_A" }), /lane must match/],
    ["no admin keys", trust({ adminKeys: [] }), /adminKeys must list 1\.\.8 keys/],
    ["nine admin keys", trust({ adminKeys: Array.from({ length: 9 }, (_, i) => ({ ...admin, kid: `a${i}` })) }), /1\.\.8/],
    ["a bad admin kid", trust({ adminKeys: [{ ...admin, kid: "a b" }] }), /adminKeys\[0\]\.kid must match/],
    ["a null admin entry", trust({ adminKeys: [null] }), /adminKeys\[0\]\.kid/],
    ["a 31-byte admin key", trust({ adminKeys: [{ ...admin, publicKey: Buffer.alloc(31).toString("base64") }] }), /publicKey must be 32 bytes/],
    ["a seal KMS alias", trust({ sealKms: { keyArn: "arn:aws:kms:eu-west-1:123456789012:alias/x", region: "eu-west-1" } }), /sealKms: keyArn must be a KMS key ARN/],
    ["a seal KMS region mismatch", trust({ sealKms: { keyArn: ARN, region: "us-east-1" } }), /region must be the key ARN's region/],
  ])("refuses %s", (_what, text, message) => {
    expect(() => parseImageTrust(text)).toThrow(message);
  });

  it("names the source in its errors, and readImageTrust names the file", () => {
    expect(() => parseImageTrust("{", "/app/trust.json")).toThrow("/app/trust.json: not JSON");
    const dir = mkdtempSync(join(tmpdir(), "trust-"));
    try {
      const path = join(dir, "trust.json");
      writeFileSync(path, trust({ lane: "BAD" }));
      expect(() => readImageTrust(path)).toThrow(`${path}: lane must match`);
      writeFileSync(path, trust());
      expect(readImageTrust(path).lane).toBe("lane-a");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
