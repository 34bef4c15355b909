import { generateKeyPairSync } from "node:crypto";
import {
  adminPublicKey,
  directorySigningInput,
  KEY_DIRECTORY_DOMAIN,
  keyCommitment,
  KeyDirectoryError,
  keySequences,
  MAX_DIRECTORY_KEYS,
  MAX_DIRECTORY_VALIDITY_MS,
  parseKeyDirectory,
  parseSignedKeyDirectory,
  signKeyDirectory,
  verifySignedKeyDirectory,
  localAdminSigner,
  type KeyDirectory,
} from "../../wire/key-directory";
import { directoryOf, listed, testAdmin, testWriterKey } from "../helpers/key-directory";

const NOW = 1_800_000_000_000;
const writer = testWriterKey("alice", "alice-1");
const directory = (over: Partial<KeyDirectory> = {}): KeyDirectory => ({ v: 1, ...directoryOf("lane-a", 3, NOW, [listed(writer)]), ...over });
const bytes = (v: unknown) => Buffer.from(JSON.stringify(v));

describe("keyCommitment", () => {
  it("is 43 base64url characters, depends on the key, and is domain-separated", () => {
    const c = keyCommitment(writer.key);
    expect(c).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(keyCommitment(testWriterKey("alice").key)).not.toBe(c);
  });
});

describe("parseKeyDirectory", () => {
  it("accepts a well-formed directory and returns exactly its fields", () => {
    expect(parseKeyDirectory(bytes(directory()))).toEqual(directory());
  });

  it.each<[string, unknown, RegExp]>([
    ["not JSON", "{", /not JSON/],
    ["an array", [], /must be an object/],
    ["an unknown field", { ...directory(), extra: 1 }, /unknown field "extra"/],
    ["another version", { ...directory(), v: 2 }, /v must be 1/],
    ["a bad lane name", { ...directory(), lane: "Lane A" }, /lane must match/],
    ["epoch 0", { ...directory(), epoch: 0 }, /epoch must be a positive integer/],
    ["a fractional epoch", { ...directory(), epoch: 1.5 }, /epoch/],
    ["expiry before issue", { ...directory(), expires_at: NOW - 2000 }, /expires_at must be after issued_at/],
    ["too long a validity", { ...directory(), expires_at: NOW + MAX_DIRECTORY_VALIDITY_MS }, /at most 31 days/],
    ["a time in seconds as a string", { ...directory(), issued_at: "1" }, /issued_at must be a positive integer/],
    ["too many keys", { ...directory(), keys: Array.from({ length: MAX_DIRECTORY_KEYS + 1 }, (_, i) => listed(testWriterKey("w", `k${i}`))) }, /at most 32/],
    ["a kid listed twice", { ...directory(), keys: [listed(writer), listed(writer, "verify")] }, /listed twice/],
    ["a bad writer id", { ...directory(), keys: [{ ...listed(writer), writer: "Alice" }] }, /writer must match/],
    ["an unknown use", { ...directory(), keys: [{ ...listed(writer), use: "admin" }] }, /use must be "write" or "verify"/],
    ["a short commitment", { ...directory(), keys: [{ ...listed(writer), commitment: "abc" }] }, /43 base64url/],
    ["a key with the key itself in it", { ...directory(), keys: [{ ...listed(writer), key: "secret" }] }, /unknown field "key"/],
    ["sequences on a verify key", { ...directory(), keys: [listed(writer, "verify", ["users"])] }, /only a "write" key may sequence/],
    ["empty sequences", { ...directory(), keys: [listed(writer, "write", [])] }, /non-empty array/],
    ["a bad view name in sequences", { ...directory(), keys: [listed(writer, "write", ["Users"])] }, /each entry must be a view name/],
    ["a view sequenced twice", { ...directory(), keys: [listed(writer, "write", ["users", "users"])] }, /lists a view twice/],
    ["'*' next to a view", { ...directory(), keys: [listed(writer, "write", ["*", "users"])] }, /stands alone/],
    ["sequences that are not an array", { ...directory(), keys: [{ ...listed(writer), sequences: "users" }] }, /non-empty array/],
  ])("refuses %s", (_what, value, message) => {
    const payload = typeof value === "string" ? Buffer.from(value) : bytes(value);
    expect(() => parseKeyDirectory(payload)).toThrow(KeyDirectoryError);
    expect(() => parseKeyDirectory(payload)).toThrow(message);
  });

  it("keeps a write key's sequences (named views or '*'); without the field a key sequences nothing", () => {
    const named = parseKeyDirectory(bytes(directory({ keys: [listed(writer, "write", ["users", "items"])] }))).keys[0]!;
    expect(named.sequences).toEqual(["users", "items"]);
    expect(keySequences(named, "users")).toBe(true);
    expect(keySequences(named, "orders")).toBe(false);
    const all = parseKeyDirectory(bytes(directory())).keys[0]!;
    expect(keySequences(all, "anything")).toBe(true);
    const none = parseKeyDirectory(bytes(directory({ keys: [listed(writer, "write", null)] }))).keys[0]!;
    expect(none).not.toHaveProperty("sequences");
    expect(keySequences(none, "users")).toBe(false);
    expect(keySequences({ use: "verify", sequences: ["users"] }, "users")).toBe(false);
  });

  it("accepts an empty key list (everything revoked)", () => {
    expect(parseKeyDirectory(bytes(directory({ keys: [] }))).keys).toEqual([]);
  });
});

