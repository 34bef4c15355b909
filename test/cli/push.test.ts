/**
 * `express-lane push` and `express-lane load` as writers against a running local lane: pushes are
 * signed with the dev writer key (≤ 100 rows per request) and every answer is verified against the
 * pinned signer key with the request body; a wrong pin, a key the directory does not list, or a
 * key file without a writer are refused. The CLI runs in-process (buildProgram), the lane as
 * processes (dist/dev-signer.js with the lane's trust config and signed directory).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBundles } from "../../dev/build";
import { LANE_BUNDLES, startLane, Lane } from "../../dev/lane/processes";
import { buildProgram } from "../../cli/main";
import { push, readPushRows, signedPushRequest } from "../../cli/push";
import { generateWriterKey, readWriterKeyFile, writeWriterKeyFile } from "../../dev/key-files";
import { jwkThumbprint, type Ed25519Jwk } from "../../wire/keys";
import { parseWriterSignature } from "../../wire/writer-auth";

let lane: Lane;
let dir: string;
let jwk: Ed25519Jwk;
const NOW = Date.now();

async function cli(args: string[]): Promise<{ out: string; exitCode: number }> {
  const printed: string[] = [];
  const write = jest.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => (printed.push(String(s)), true));
  process.exitCode = 0;
  try {
    await buildProgram().parseAsync(args, { from: "user" });
  } finally {
    write.mockRestore();
  }
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { out: printed.join(""), exitCode };
}

const row = (entity: string, txn: number, dt = 1000) => ({ entity, event_time: NOW - dt, features: { txn_count_1h: txn, category: "pushed" } });

beforeAll(async () => {
  await buildBundles(LANE_BUNDLES);
  dir = mkdtempSync(join(tmpdir(), "lane-push-"));
  lane = await startLane({ dataDir: dir, port: 0, demoEntities: 0, quiet: true });
  for (let i = 0; i < 200 && !jwk; i++) {
    const res = await fetch(`${lane.url}/v1/signer`);
    if (res.status === 200) jwk = ((await res.json()) as { jwk: Ed25519Jwk }).jwk;
    else await new Promise((r) => setTimeout(r, 25));
  }
  if (!jwk) throw new Error("signer key never became available");
}, 180_000);

afterAll(async () => {
  await lane?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("signed push requests", () => {
  test("what push sends is what the enclave's parser accepts: base rebuilt from the request, digest of the body", () => {
    const key = readWriterKeyFile(lane.writerKeyFile);
    const req = signedPushRequest("merchant_risk", { rows: [row("a", 1)] }, key);
    expect(req.path).toBe("/v1/features/merchant_risk/_push");
    const parsed = parseWriterSignature(
      { method: "POST", path: req.path, query: "", contentType: req.headers["content-type"], body: req.body },
      { signatureInput: req.headers["signature-input"], signature: req.headers.signature, contentDigest: req.headers["content-digest"] },
      Math.floor(Date.now() / 1000),
    );
    expect(parsed.kid).toBe(key.kid);
    expect(parsed.nonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
    // Another body under the same headers: refused before any key is looked at.
    expect(() =>
      parseWriterSignature(
        { method: "POST", path: req.path, query: "", contentType: "application/json", body: Buffer.from("{}") },
        { signatureInput: req.headers["signature-input"], signature: req.headers.signature, contentDigest: req.headers["content-digest"] },
        Math.floor(Date.now() / 1000),
      ),
    ).toThrow(/Content-Digest/);
    expect(signedPushRequest("merchant_risk", row("b", 1), key).path).toBe("/v1/features/merchant_risk");
    // Two requests never share a nonce.
    expect(signedPushRequest("v", { rows: [] }, key).headers["signature-input"]).not.toBe(signedPushRequest("v", { rows: [] }, key).headers["signature-input"]);
  });
});

describe("express-lane push", () => {
  test("250 rows go as 3 signed requests (≤ 100 rows each); answers verified with the pinned key and the request body", async () => {
    const file = join(dir, "rows.jsonl");
    writeFileSync(file, Array.from({ length: 250 }, (_, i) => JSON.stringify(row(`p-${i}`, i))).join("\n") + "\n");
    const results = join(dir, "results.jsonl");
    const r = await cli(["push", file, "--url", lane.url, "--view", "merchant_risk", "--writer-key-file", lane.writerKeyFile, "--key", jwkThumbprint(jwk), "--results", results]);
    if (r.exitCode !== 0) console.log(r.out);
    expect(r.exitCode).toBe(0);
    expect(r.out).toMatch(/250 rows in 3 signed requests as loader/);
    expect(r.out).toMatch(/written 250 {2}unchanged 0 {2}skipped as older 0 {2}rejected 0/);
    expect(r.out).toMatch(/answers verified against the pinned signer key; written_by loader/);
    const lines = readFileSync(results, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { entity: string; written_by: string; object_digest: string });
    expect(lines).toHaveLength(250);
    expect(lines.every((l) => l.written_by === "loader" && typeof l.object_digest === "string")).toBe(true);

    // The same file again: unchanged (the enclave sealed the same objects); an older row is skipped.
    const again = await push({ url: lane.url, view: "merchant_risk", key: readWriterKeyFile(lane.writerKeyFile), rows: readPushRows(file), pinned: [jwk] });
    expect(again).toMatchObject({ requests: 3, unchanged: 250, failed: 0, verified: true });
    // An older row is sealed but not stored (newer event time wins: skipped_older); a row with an
    // unknown feature is rejected on its own.
    const codes: string[] = [];
    const older = await push({
      url: lane.url,
      view: "merchant_risk",
      key: readWriterKeyFile(lane.writerKeyFile),
      rows: [row("p-1", 99, 5000), { entity: "p-bad", event_time: NOW, features: { nope: 1 } }],
      pinned: [jwk],
      onResult: (r) => codes.push(r.error?.code ?? r.result),
    });
    // Newer wins, per row: the older row is refused with a row error (issue #13), not silently skipped.
    expect(older).toMatchObject({ requests: 1, skipped_older: 0, rejected: 2, failed: 0, verified: true });
    expect(codes).toEqual(["older_than_stored", "unknown_feature"]);
  });

  test("a wrong pin is refused before anything is sent; an answer for a pinned key set it is not in does not verify", async () => {
    const file = join(dir, "one.jsonl");
    writeFileSync(file, JSON.stringify(row("p-pin", 1)) + "\n");
    await expect(cli(["push", file, "--url", lane.url, "--view", "merchant_risk", "--writer-key-file", lane.writerKeyFile, "--key", "A".repeat(43)])).rejects.toThrow(
      /the lane's signer key is .*, pinned: A{43}/,
    );
    await expect(cli(["push", file, "--url", lane.url, "--view", "merchant_risk", "--writer-key-file", lane.writerKeyFile, "--key", "not-a-key"])).rejects.toThrow(
      /neither a JWK file nor a keyid/,
    );
    const otherKey = { ...jwk, x: Buffer.alloc(32, 1).toString("base64url") };
    const s = await push({ url: lane.url, view: "merchant_risk", key: readWriterKeyFile(lane.writerKeyFile), rows: [row("p-pin", 2)], pinned: [otherKey] });
    expect(s).toMatchObject({ failed: 1, verified: false });
    expect(s.errors[0]!.code).toMatch(/^unverified_/);
  });

  test("--key <jwk file> pins the key itself (saved from /v1/signer or an attestation)", async () => {
    const jwkFile = join(dir, "signer.jwk");
    writeFileSync(jwkFile, JSON.stringify(jwk));
    const file = join(dir, "jwk-pinned.jsonl");
    writeFileSync(file, JSON.stringify(row("p-jwk", 1)) + "\n");
    const r = await cli(["push", file, "--url", lane.url, "--view", "merchant_risk", "--writer-key-file", lane.writerKeyFile, "--key", jwkFile]);
    expect([r.exitCode, /answers verified against the pinned signer key/.test(r.out)]).toEqual([0, true]);
  });

  test("without a pin the summary says the answers were not verified", async () => {
    const file = join(dir, "unpinned.jsonl");
    writeFileSync(file, JSON.stringify(row("p-unpinned", 1)) + "\n");
    const r = await cli(["push", file, "--url", lane.url, "--view", "merchant_risk", "--writer-key-file", lane.writerKeyFile]);
    expect(r.out).toMatch(/not verified \(no --key pinned\)/);
    expect(r.out).toMatch(/written 1/);
  });

  test("a writer key the lane's directory does not list is refused by the signer (401), nothing written", async () => {
    const rogueFile = join(dir, "rogue.json");
    writeWriterKeyFile(rogueFile, generateWriterKey("loader", "rogue"));
    const file = join(dir, "rogue.jsonl");
    writeFileSync(file, JSON.stringify(row("p-rogue", 1)) + "\n");
    const r = await cli(["push", file, "--url", lane.url, "--view", "merchant_risk", "--writer-key-file", rogueFile, "--key", jwkThumbprint(jwk)]);
    expect(r.exitCode).toBe(1);
    expect(r.out).toMatch(/failed 1/);
    expect(r.out).toMatch(/request 0: 401 writer_key_unknown/);
    expect((await fetch(`${lane.url}/v1/features/merchant_risk/p-rogue`)).status).toBe(404);
  });
});

describe("express-lane load with writer keys", () => {
  test("refuses a key file without a writer; seals with the lane's writer key", async () => {
    const file = join(dir, "load.jsonl");
    writeFileSync(file, JSON.stringify({ merchant_id: "l-1", event_time: NOW - 1000, txn_count_1h: 3 }) + "\n");
    const old = join(dir, "old-seal.json");
    const { kid, key } = readWriterKeyFile(lane.writerKeyFile);
    writeFileSync(old, JSON.stringify({ kid, key: key.toString("base64") }));
    const store = ["--endpoint", lane.storeEndpoint, "--bucket", lane.bucket, "--no-progress"];
    await expect(cli(["load", file, "--view", "merchant_risk", ...store, "--writer-key-file", old])).rejects.toThrow(/names no writer/);
    const ok = await cli(["load", file, "--view", "merchant_risk", ...store, "--writer-key-file", lane.writerKeyFile]);
    expect(ok.out).toMatch(/written 1/);
    const res = await fetch(`${lane.url}/v1/features/merchant_risk/l-1`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { written_by?: string }).written_by).toBe("loader");
  });
});
