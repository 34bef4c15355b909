// Production seal keys, end to end against a local KMS twin: a signer on the (local) NSM with a
// pinned seal KMS config starts with no seal keys, the host provisions KMS-wrapped keys over the
// frame protocol, the signer unwraps them with its attestation, then signs PRESENT reads.
import { randomBytes } from "node:crypto";
import { Signer } from "../../enclave/signer";
import { attestedSealKeyUnwrap, parseSealKmsConfig, SealKeyProvisioner, type SealKmsConfig } from "../../enclave/seal-provisioning";
import { SealKeyring } from "../../enclave/seal";
import { decodePayload, encodeFrame, ErrorReply, FrameKind, ProvisionSealKeysRequest, ProvisionSealKeysResponse, SignedResponse } from "../../wire/frames";
import { defineRegistry } from "../../wire/registry";
import { sealKeyEncryptionContext } from "../../wire/seal-keys";
import { FakeKms } from "../helpers/fake-kms";
import { localSetup } from "./nsm/fixtures";

const NOW = 1_800_000_000_000;
const REGION = "ap-south-1";
const SEAL_ARN = `arn:aws:kms:${REGION}:111122223333:key/0b5e1a1e-0000-4000-8000-5ea15ea15ea1`;
const OTHER_ARN = `arn:aws:kms:${REGION}:111122223333:key/0the0000-0000-4000-8000-000000000000`;
const HOST = { accessKeyId: "ASIAHOSTROLE", secretAccessKey: "host-secret", sessionToken: "host-session-token" };

const registry = defineRegistry([
  { name: "users", entityKey: "user_id", owner: "tests", description: "seal provisioning", ttlSeconds: 3600, features: [{ name: "a", type: "int" }] },
]);

/** A writer's data key: GenerateDataKey under `arn` with the seal encryption context. */
function writerKey(kms: FakeKms, kid: string, arn = SEAL_ARN) {
  const key = randomBytes(32);
  return { kid, key, ciphertextBlob: kms.wrap(arn, key, sealKeyEncryptionContext(kid)) };
}

async function call<T>(signer: Signer, kind: FrameKind, message: unknown): Promise<{ ok: true; value: T } | { ok: false; error: ErrorReply }> {
  const frame = encodeFrame(1, kind, message);
  const reply = (await signer.handle({ id: 1, kind, payload: frame.subarray(9) })) as Buffer;
  const decoded = { id: 1, kind: reply.readUInt8(8) as FrameKind, payload: reply.subarray(9) };
  return decoded.kind === FrameKind.Reply ? { ok: true, value: decodePayload<T>(decoded) } : { ok: false, error: decodePayload<ErrorReply>(decoded) };
}

function read(signer: Signer, object: Buffer | null) {
  return signer.signRead({ method: "GET", path: "/v1/features/users/u1", query: "", objects: [object] }) as SignedResponse;
}
const bodyOf = (s: SignedResponse) => JSON.parse(Buffer.from(s.body).toString()) as { found: boolean; status?: Record<string, string>; error?: { code: string } };