describe("signed directories", () => {
  const admin = testAdmin("admin-1");
  const pinned = new Map([[admin.entry.kid, adminPublicKey(admin.entry)]]);

  it("round-trips: what an admin signs, the pinned key verifies", async () => {
    const signed = await signKeyDirectory(directory(), admin.entry.kid, localAdminSigner(admin.pem));
    expect(verifySignedKeyDirectory(Buffer.from(signed), pinned)).toEqual(directory());
  });

  it("signs the domain-separated payload", () => {
    const payload = Buffer.from("{}");
    expect(directorySigningInput(payload).toString()).toBe(`${KEY_DIRECTORY_DOMAIN}{}`);
  });

  it("never signs a directory an enclave would refuse", async () => {
    const sign = jest.fn(localAdminSigner(admin.pem));
    await expect(signKeyDirectory(directory({ epoch: 0 }), admin.entry.kid, sign)).rejects.toThrow(KeyDirectoryError);
    expect(sign).not.toHaveBeenCalled();
  });

  it("refuses a directory signed by a key not pinned in the image", async () => {
    const other = testAdmin("admin-2");
    const signed = await other.sign(directoryOf("lane-a", 3, NOW, []));
    expect(() => verifySignedKeyDirectory(signed, pinned)).toThrow(/not an admin key pinned/);
    // …and one that names a pinned kid but was signed by another key.
    const impostor = await signKeyDirectory(directory(), admin.entry.kid, localAdminSigner(other.pem));
    expect(() => verifySignedKeyDirectory(Buffer.from(impostor), pinned)).toThrow(/does not verify/);
  });

  it("refuses a payload changed after signing (a host adding its own key)", async () => {
    const envelope = JSON.parse(await signKeyDirectory(directory(), admin.entry.kid, localAdminSigner(admin.pem)));
    const mallory = testWriterKey("mallory", "mallory-1");
    envelope.payload = bytes(directory({ keys: [listed(writer), listed(mallory)] })).toString("base64");
    expect(() => verifySignedKeyDirectory(bytes(envelope), pinned)).toThrow(/does not verify/);
  });

  it.each<[string, (e: Record<string, unknown>) => unknown, RegExp]>([
    ["an unknown envelope field", (e) => ({ ...e, note: "x" }), /unknown field/],
    ["another envelope version", (e) => ({ ...e, v: 2 }), /v must be 1/],
    ["a bad signer id", (e) => ({ ...e, signer: "a b" }), /signer must match/],
    ["a short signature", (e) => ({ ...e, signature: Buffer.alloc(10).toString("base64") }), /64 bytes/],
    ["a payload that is not a string", (e) => ({ ...e, payload: {} }), /base64 strings/],
  ])("parseSignedKeyDirectory refuses %s", async (_what, change, message) => {
    const envelope = JSON.parse(await signKeyDirectory(directory(), admin.entry.kid, localAdminSigner(admin.pem)));
    expect(() => parseSignedKeyDirectory(bytes(change(envelope)))).toThrow(message);
  });

  it("bounds the signed document's size", () => {
    expect(() => parseSignedKeyDirectory(new Uint8Array(0))).toThrow(/1\.\.65536 bytes/);
    expect(() => parseSignedKeyDirectory(Buffer.alloc(64 * 1024 + 1, 0x20))).toThrow(/1\.\.65536 bytes/);
  });

  it("adminPublicKey refuses a key that is not 32 raw bytes", () => {
    expect(() => adminPublicKey({ kid: "a", publicKey: Buffer.alloc(31).toString("base64") })).toThrow(/32 bytes/);
    const raw = Buffer.from(generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }).x as string, "base64url");
    expect(adminPublicKey({ kid: "a", publicKey: raw.toString("base64") }).asymmetricKeyType).toBe("ed25519");
  });
});
