/**
 * The trust chain end to end on the local lane: /v1/attestation → verify the document (local dev
 * root, PCRs measured from the signer bundle that is actually running, our nonce) → take the key
 * from the document only → verify a signed read with that key.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBundles } from "../../dev/build";
import { startLane, Lane } from "../../dev/lane/processes";
import { DEMO_VIEW, demoEntityId } from "../../dev/lane/demo-data";
import { AttestationError, loadPinnedRoot, parseMeasurements, verifyAttestation } from "../../verifier/attestation";
import { measureLocalBundle } from "../../enclave/nsm/local-nsm";
import { verifyResponse } from "../../verifier/response";
import { ed25519Jwk } from "../../wire/keys";

let lane: Lane;
let dir: string;

beforeAll(async () => {
  await buildBundles(["runtime", "dev-signer", "local-store"]);
  dir = mkdtempSync(join(tmpdir(), "lane-attest-"));
  lane = await startLane({ dataDir: dir, port: 0, demoEntities: 5, quiet: true });
}, 120_000);

afterAll(async () => {
  await lane?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function attestation(nonce: Buffer) {
  const res = await fetch(`${lane.url}/v1/attestation?nonce=${nonce.toString("hex")}`);
  expect(res.status).toBe(200);
  const body = (await res.json()) as { document: string; keyid: string };
  return { document: Buffer.from(body.document, "base64"), keyid: body.keyid };
}

describe("attested signing key on the local lane", () => {
  it("binds the signer key into a fresh document; a read verifies with the document's key alone", async () => {
    const nonce = randomBytes(16);
    const { document, keyid } = await attestation(nonce);
    const measurements = parseMeasurements(measureLocalBundle(join(__dirname, "../../dist/dev-signer.js")));
    const verified = verifyAttestation(document, {
      root: loadPinnedRoot("local", join(dir, "dev-ca")),
      measurements,
      nonce: Buffer.from(nonce.toString("hex"), "utf8"),
      expectedKeyId: keyid,
    });
    expect(verified.keyId).toBe(lane.keyid);

    const target = `/v1/features/${DEMO_VIEW}/${demoEntityId(1)}`;
    const res = await fetch(`${lane.url}${target}`);
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => (headers[k] = v));
    const read = verifyResponse(
      { status: res.status, headers, body: Buffer.from(await res.arrayBuffer()) },
      { method: "GET", path: target, query: "" },
      { key: ed25519Jwk(verified.publicKey!) },
    );
    expect(read.keyid).toBe(verified.keyId);
  });

  it("rejects the document under another nonce and for a signer bundle that was changed", async () => {
    const nonce = randomBytes(16);
    const { document } = await attestation(nonce);
    const root = loadPinnedRoot("local", join(dir, "dev-ca"));
    expect(() => verifyAttestation(document, { root, measurements: "unchecked", nonce: Buffer.from("other") })).toThrow(AttestationError);
    const wrongImage = parseMeasurements({ Measurements: { HashAlgorithm: "Sha384 { ... }", PCR0: "ab".repeat(48), PCR1: "cd".repeat(48), PCR2: "ef".repeat(48) } });
    expect(() => verifyAttestation(document, { root, measurements: wrongImage })).toThrow(/PCR/);
  });

  it("refuses an oversize nonce with a JSON error", async () => {
    const res = await fetch(`${lane.url}/v1/attestation?nonce=${"x".repeat(513)}`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("bad_query");
  });
});
