// Writer keys against the KMS twin through the real @aws-sdk/client-kms (endpoint override):
// `writer-key create` wraps a new key under context {purpose, kid, writer} and prints its
// commitment; the writer role unwraps only its own writer's keys; dev key files carry a writer and
// a file without one is refused (or, for the lane's own dev key, upgraded in place).
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWrappedWriterKey, unwrapWriterKeys, writerKeysFromOptions } from "../../cli/writer-key";
import { ensureDevWriterKeyFile, readWriterKeyFile, writerKeyring, writeWriterKeyFile } from "../../dev/key-files";
import { buildProgram } from "../../cli/main";
import { keyCommitment } from "../../wire/key-directory";
import { FakeKms } from "../helpers/fake-kms";

const REGION = "ap-south-1";
const SEAL_ARN = `arn:aws:kms:${REGION}:111122223333:key/5ea1c11e-0000-4000-8000-000000000002`;
const LOADER = { accessKeyId: "AKIDLOADER", secretAccessKey: "loader-secret" };
const STREAM = { accessKeyId: "AKIDSTREAM", secretAccessKey: "stream-secret" };
const HOST = { accessKeyId: "ASIAHOST", secretAccessKey: "host-secret", sessionToken: "tok" };

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), "writer-key-"))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("express-lane writer-key create / unwrap (KMS)", () => {
  const kms = new FakeKms({
    region: REGION,
    keyArns: [SEAL_ARN],
    plainDecrypt: [LOADER.accessKeyId, STREAM.accessKeyId],
    plainDecryptWriters: { [LOADER.accessKeyId]: "loader", [STREAM.accessKeyId]: "stream" },
    attestation: () => {
      throw new Error("no attested Decrypt in these tests");
    },
  });
  beforeAll(() => kms.start());
  afterAll(() => kms.stop());

  test("create: context {purpose, kid, writer}; the printed commitment is the key's; the writer unwraps the same key", async () => {
    const created = await createWrappedWriterKey(SEAL_ARN, { writer: "loader", endpoint: kms.endpoint, credentials: LOADER });
    expect(created.kid).toMatch(/^loader-\d{8}-[0-9a-f]{8}$/);
    expect(created.document).toMatchObject({ version: 1, keyArn: SEAL_ARN, region: REGION, keys: [{ kid: created.kid, writer: "loader" }] });
    const gen = kms.calls.filter((c) => c.action === "GenerateDataKey").at(-1)!;
    expect(gen.body.EncryptionContext).toEqual({ purpose: "express-lane-seal", kid: created.kid, writer: "loader" });

    const unwrapped = await unwrapWriterKeys(created.document, { endpoint: kms.endpoint, credentials: LOADER });
    expect(unwrapped.writer).toBe("loader");
    expect(unwrapped.keys.map((k) => k.kid)).toEqual([created.kid]);
    expect(keyCommitment(unwrapped.keys[0]!.key)).toBe(created.commitment);
    const dec = kms.calls.filter((c) => c.action === "Decrypt").at(-1)!;
    expect(dec.body).toMatchObject({ KeyId: SEAL_ARN, EncryptionContext: { purpose: "express-lane-seal", kid: created.kid, writer: "loader" } });
    expect(dec.body.Recipient).toBeUndefined();
  });

  test("rotation puts the new kid first (active); the old kid still verifies what it sealed", async () => {
    const first = await createWrappedWriterKey(SEAL_ARN, { writer: "loader", endpoint: kms.endpoint, credentials: LOADER });
    const old = (await unwrapWriterKeys(first.document, { endpoint: kms.endpoint, credentials: LOADER })).keyring;
    const object = old.seal({ view: "users", entity: "u1", event_time: 1, written_time: 2, features: { a: 1 } });
    const second = await createWrappedWriterKey(SEAL_ARN, { writer: "loader", endpoint: kms.endpoint, credentials: LOADER, existing: first.document });
    expect(second.document.keys.map((k) => k.kid)).toEqual([second.kid, first.kid]);
    const rotated = await unwrapWriterKeys(second.document, { endpoint: kms.endpoint, credentials: LOADER });
    expect(rotated.keyring.activeKid).toBe(second.kid);
    expect(rotated.keyring.open(object, "users", "u1").ok).toBe(true);
  });

  test("one writer's credentials cannot open another writer's key, nor a blob relabelled to another writer", async () => {
    const loader = await createWrappedWriterKey(SEAL_ARN, { writer: "loader", endpoint: kms.endpoint, credentials: LOADER });
    const both = await createWrappedWriterKey(SEAL_ARN, { writer: "stream", endpoint: kms.endpoint, credentials: STREAM, existing: loader.document });
    // stream's credentials: its own key opens, loader's does not.
    expect((await unwrapWriterKeys(both.document, { endpoint: kms.endpoint, credentials: STREAM, writer: "stream" })).keys.map((k) => k.kid)).toEqual([both.kid]);
    await expect(unwrapWriterKeys(both.document, { endpoint: kms.endpoint, credentials: STREAM, writer: "loader" })).rejects.toThrow(/only keys of writer stream/);
    // Relabelling loader's blob as stream's changes the context: KMS refuses it.
    const relabelled = { ...both.document, keys: both.document.keys.map((k) => (k.kid === loader.kid ? { ...k, writer: "stream" } : k)) };
    await expect(unwrapWriterKeys(relabelled, { endpoint: kms.endpoint, credentials: STREAM, writer: "stream" })).rejects.toThrow(/InvalidCiphertext|ciphertext/);
    await expect(unwrapWriterKeys(both.document, { endpoint: kms.endpoint, credentials: LOADER, writer: "nobody" })).rejects.toThrow(/no key for writer nobody/);
  });

  test("load/push --seal-key-kms: the writer's keys from the published document, first = active; --writer picks whose", async () => {
    const loader = await createWrappedWriterKey(SEAL_ARN, { writer: "loader", endpoint: kms.endpoint, credentials: LOADER });
    const both = await createWrappedWriterKey(SEAL_ARN, { writer: "stream", endpoint: kms.endpoint, credentials: STREAM, existing: loader.document });
    const file = join(dir, "published.json");
    writeFileSync(file, JSON.stringify(both.document));
    const env = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: LOADER.accessKeyId, AWS_SECRET_ACCESS_KEY: LOADER.secretAccessKey });
    try {
      // Default writer: the first entry's (stream) — loader's credentials may not open it.
      await expect(writerKeysFromOptions({ sealKeyKms: file, kmsEndpoint: kms.endpoint })).rejects.toThrow(/only keys of writer loader/);
      const mine = await writerKeysFromOptions({ sealKeyKms: file, kmsEndpoint: kms.endpoint, writer: "loader" });
      expect([mine.writer, mine.keyring.activeKid, keyCommitment(mine.keys[0]!.key)]).toEqual(["loader", loader.kid, loader.commitment]);
    } finally {
      process.env = env;
    }
  });

  test("the host role's credentials cannot unwrap a writer key without the enclave's attestation", async () => {
    const { document } = await createWrappedWriterKey(SEAL_ARN, { writer: "loader", endpoint: kms.endpoint, credentials: LOADER });
    await expect(unwrapWriterKeys(document, { endpoint: kms.endpoint, credentials: HOST })).rejects.toThrow(/attestation/);
  });

  test("the CLI command writes the document and prints kid, commitment and the directory key spec; seal-key is an alias", async () => {
    const out = join(dir, "wrapped.json");
    const printed: string[] = [];
    const write = jest.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => (printed.push(String(s)), true));
    const env = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: LOADER.accessKeyId, AWS_SECRET_ACCESS_KEY: LOADER.secretAccessKey });
    try {
      await buildProgram().parseAsync(["seal-key", "create", "--writer", "loader", "--key", SEAL_ARN, "--out", out, "--kms-endpoint", kms.endpoint], { from: "user" });
    } finally {
      write.mockRestore();
      process.env = env;
    }
    const line = JSON.parse(printed.join("")) as { kid: string; writer: string; commitment: string; directoryKey: string };
    expect(line.directoryKey).toBe(`${line.kid}:loader:write:${line.commitment}`);
    expect(JSON.parse(readFileSync(out, "utf8")).keys[0]).toMatchObject({ kid: line.kid, writer: "loader" });
    expect(printed.join("")).not.toMatch(/Plaintext/);
  });
});

