// The admin side of the key directory: `directory sign` with a local dev admin key and with a KMS
// admin key (the KMS twin: Sign ED25519_SHA_512 RAW, GetPublicKey → trust config entry), `directory
// show` verifying against a trust config, and the refusals an enclave would make.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildProgram } from "../../cli/main";
import {
  adminKeyEntryFromKms,
  keysFromWrapped,
  kmsAdminSigner,
  parseDirectoryKeySpec,
  parseDuration,
  rawEd25519FromSpki,
  verifyDirectoryAgainstTrust,
  withSequencers,
  type TrustConfig,
} from "../../cli/directory";
import { generateAdminKey, readAdminKeyFile, writeAdminKeyFile } from "../../dev/key-files";
import { adminPublicKey, buildKeyDirectory, keyCommitment, localAdminSigner, parseSignedKeyDirectory, signKeyDirectory, verifySignedKeyDirectory } from "../../wire/key-directory";
import { FakeKms } from "../helpers/fake-kms";
import { runProgram } from "../helpers/cli";

const REGION = "eu-west-1";
const ADMIN_ARN = `arn:aws:kms:${REGION}:111122223333:key/ad000000-0000-4000-8000-000000000001`;
const SEAL_ARN = `arn:aws:kms:${REGION}:111122223333:key/5ea1c11e-0000-4000-8000-000000000002`;
const CREDS = { accessKeyId: "AKIDADMIN", secretAccessKey: "admin-secret" };
const C1 = keyCommitment(Buffer.alloc(32, 1));
const C2 = keyCommitment(Buffer.alloc(32, 2));

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), "directory-"))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** stdout of the command; its exit code stays in process.exitCode (the tests read it there). */
async function cli(args: string[]): Promise<string> {
  const run = await runProgram(buildProgram(), args);
  process.exitCode = run.code;
  return run.out;
}