describe("seal keys provisioned through the frame protocol, unwrapped with attestation", () => {
  const lane = localSetup();
  const kms = new FakeKms({ region: REGION, keyArns: [SEAL_ARN, OTHER_ARN], attestation: () => ({ root: lane.root(), measurements: lane.measurements() }) });
  let config: SealKmsConfig;
  let signer: Signer;
  const k1 = writerKey(kms, "prod-2026a");
  const sealedByK1 = (entity = "u1") =>
    new SealKeyring([{ kid: k1.kid, key: k1.key }]).seal({ view: "users", entity, event_time: NOW - 5000, written_time: NOW - 1000, features: { a: 7 } });
  const provision = (wrapped: { kid: string; ciphertextBlob: Buffer }[], extra: Partial<ProvisionSealKeysRequest> = {}) =>
    call<ProvisionSealKeysResponse>(signer, FrameKind.ProvisionSealKeys, { region: REGION, credentials: HOST, wrapped: wrapped.map(({ kid, ciphertextBlob }) => ({ kid, ciphertextBlob })), ...extra });

  beforeAll(async () => {
    await kms.start();
    config = parseSealKmsConfig(JSON.stringify({ keyArn: SEAL_ARN, region: REGION, endpoint: kms.endpoint }));
    signer = new Signer({ now: () => NOW, registry, sealProvisioner: new SealKeyProvisioner(config, attestedSealKeyUnwrap(config, lane.nsm)) });
  });
  afterAll(() => kms.stop());
  beforeEach(() => {
    kms.calls.length = 0;
    kms.behaviour = "honest";
  });

  test("starts without seal keys: stored objects are refused (seal_key_unavailable), never PRESENT", () => {
    expect(signer.sealKids).toEqual([]);
    expect(bodyOf(read(signer, sealedByK1())).error?.code).toBe("seal_key_unavailable");
  });

  test("provision → one attested Decrypt under the pinned key with {purpose, kid} → PRESENT read", async () => {
    const r = await provision([k1]);
    expect(r).toEqual({ ok: true, value: { kids: [k1.kid], activeKid: k1.kid, unwrapped: [k1.kid], keyArn: SEAL_ARN } });
    expect(kms.calls).toHaveLength(1);
    const c = kms.calls[0]!;
    expect(c.action).toBe("Decrypt");
    expect(c.headers["x-amz-target"]).toBe("TrentService.Decrypt");
    expect(c.headers.host).toBe(`kms.${REGION}.amazonaws.com`);
    expect(c.accessKeyId).toBe(HOST.accessKeyId);
    expect(c.headers["x-amz-security-token"]).toBe(HOST.sessionToken);
    expect(c.body.KeyId).toBe(SEAL_ARN);
    expect(c.body.EncryptionContext).toEqual({ purpose: "express-lane-seal", kid: k1.kid });
    expect((c.body.Recipient as { KeyEncryptionAlgorithm: string }).KeyEncryptionAlgorithm).toBe("RSAES_OAEP_SHA_256");

    const signed = read(signer, sealedByK1());
    expect(signed.status).toBe(200);
    expect(bodyOf(signed)).toMatchObject({ found: true, status: { a: "PRESENT" } });
  });

  test("re-provisioning the same keys is idempotent: no KMS call", async () => {
    const r = await provision([k1]);
    expect(r).toMatchObject({ ok: true, value: { kids: [k1.kid], unwrapped: [] } });
    expect(kms.calls).toHaveLength(0);
  });

  test("rotation: a new kid first becomes active; the old one still verifies", async () => {
    const k2 = writerKey(kms, "prod-2026b");
    const r = await provision([k2, k1]);
    expect(r).toMatchObject({ ok: true, value: { kids: [k2.kid, k1.kid], activeKid: k2.kid, unwrapped: [k2.kid] } });
    expect(kms.calls).toHaveLength(1);
    expect(bodyOf(read(signer, sealedByK1()))).toMatchObject({ found: true });
    const pushed = signer.sealWrite({ method: "POST", path: "/v1/features/users", query: "", contentType: "application/json", body: Buffer.from(JSON.stringify({ rows: [{ user_id: "u9", event_time: new Date(NOW - 10).toISOString(), a: 1 }] })) });
    expect(pushed.kid).toBe(k2.kid);
    // back to k1 only for the rest of the suite
    await provision([k1]);
  });

  test("a wrapped key under another KMS key is refused, and the keys held stay", async () => {
    const foreign = writerKey(kms, "prod-foreign", OTHER_ARN);
    const r = await provision([foreign, k1]);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatchObject({ code: "seal_unwrap_failed", status: 502 });
    expect(!r.ok && r.error.message).toMatch(/IncorrectKeyException/);
    expect(signer.sealKids).toEqual([k1.kid]);
    expect(bodyOf(read(signer, sealedByK1()))).toMatchObject({ found: true });
  });

  test("a KMS answer naming another key, or no key, is refused", async () => {
    kms.behaviour = "wrong-key-id";
    const r = await provision([writerKey(kms, "prod-c")]);
    expect(!r.ok && r.error.message).toMatch(/decrypted with arn:aws:kms:.*0the0000.*, not arn:aws:kms/);
    kms.behaviour = "no-key-id";
    const r2 = await provision([writerKey(kms, "prod-d")]);
    expect(!r2.ok && r2.error.message).toMatch(/an unnamed key/);
    expect(signer.sealKids).toEqual([k1.kid]);
  });

  test("a Decrypt response with Plaintext instead of CiphertextForRecipient is refused", async () => {
    kms.behaviour = "plaintext-for-recipient";
    const r = await provision([writerKey(kms, "prod-e")]);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatchObject({ code: "seal_unwrap_failed" });
    expect(!r.ok && r.error.message).toMatch(/Plaintext/);
    expect(signer.sealKids).toEqual([k1.kid]);
  });

  test("a blob relabelled under another kid does not open (the kid is in the encryption context)", async () => {
    const k3 = writerKey(kms, "prod-f");
    const r = await provision([{ kid: "prod-relabelled", ciphertextBlob: k3.ciphertextBlob }]);
    expect(!r.ok && r.error.message).toMatch(/InvalidCiphertextException/);
  });

  test("an attestation from another image is refused by the key policy", async () => {
    const other = localSetup("console.log('a different signer');\n");
    const otherConfig = { ...config };
    const impostor = new Signer({ now: () => NOW, registry, sealProvisioner: new SealKeyProvisioner(otherConfig, attestedSealKeyUnwrap(otherConfig, other.nsm)) });
    const frame = encodeFrame(1, FrameKind.ProvisionSealKeys, { credentials: HOST, wrapped: [{ kid: k1.kid, ciphertextBlob: k1.ciphertextBlob }] });
    const reply = (await impostor.handle({ id: 1, kind: FrameKind.ProvisionSealKeys, payload: frame.subarray(9) })) as Buffer;
    expect(reply.readUInt8(8)).toBe(FrameKind.Error);
    expect(decodePayload<ErrorReply>({ id: 1, kind: FrameKind.Error, payload: reply.subarray(9) }).message).toMatch(/AccessDenied/);
    expect(impostor.sealKids).toEqual([]);
  });

  test("malformed requests and a region other than the pinned one are refused before KMS", async () => {
    for (const bad of [
      { credentials: HOST, wrapped: [] },
      { credentials: {}, wrapped: [{ kid: "x", ciphertextBlob: Buffer.from([1]) }] },
      { credentials: HOST, wrapped: [{ kid: "bad kid!", ciphertextBlob: Buffer.from([1]) }] },
      { credentials: HOST, wrapped: [{ kid: "x", ciphertextBlob: "base64?" }] },
      { region: "us-east-1", credentials: HOST, wrapped: [{ kid: "x", ciphertextBlob: Buffer.from([1]) }] },
      "junk",
    ]) {
      const r = await call(signer, FrameKind.ProvisionSealKeys, bad);
      expect(!r.ok && r.error).toMatchObject({ code: "bad_provisioning", status: 400 });
    }
    expect(kms.calls).toHaveLength(0);
  });

  test("a signer without a pinned seal KMS config refuses provisioning", async () => {
    const plain = new Signer({ now: () => NOW, registry });
    const r = await call(plain, FrameKind.ProvisionSealKeys, { credentials: HOST, wrapped: [{ kid: k1.kid, ciphertextBlob: k1.ciphertextBlob }] });
    expect(!r.ok && r.error.code).toBe("seal_provisioning_disabled");
  });
});

describe("parseSealKmsConfig", () => {
  test("accepts a key ARN with its region; refuses aliases, region mismatches, unknown fields", () => {
    expect(parseSealKmsConfig(JSON.stringify({ keyArn: SEAL_ARN, region: REGION }))).toEqual({ keyArn: SEAL_ARN, region: REGION });
    expect(() => parseSealKmsConfig(JSON.stringify({ keyArn: `arn:aws:kms:${REGION}:111122223333:alias/lane-seal`, region: REGION }))).toThrow(/key ARN/);
    expect(() => parseSealKmsConfig(JSON.stringify({ keyArn: SEAL_ARN, region: "us-east-1" }))).toThrow(/region/);
    expect(() => parseSealKmsConfig(JSON.stringify({ keyArn: SEAL_ARN, region: REGION, extra: 1 }))).toThrow(/unknown field/);
  });
});
