import {
  kmsKeyRegion,
  MAX_WRAPPED_KEYS,
  parseWrappedSealKeys,
  SealKeysDocumentError,
  sealKeyEncryptionContext,
  serializeWrappedSealKeys,
  type WrappedSealKeysDocument,
} from "../../wire/seal-keys";

const ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const blob = Buffer.alloc(180, 1).toString("base64");
const doc = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  version: 1,
  keyArn: ARN,
  region: "eu-west-1",
  keys: [{ kid: "alice-1", writer: "alice", ciphertextBlob: blob }],
  ...over,
});
const text = (v: unknown) => JSON.stringify(v);

describe("seal key encryption context", () => {
  it("binds purpose, kid and writer (the key policy's per-writer condition reads `writer`)", () => {
    expect(sealKeyEncryptionContext("alice-1", "alice")).toEqual({ purpose: "express-lane-seal", kid: "alice-1", writer: "alice" });
  });
});

describe("kmsKeyRegion", () => {
  it("reads the region of a key ARN, in any partition", () => {
    expect(kmsKeyRegion(ARN)).toBe("eu-west-1");
    expect(kmsKeyRegion("arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/abc")).toBe("us-gov-west-1");
  });

  it.each(["arn:aws:kms:eu-west-1:123456789012:alias/lane", "arn:aws:s3:::bucket", "arn:aws:kms:eu-west-1:12345:key/abc"])("is undefined for %p (not a key ARN)", (arn) => {
    expect(kmsKeyRegion(arn)).toBeUndefined();
  });
});

describe("parseWrappedSealKeys", () => {
  it("accepts a valid document and serializes it back to the same document", () => {
    const parsed = parseWrappedSealKeys(text(doc()));
    expect(parsed).toEqual(doc());
    expect(parseWrappedSealKeys(serializeWrappedSealKeys(parsed))).toEqual(parsed);
    expect(serializeWrappedSealKeys(parsed).endsWith("}\n")).toBe(true);
  });

  it.each<[string, string, RegExp]>([
    ["not JSON", "{", /not JSON/],
    ["null", "null", /version must be 1/],
    ["version 2", text(doc({ version: 2 })), /version must be 1/],
    ["an alias instead of a key ARN", text(doc({ keyArn: "arn:aws:kms:eu-west-1:123456789012:alias/lane" })), /keyArn must be a KMS key ARN/],
    ["a region that is not the key's", text(doc({ region: "us-east-1" })), /region must be the key ARN's region/],
    ["no keys", text(doc({ keys: [] })), /1\.\.16 wrapped keys/],
    ["too many keys", text(doc({ keys: Array.from({ length: MAX_WRAPPED_KEYS + 1 }, (_, i) => ({ kid: `k${i}`, writer: "alice", ciphertextBlob: blob })) })), /1\.\.16/],
    ["a bad kid", text(doc({ keys: [{ kid: "a b", writer: "alice", ciphertextBlob: blob }] })), /kid "a b" must match/],
    [
      "a kid listed twice",
      text(
        doc({
          keys: [
            { kid: "k", writer: "alice", ciphertextBlob: blob },
            { kid: "k", writer: "bob", ciphertextBlob: blob },
          ],
        }),
      ),
      /listed twice/,
    ],
    ["a missing writer", text(doc({ keys: [{ kid: "k", ciphertextBlob: blob }] })), /writer must match/],
    ["an empty blob", text(doc({ keys: [{ kid: "k", writer: "alice", ciphertextBlob: "" }] })), /ciphertextBlob must be 1\.\.6144 bytes/],
    ["an oversized blob", text(doc({ keys: [{ kid: "k", writer: "alice", ciphertextBlob: Buffer.alloc(6145).toString("base64") }] })), /ciphertextBlob/],
    ["a null key entry", text(doc({ keys: [null] })), /kid undefined must match/],
  ])("refuses %s", (_what, input, message) => {
    expect(() => parseWrappedSealKeys(input, "s3://b/seal-keys/wrapped.json")).toThrow(SealKeysDocumentError);
    expect(() => parseWrappedSealKeys(input, "s3://b/seal-keys/wrapped.json")).toThrow(message);
  });

  it("names the source in its errors", () => {
    expect(() => parseWrappedSealKeys("{", "s3://b/k")).toThrow("s3://b/k: not JSON");
  });

  it("returns copies of the key entries (the caller's parse result is its own)", () => {
    const parsed = parseWrappedSealKeys(text(doc())) as WrappedSealKeysDocument & { keys: Array<{ kid: string }> };
    parsed.keys[0]!.kid = "changed";
    expect(parseWrappedSealKeys(text(doc())).keys[0]!.kid).toBe("alice-1");
  });
});
