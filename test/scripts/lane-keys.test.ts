// The local lane's dev keys (dev/lane/dev-keys.ts): created on first start into <dataDir>/keys
// (0600), kept across starts, the directory re-signed every start with a higher epoch; what the
// dev signer is given (trust config, writer key, directory) agrees with itself, and an old dev seal
// key ({kid, key}) keeps sealing the same way.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { devSignerKeyArgs, lanePaths } from "../../dev/lane/processes";
import { DEV_DIRECTORY_VALIDITY_MS, directoryKeyOf, ensureLaneKeys, signLaneDirectory } from "../../dev/lane/dev-keys";
import { readTrustConfig, verifyDirectoryAgainstTrust } from "../../cli/directory";
import { readWriterKeyFile } from "../../dev/key-files";
import { keyCommitment } from "../../wire/key-directory";
import { readSealKeyFile } from "../../enclave/seal";

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "lane-keys-"))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test("first start creates admin key, writer key, trust config and a signed directory, all 0600", async () => {
  const now = Date.parse("2026-06-01T00:00:00Z");
  const keys = await ensureLaneKeys(dir, now);
  const p = lanePaths(dir);
  for (const f of [p.adminKeyFile, p.writerKeyFile, p.trustConfigFile, p.directoryFile]) expect([f, statSync(f).mode & 0o777]).toEqual([f, 0o600]);
  expect(p.writerKeyFile).toBe(join(dir, "keys", "seal-dev.json"));
  expect(p.sealKeyFile).toBe(p.writerKeyFile);

  const admin = JSON.parse(readFileSync(p.adminKeyFile, "utf8"));
  expect(admin).toMatchObject({ kid: keys.admin.kid, privateKeyPem: expect.stringContaining("BEGIN PRIVATE KEY"), publicKey: keys.admin.publicKey });
  expect(Buffer.from(admin.publicKey, "base64")).toHaveLength(32);
  const writer = readWriterKeyFile(p.writerKeyFile);
  expect(writer.writer).toBe("loader");
  expect(JSON.parse(readFileSync(p.trustConfigFile, "utf8"))).toEqual({ lane: "local", adminKeys: [{ kid: admin.kid, publicKey: admin.publicKey }] });

  const directory = verifyDirectoryAgainstTrust(readFileSync(p.directoryFile), readTrustConfig(p.trustConfigFile), now);
  expect(directory).toMatchObject({ lane: "local", epoch: Math.floor(now / 1000), issued_at: now, expires_at: now + DEV_DIRECTORY_VALIDITY_MS });
  expect(directory.keys).toEqual([{ kid: writer.kid, writer: "loader", use: "write", commitment: keyCommitment(writer.key), sequences: ["*"] }]); // the dev writer runs every view's sequencer
  expect(devSignerKeyArgs(dir)).toEqual(["--trust-config", p.trustConfigFile, "--writer-key-file", p.writerKeyFile, "--key-directory", p.directoryFile]);
});

test("later starts keep the keys and re-sign the directory with a higher epoch", async () => {
  const first = await ensureLaneKeys(dir, 1_800_000_000_000);
  const second = await ensureLaneKeys(dir, 1_800_000_005_000);
  expect(second.admin).toEqual(first.admin);
  expect(second.writer).toEqual(first.writer);
  expect(second.epoch).toBe(first.epoch + 5);
  expect(second.directory).not.toBe(first.directory);
  expect(readFileSync(lanePaths(dir).directoryFile, "utf8")).toBe(second.directory);
});

test("an old dev seal key file ({kid, key}) keeps its kid and key, gains writer loader, and is what the directory lists", async () => {
  const p = lanePaths(dir);
  mkdirSync(join(dir, "keys"), { recursive: true });
  const key = Buffer.alloc(32, 5);
  writeFileSync(p.writerKeyFile, JSON.stringify({ kid: "dev-001122334455", key: key.toString("base64") }));
  const keys = await ensureLaneKeys(dir);
  expect(keys.writer).toEqual({ kid: "dev-001122334455", key, writer: "loader" });
  // The signer reads the same file (enclave/seal.ts readSealKeyFile) and gets the writer too.
  expect(readSealKeyFile(p.writerKeyFile)).toMatchObject({ kid: "dev-001122334455", writer: "loader" });
  expect(JSON.parse(Buffer.from(JSON.parse(keys.directory).payload, "base64").toString()).keys[0].commitment).toBe(keyCommitment(key));
});

test("a replaced admin key rewrites the trust config (the signer never pins a key that did not sign the directory)", async () => {
  await ensureLaneKeys(dir);
  const p = lanePaths(dir);
  rmSync(p.adminKeyFile);
  const again = await ensureLaneKeys(dir);
  expect(readTrustConfig(p.trustConfigFile).adminKeys).toEqual([{ kid: again.admin.kid, publicKey: again.admin.publicKey }]);
  expect(() => verifyDirectoryAgainstTrust(readFileSync(p.directoryFile), readTrustConfig(p.trustConfigFile))).not.toThrow();
});

test("signLaneDirectory: another key set and epoch (rotation / revocation tests)", async () => {
  const keys = await ensureLaneKeys(dir);
  const { epoch } = await signLaneDirectory(dir, { keys: [directoryKeyOf(keys.writer, "verify")], epoch: keys.epoch + 1 });
  const directory = verifyDirectoryAgainstTrust(readFileSync(lanePaths(dir).directoryFile), keys.trust);
  expect([directory.epoch, epoch]).toEqual([keys.epoch + 1, keys.epoch + 1]);
  expect(directory.keys.map((k) => k.use)).toEqual(["verify"]);
  await signLaneDirectory(dir, { keys: [] });
  expect(verifyDirectoryAgainstTrust(readFileSync(lanePaths(dir).directoryFile), keys.trust).keys).toEqual([]);
});