describe("directory sign / show with a dev admin key", () => {
  test("a signed directory verifies against the trust config; another lane, another admin key or a changed byte do not", async () => {
    const adminFile = join(dir, "admin.json");
    const admin = generateAdminKey("admin-test");
    writeAdminKeyFile(adminFile, admin);
    expect(readAdminKeyFile(adminFile)).toEqual(admin);
    const out = join(dir, "directory.json");
    const summary = JSON.parse(
      await cli([
        "directory",
        "sign",
        "--lane",
        "prod",
        "--key",
        `w1:loader:write:${C1}`,
        "--key",
        `w0:loader:verify:${C2}`,
        "--epoch",
        "42",
        "--valid-for",
        "2d",
        "--admin-key-file",
        adminFile,
        "--out",
        out,
      ]),
    );
    expect(summary).toMatchObject({ lane: "prod", epoch: 42, kids: ["w1", "w0"] });

    const bytes = readFileSync(out);
    const trust: TrustConfig = { lane: "prod", adminKeys: [{ kid: admin.kid, publicKey: admin.publicKey }] };
    const directory = verifyDirectoryAgainstTrust(bytes, trust);
    expect(directory.keys).toEqual([
      { kid: "w1", writer: "loader", use: "write", commitment: C1 },
      { kid: "w0", writer: "loader", use: "verify", commitment: C2 },
    ]);
    expect(directory.expires_at - directory.issued_at).toBe(2 * 86_400_000);

    expect(() => verifyDirectoryAgainstTrust(bytes, { ...trust, lane: "staging" })).toThrow(/lane prod/);
    const other = generateAdminKey("admin-test");
    expect(() => verifyDirectoryAgainstTrust(bytes, { lane: "prod", adminKeys: [{ kid: other.kid, publicKey: other.publicKey }] })).toThrow(/does not verify/);
    expect(() => verifyDirectoryAgainstTrust(bytes, { lane: "prod", adminKeys: [{ kid: "someone-else", publicKey: admin.publicKey }] })).toThrow(/not an admin key pinned/);
    expect(() => verifyDirectoryAgainstTrust(bytes, trust, directory.expires_at)).toThrow(/expired/);
    expect(() => verifyDirectoryAgainstTrust(bytes, trust, directory.issued_at - 10 * 60_000)).toThrow(/issued in the future/);
    const envelope = JSON.parse(bytes.toString()) as { payload: string };
    const tampered = Buffer.from(
      JSON.stringify({
        ...JSON.parse(bytes.toString()),
        payload: Buffer.from(Buffer.from(envelope.payload, "base64").toString().replace('"verify"', '"write"')).toString("base64"),
      }),
    );
    expect(() => verifyDirectoryAgainstTrust(tampered, trust)).toThrow(/does not verify/);

    // show: decoded, verified with --trust-config; exit code 1 when an enclave would refuse it.
    const trustFile = join(dir, "trust.json");
    writeFileSync(trustFile, JSON.stringify(trust));
    const shown = JSON.parse(await cli(["directory", "show", out, "--trust-config", trustFile]));
    expect(shown).toMatchObject({ signer: admin.kid, verified: { ok: true }, directory: { lane: "prod", epoch: 42 } });
    writeFileSync(trustFile, JSON.stringify({ ...trust, lane: "staging" }));
    process.exitCode = 0;
    const refused = JSON.parse(await cli(["directory", "show", out, "--trust-config", trustFile]));
    expect(refused.verified.ok).toBe(false);
    expect(process.exitCode).toBe(1);
    process.exitCode = 0;
    expect(JSON.parse(await cli(["directory", "show", out])).verified).toMatch(/not checked/);
  });

  test("refuses what an enclave would refuse, before signing", async () => {
    expect(() => parseDirectoryKeySpec("w1:loader:admin:" + C1)).toThrow(/use must be write or verify/);
    expect(() => parseDirectoryKeySpec("w1:Loader:write:" + C1)).toThrow(/writer must match/);
    expect(() => parseDirectoryKeySpec("w1:loader:write:short")).toThrow(/43 base64url/);
    expect(() => parseDirectoryKeySpec("w1:loader:write")).toThrow(/kid:writer:use:commitment/);
    expect(() => parseDuration("32d")).toThrow(/1 s .. 31 days/);
    expect(parseDuration("12h")).toBe(12 * 3_600_000);
    expect(() => buildKeyDirectory({ lane: "prod", keys: [parseDirectoryKeySpec(`w1:loader:write:${C1}`), parseDirectoryKeySpec(`w1:loader:verify:${C2}`)] })).toThrow(
      /listed twice/,
    );
    expect(buildKeyDirectory({ lane: "prod", keys: [], issuedAt: 1_700_000_123_456 }).epoch).toBe(1_700_000_123);
    const adminFile = join(dir, "admin2.json");
    writeAdminKeyFile(adminFile, generateAdminKey("a2"));
    await expect(cli(["directory", "sign", "--lane", "prod", "--admin-key-file", adminFile, "--admin-key-kms", ADMIN_ARN])).rejects.toThrow(/exactly one/);
    // A key file whose public half is not its private key's is refused (it would sign directories no enclave takes).
    const bad = { ...generateAdminKey("a3"), publicKey: generateAdminKey("a4").publicKey };
    writeFileSync(join(dir, "bad-admin.json"), JSON.stringify(bad));
    expect(() => readAdminKeyFile(join(dir, "bad-admin.json"))).toThrow(/not the private key's/);
  });

  test("--sequencer kid=views names a write key the checkpoint sequencer of those views; the signed directory carries it", async () => {
    const keys = [parseDirectoryKeySpec(`w1:loader:write:${C1}`), parseDirectoryKeySpec(`w0:loader:verify:${C2}`)];
    expect(withSequencers(keys, ["w1=users,items"])[0]).toMatchObject({ kid: "w1", sequences: ["users", "items"] });
    expect(withSequencers(keys, ["w1=*"])[0]!.sequences).toEqual(["*"]);
    expect(withSequencers(keys, [])[0]).not.toHaveProperty("sequences");
    expect(() => withSequencers(keys, ["w9=users"])).toThrow(/no such key/);
    expect(() => withSequencers(keys, ["w1"])).toThrow(/expected kid=view/);
    expect(() => withSequencers(keys, ["w1=users", "w1=items"])).toThrow(/given twice/);
    // What an enclave would refuse is refused before signing: a verify key cannot sequence.
    expect(() => buildKeyDirectory({ lane: "prod", keys: withSequencers(keys, ["w0=users"]) })).toThrow(/only a "write" key may sequence/);
    const adminFile = join(dir, "admin-seq.json");
    writeAdminKeyFile(adminFile, generateAdminKey("admin-seq"));
    const out = join(dir, "directory-seq.json");
    await cli(["directory", "sign", "--lane", "prod", "--key", `w1:loader:write:${C1}`, "--sequencer", "w1=users", "--admin-key-file", adminFile, "--out", out]);
    expect(parseSignedKeyDirectory(readFileSync(out)).directory.keys[0]).toMatchObject({ kid: "w1", use: "write", sequences: ["users"] });
  });

  test("--from-wrapped + --commitments: the newest kid per writer writes, older ones verify", () => {
    const wrapped = join(dir, "wrapped.json");
    const blob = Buffer.alloc(64, 3).toString("base64");
    writeFileSync(
      wrapped,
      JSON.stringify({
        version: 1,
        keyArn: SEAL_ARN,
        region: REGION,
        keys: [
          { kid: "l2", writer: "loader", ciphertextBlob: blob },
          { kid: "s1", writer: "stream", ciphertextBlob: blob },
          { kid: "l1", writer: "loader", ciphertextBlob: blob },
        ],
      }),
    );
    const lines = [
      { kid: "l2", commitment: C1 },
      { kid: "s1", commitment: C2 },
      { kid: "l1", commitment: C2 },
    ]
      .map((l) => JSON.stringify(l))
      .join("\n");
    expect(keysFromWrapped(wrapped, lines).map((k) => `${k.kid}:${k.writer}:${k.use}`)).toEqual(["l2:loader:write", "s1:stream:write", "l1:loader:verify"]);
    expect(() => keysFromWrapped(wrapped, lines.split("\n").slice(0, 2).join("\n"))).toThrow(/no commitment for l1/);
  });
});

describe("KMS admin key (Ed25519 in KMS)", () => {
  const kms = new FakeKms({ region: REGION, keyArns: [SEAL_ARN], signingKeyArns: [ADMIN_ARN], attestation: () => ({}) as never });
  beforeAll(() => kms.start());
  afterAll(() => kms.stop());

  test("admin-key public gives the trust entry; directory sign --admin-key-kms signs with Sign ED25519_SHA_512 RAW; it verifies", async () => {
    const entry = await adminKeyEntryFromKms(ADMIN_ARN, { endpoint: kms.endpoint, credentials: CREDS });
    expect(entry.kid).toBe("ad000000-0000-4000-8000-000000000001");
    expect(entry.publicKey).toBe(rawEd25519FromSpki(kms.signingPublicKey(ADMIN_ARN).export({ format: "der", type: "spki" })));
    expect(Buffer.from(entry.publicKey, "base64")).toHaveLength(32);

    const directory = buildKeyDirectory({ lane: "prod", keys: [parseDirectoryKeySpec(`w1:loader:write:${C1}`)], epoch: 7 });
    const signed = await signKeyDirectory(directory, entry.kid, kmsAdminSigner(ADMIN_ARN, { endpoint: kms.endpoint, credentials: CREDS }));
    const sign = kms.calls.filter((c) => c.action === "Sign").at(-1)!;
    expect(sign.body).toMatchObject({ KeyId: ADMIN_ARN, SigningAlgorithm: "ED25519_SHA_512", MessageType: "RAW" });
    expect(verifySignedKeyDirectory(Buffer.from(signed), new Map([[entry.kid, adminPublicKey(entry)]]))).toEqual(directory);
    expect(parseSignedKeyDirectory(Buffer.from(signed)).envelope.signer).toBe(entry.kid);
  });

  test("the CLI commands against the twin; a symmetric key is not an admin key", async () => {
    const env = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: CREDS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDS.secretAccessKey });
    try {
      const entry = JSON.parse(await cli(["admin-key", "public", "--kms", ADMIN_ARN, "--kid", "prod-admin-1", "--kms-endpoint", kms.endpoint]));
      expect(entry).toEqual({ kid: "prod-admin-1", publicKey: expect.any(String) });
      const out = join(dir, "kms-directory.json");
      await cli([
        "directory",
        "sign",
        "--lane",
        "prod",
        "--key",
        `w1:loader:write:${C1}`,
        "--admin-key-kms",
        ADMIN_ARN,
        "--admin-kid",
        "prod-admin-1",
        "--kms-endpoint",
        kms.endpoint,
        "--out",
        out,
      ]);
      expect(verifyDirectoryAgainstTrust(readFileSync(out), { lane: "prod", adminKeys: [entry] }).keys.map((k) => k.kid)).toEqual(["w1"]);
      await expect(cli(["admin-key", "public", "--kms", SEAL_ARN, "--kms-endpoint", kms.endpoint])).rejects.toThrow(/symmetric/);
    } finally {
      process.env = env;
    }
  });

  test("admin-key create --dev-out: a 0600 key file whose public half is what it prints; never overwritten", async () => {
    const file = join(dir, "admin-created.json");
    const entry = JSON.parse(await cli(["admin-key", "create", "--kid", "dev-admin", "--dev-out", file]));
    expect(readAdminKeyFile(file)).toMatchObject(entry);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    await expect(cli(["admin-key", "create", "--kid", "dev-admin", "--dev-out", file])).rejects.toThrow(/exists/);
  });

  test("a local dev admin key signs the same way (localAdminSigner), and its public key is what generateAdminKey records", async () => {
    const admin = generateAdminKey("dev");
    const signed = await signKeyDirectory(buildKeyDirectory({ lane: "local", keys: [] }), admin.kid, localAdminSigner(admin.privateKeyPem));
    expect(() => verifySignedKeyDirectory(Buffer.from(signed), new Map([[admin.kid, adminPublicKey(admin)]]))).not.toThrow();
  });
});
