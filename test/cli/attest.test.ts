import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { registerAttestCommand } from "../../cli/attest";
import { programWith, runProgram, type CliRun } from "../helpers/cli";
import { measureLocalBundle } from "../../enclave/nsm/local-nsm";
import { ed25519Jwk, keyidForRawKey, rawFromPublicKey } from "../../wire/keys";
import { localSetup } from "../enclave/nsm/fixtures";

const signerKey = rawFromPublicKey(generateKeyPairSync("ed25519").publicKey);
const keyid = keyidForRawKey(signerKey);

/** Runs `express-lane attest …` in-process; returns exit code and output. */
function attest(...args: string[]): Promise<CliRun> {
  return runProgram(programWith(registerAttestCommand), ["attest", ...args]);
}

describe("express-lane attest", () => {
  const lane = localSetup();
  let server: Server;
  let base: string;
  let claimedKeyid = keyid; // what the fake lane claims next to the document
  let lastNonce: string | null = null;

  beforeAll(async () => {
    await lane.nsm.attest({}); // the signer creates the dev CA when it first attests
    // Stands in for the runtime's GET /v1/attestation: nonce text → its UTF-8 bytes in the document.
    server = createServer((req, res) => {
      const url = new URL(req.url!, "http://x");
      lastNonce = url.searchParams.get("nonce");
      lane.nsm.attest({ publicKey: signerKey, nonce: Buffer.from(lastNonce ?? "", "utf8") }).then((doc) => {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ document: doc.toString("base64"), keyid: claimedKeyid, public_key_jwk: ed25519Jwk(signerKey) }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  afterEach(() => (claimedKeyid = keyid));

  const local = () => ["--root", "local", "--dev-ca", lane.devCaDir];

  test("fetches with a fresh nonce, verifies, prints the keyid to pin", async () => {
    const result = await attest(base, ...local(), "--local-bundle", lane.bundlePath, "--expect-keyid", keyid);
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^OK attestation verified/);
    expect(result.out).toContain(`keyid         ${keyid}`);
    expect(result.out).toContain("nothing about hardware");
    expect(result.out).toContain(`matched (${lastNonce})`);
    expect(lastNonce).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  test("--measurements with a nitro-cli file; --json output", async () => {
    const file = join(lane.dir, "measurements.json");
    writeFileSync(file, JSON.stringify(measureLocalBundle(lane.bundlePath)));
    const result = await attest(base, ...local(), "--measurements", file, "--json");
    expect(result.code).toBe(0);
    const facts = JSON.parse(result.out);
    expect(facts.keyid).toBe(keyid);
    expect(facts.pcrs.PCR0).toBe(measureLocalBundle(lane.bundlePath).Measurements.PCR0);
  });

  test("fails (exit 1) when the server's keyid is not the document's key", async () => {
    claimedKeyid = keyidForRawKey(Buffer.alloc(32, 7));
    const result = await attest(base, ...local(), "--local-bundle", lane.bundlePath);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/^FAIL PUBLIC_KEY_MISMATCH: server says keyid/);
  });

  test("fails with --expect-keyid of another key, with the AWS root, and with other PCRs", async () => {
    const other = keyidForRawKey(Buffer.alloc(32, 8));
    expect((await attest(base, ...local(), "--local-bundle", lane.bundlePath, "--expect-keyid", other)).err).toMatch(/PUBLIC_KEY_MISMATCH/);
    expect((await attest(base, "--local-bundle", lane.bundlePath)).err).toMatch(/UNTRUSTED_ROOT/);
    const v2 = join(lane.dir, "signer-v2.js");
    writeFileSync(v2, "console.log('v2')\n");
    const result = await attest(base, ...local(), "--local-bundle", v2);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/PCR_MISMATCH/);
  });

  test("a saved document: base64, JSON or CBOR; the nonce is enforced", async () => {
    const doc = await lane.nsm.attest({ publicKey: signerKey, nonce: Buffer.from("n-123") });
    const cbor = join(lane.dir, "doc.cbor");
    writeFileSync(cbor, doc);
    const b64 = join(lane.dir, "doc.b64");
    writeFileSync(b64, doc.toString("base64") + "\n");
    const json = join(lane.dir, "doc.json");
    writeFileSync(json, JSON.stringify({ document: doc.toString("base64"), keyid }));
    for (const file of [cbor, b64, json]) {
      const ok = await attest("--document", file, ...local(), "--any-pcrs", "--nonce", "n-123");
      expect(ok.code).toBe(0);
      expect(ok.out).toContain("NOT CHECKED (--any-pcrs)");
    }
    expect((await attest("--document", cbor, ...local(), "--any-pcrs", "--nonce", "n-124")).err).toMatch(/NONCE_MISMATCH/);
    const noNonce = await attest("--document", cbor, ...local(), "--any-pcrs");
    expect(noNonce.out).toContain("may be replayed");
  });

  test("refuses ambiguous PCR policy and missing input", async () => {
    await expect(attest(base, ...local())).rejects.toThrow(/exactly one of/);
    await expect(attest(base, ...local(), "--any-pcrs", "--local-bundle", lane.bundlePath)).rejects.toThrow(/exactly one of/);
    await expect(attest(...local(), "--any-pcrs")).rejects.toThrow(/URL or --document/);
  });

  test("debug-mode documents need --allow-debug", async () => {
    const debug = localSetup(undefined, { debug: true });
    const file = join(debug.dir, "debug.cbor");
    writeFileSync(file, await debug.nsm.attest({ publicKey: signerKey }));
    const args = ["--document", file, "--root", "local", "--dev-ca", debug.devCaDir, "--any-pcrs"];
    expect((await attest(...args)).err).toMatch(/DEBUG_MODE/);
    const allowed = await attest(...args, "--allow-debug");
    expect(allowed.code).toBe(0);
    expect(allowed.out).toContain("debug mode    YES");
  });
});