describe("dev writer key files", () => {
  test("--dev-out writes a 0600 key file with a writer; show prints its commitment, never the key", async () => {
    const file = join(dir, "dev-stream.json");
    const printed: string[] = [];
    const write = jest.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => (printed.push(String(s)), true));
    try {
      await buildProgram().parseAsync(["writer-key", "create", "--writer", "stream", "--dev-out", file], { from: "user" });
      await buildProgram().parseAsync(["writer-key", "show", file], { from: "user" });
    } finally {
      write.mockRestore();
    }
    const key = readWriterKeyFile(file);
    expect(key.writer).toBe("stream");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const [created, shown] = printed.map((p) => JSON.parse(p) as { kid: string; commitment: string });
    expect(created).toMatchObject({ kid: key.kid, commitment: keyCommitment(key.key) });
    expect(shown).toMatchObject({ kid: key.kid, commitment: keyCommitment(key.key) });
    expect(printed.join("")).not.toContain(key.key.toString("base64"));
    await expect(buildProgram().parseAsync(["writer-key", "create", "--writer", "stream", "--dev-out", file], { from: "user" })).rejects.toThrow(/exists/);
  });

  test("a key file without a writer is refused by writers", async () => {
    const file = join(dir, "old-seal.json");
    writeFileSync(file, JSON.stringify({ kid: "dev-0123456789ab", key: Buffer.alloc(32, 7).toString("base64") }));
    expect(() => readWriterKeyFile(file)).toThrow(/names no writer/);
    await expect(writerKeysFromOptions({ writerKeyFile: file })).rejects.toThrow(/names no writer/);
    await expect(writerKeysFromOptions({ writerKeyFile: join(dir, "absent.json") })).rejects.toThrow(/no writer key at/);
    writeFileSync(file, JSON.stringify({ kid: "dev-0123456789ab", key: Buffer.alloc(32, 7).toString("base64"), writer: "Not A Writer" }));
    expect(() => readWriterKeyFile(file)).toThrow(/writer must match/);
  });

  test("the lane's dev key: created with writer loader; an old {kid, key} file keeps kid and key and gains the writer", () => {
    const fresh = ensureDevWriterKeyFile(join(dir, "keys", "fresh.json"));
    expect(fresh.writer).toBe("loader");
    expect(ensureDevWriterKeyFile(join(dir, "keys", "fresh.json"))).toEqual(fresh);

    const old = join(dir, "keys", "seal-dev.json");
    const key = Buffer.alloc(32, 9);
    writeFileSync(old, JSON.stringify({ kid: "dev-aabbccddeeff", key: key.toString("base64"), created: "2026-01-01T00:00:00.000Z" }));
    const upgraded = ensureDevWriterKeyFile(old);
    expect(upgraded).toEqual({ kid: "dev-aabbccddeeff", key, writer: "loader" });
    expect(JSON.parse(readFileSync(old, "utf8"))).toMatchObject({ kid: "dev-aabbccddeeff", writer: "loader", created: "2026-01-01T00:00:00.000Z" });
    expect(statSync(old).mode & 0o777).toBe(0o600);
  });

  test("one writer per keyring; writeWriterKeyFile refuses a bad kid", () => {
    expect(() =>
      writerKeyring([
        { kid: "a", key: Buffer.alloc(32), writer: "loader" },
        { kid: "b", key: Buffer.alloc(32), writer: "stream" },
      ]),
    ).toThrow(/one writer/);
    expect(() => writeWriterKeyFile(join(dir, "bad.json"), { kid: "bad kid", key: Buffer.alloc(32), writer: "loader" })).toThrow(/kid must match/);
  });
});
