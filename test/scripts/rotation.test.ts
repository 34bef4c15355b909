/**
 * The writer key rotation and revocation procedure of docs/keys.md, run with the CLI against a
 * running local lane (dev signer + runtime processes), without restarting either:
 *
 *   1. writer-key create          a new key for writer loader (here a dev key file the signer holds)
 *   2. directory sign             new kid "write", old kid "verify", higher epoch; SIGHUP the runtime
 *   3. directory sign             without the old kid (revocation); SIGHUP
 *
 * Holding a key is not enough: the new key is staged from the start (the dev signer gets key
 * files only at start; the lane's first directory lists it "verify") and cannot push until a
 * directory says "write"; a verify-only kid reads but cannot push; a revoked kid neither; and the
 * host putting the older directory back does not re-admit it (the epoch only moves forward).
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBundles } from "../../dev/build";
import { LANE_BUNDLES, startLane, type Lane } from "../../dev/lane/processes";
import { buildProgram } from "../../cli/main";
import { readWriterKeyFile } from "../../dev/key-files";
import { keyCommitment, parseSignedKeyDirectory } from "../../wire/key-directory";
import { signedPush } from "../helpers/writer";
import { runProgram } from "../helpers/cli";

let lane: Lane;
let dir: string;
let newKeyFile: string;
const NOW = Date.now();

async function cli(args: string[]): Promise<string> {
  return (await runProgram(buildProgram(), args)).out;
}

const row = (entity: string) => ({ entity, event_time: NOW - 1000, features: { txn_count_1h: 1 } });
const pushAs = (keyFile: string, entity: string) => signedPush(lane.url, "merchant_risk", row(entity), keyFile);
async function readCode(entity: string): Promise<string> {
  const res = await fetch(`${lane.url}/v1/features/merchant_risk/${entity}?features=txn_count_1h`);
  const json = (await res.json()) as { error?: { code: string }; status?: Record<string, string> };
  return json.error?.code ?? json.status?.txn_count_1h ?? String(res.status);
}
/** SIGHUP makes the runtime re-read the directory file and provision the signer; wait for the effect. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`not within 5 s: ${what}`);
}
function sighupRuntime(): void {
  process.kill(lane.pids().runtime!, "SIGHUP");
}

beforeAll(async () => {
  await buildBundles(LANE_BUNDLES);
  dir = mkdtempSync(join(tmpdir(), "lane-rotation-"));
  newKeyFile = join(dir, "loader-2.json");
  await cli(["writer-key", "create", "--writer", "loader", "--kid", "loader-2", "--dev-out", newKeyFile]);
  lane = await startLane({ dataDir: join(dir, "lane"), port: 0, demoEntities: 0, quiet: true, extraWriterKeyFiles: [newKeyFile] });
}, 180_000);

afterAll(async () => {
  await lane?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("rotate: new kid writes, old kid only verifies; revoke: old kid refused; the older directory cannot come back", async () => {
  const oldKey = readWriterKeyFile(lane.writerKeyFile);
  const newKey = readWriterKeyFile(newKeyFile);
  const directoryFile = lane.keys.directoryFile;
  const startEpoch = parseSignedKeyDirectory(readFileSync(directoryFile)).directory.epoch;
  const sign = async (epoch: number, ...keys: string[]) => {
    await cli([
      "directory",
      "sign",
      "--lane",
      "local",
      ...keys.flatMap((k) => ["--key", k]),
      "--epoch",
      String(epoch),
      "--valid-for",
      "1d",
      "--admin-key-file",
      lane.keys.adminKeyFile,
      "--out",
      directoryFile,
    ]);
    // The runbook's check before publishing: an enclave with this trust config takes it.
    expect(JSON.parse(await cli(["directory", "show", directoryFile, "--trust-config", lane.keys.trustConfigFile])).verified).toEqual({ ok: true });
  };

  // Before: the old key writes; the new one is staged for "verify" only, so its push is refused.
  expect((await pushAs(lane.writerKeyFile, "r-old")).status).toBe(201);
  expect((await pushAs(newKeyFile, "r-new-early")).status).toBe(401);

  // 2. Rotation.
  await sign(startEpoch + 1, `${newKey.kid}:loader:write:${keyCommitment(newKey.key)}`, `${oldKey.kid}:loader:verify:${keyCommitment(oldKey.key)}`);
  const rotated = join(dir, "rotated-directory.json");
  copyFileSync(directoryFile, rotated);
  sighupRuntime();
  await until(async () => (await pushAs(newKeyFile, "r-new")).status === 201, "the new kid writes");
  expect((await pushAs(lane.writerKeyFile, "r-old-2")).status).toBe(401); // verify-only: no pushes
  expect(await readCode("r-old")).toBe("PRESENT"); // what it sealed still reads
  expect(await readCode("r-new")).toBe("PRESENT");

  // 3. Revocation: the old kid is no longer listed.
  await sign(startEpoch + 2, `${newKey.kid}:loader:write:${keyCommitment(newKey.key)}`);
  sighupRuntime();
  await until(async () => (await readCode("r-old")) === "seal_unknown_key", "the revoked kid's objects are refused");
  expect(await readCode("r-new")).toBe("PRESENT");
  expect((await pushAs(lane.writerKeyFile, "r-old-3")).status).toBe(401);

  // The host puts the rotated (older) directory back and re-provisions: refused, still revoked.
  copyFileSync(rotated, directoryFile);
  sighupRuntime();
  await new Promise((r) => setTimeout(r, 500));
  expect(await readCode("r-old")).toBe("seal_unknown_key");
  expect((await pushAs(lane.writerKeyFile, "r-old-4")).status).toBe(401);
  expect((await pushAs(newKeyFile, "r-new-2")).status).toBe(201);
}, 60_000);
