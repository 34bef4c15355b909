// Production key provisioning, end to end against a local KMS twin: a signer on the (local) NSM
// with a pinned seal KMS config starts with no key directory; the host provisions the admin-signed
// directory and KMS-wrapped writer keys over the frame protocol; the signer unwraps exactly the
// listed kids with its attestation, checks each against the directory's commitment, then signs
// PRESENT reads naming the writer.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { Signer } from "../../enclave/signer";
import { attestedLaneKeyUnwrap, attestedSealKeyUnwrap, KeyProvisioner, parseSealKmsConfig, type SealKmsConfig } from "../../enclave/key-provisioning";
import { LaneKeys } from "../../enclave/lane-keys";
import { receivedFromSigned, verifyResponse } from "../../verifier/response";
import { verifyAttestation } from "../../verifier/attestation";
import { laneKeyEncryptionContext, laneKeysJwks, laneKidOf } from "../../wire/lane-key";
import { KeyState } from "../../enclave/key-state";
import { SealKeyring } from "../../enclave/seal";
import { decodeErrorReply, decodeProvisionKeysResponse, encodeFrame, ErrorReply, FrameKind, ProvisionKeysResponse, SignedResponse } from "../../wire/frames";
import { defineRegistry } from "../../wire/registry";
import { sealKeyEncryptionContext } from "../../wire/seal-keys";
import { FakeKms } from "../helpers/fake-kms";
import { directoryOf, listed, testAdmin, testWriterKey, type TestWriterKey } from "../helpers/key-directory";
import { localSetup } from "./nsm/fixtures";

const NOW = 1_800_000_000_000;
const REGION = "ap-south-1";
const SEAL_ARN = `arn:aws:kms:${REGION}:111122223333:key/0b5e1a1e-0000-4000-8000-5ea15ea15ea1`;
const OTHER_ARN = `arn:aws:kms:${REGION}:111122223333:key/0the0000-0000-4000-8000-000000000000`;
const HOST = { accessKeyId: "ASIAHOSTROLE", secretAccessKey: "host-secret", sessionToken: "host-session-token" };

const registry = defineRegistry([
  { name: "users", entityKey: "user_id", owner: "tests", description: "key provisioning", ttlSeconds: 3600, features: [{ name: "a", type: "int" }] },
]);

async function call(signer: Signer, message: unknown): Promise<{ ok: true; value: ProvisionKeysResponse } | { ok: false; error: ErrorReply }> {
  const frame = encodeFrame(1, FrameKind.ProvisionKeys, message);
  const reply = (await signer.handle({ id: 1, kind: FrameKind.ProvisionKeys, payload: frame.subarray(9) }, "provision")) as Buffer;
  const kind = reply.readUInt8(8) as FrameKind;
  return kind === FrameKind.Reply ? { ok: true, value: decodeProvisionKeysResponse(reply.subarray(9)) } : { ok: false, error: decodeErrorReply(reply.subarray(9)) };
}

const read = (signer: Signer, object: Buffer | null) => signer.signRead({ method: "GET", path: "/v1/features/users/u1", query: "", objects: [object] }) as SignedResponse;
const bodyOf = (s: SignedResponse) =>
  JSON.parse(Buffer.from(s.body).toString()) as { found: boolean; written_by?: string; status?: Record<string, string>; error?: { code: string } };

describe("key directory and writer keys provisioned through the frame protocol, unwrapped with attestation", () => {
  const lane = localSetup();
  const admin = testAdmin();
  const kms = new FakeKms({ region: REGION, keyArns: [SEAL_ARN, OTHER_ARN], attestation: () => ({ root: lane.root(), measurements: lane.measurements() }) });
  let config: SealKmsConfig;
  let signer: Signer;
  const k1 = testWriterKey("loader");
  const wrap = (k: TestWriterKey, arn = SEAL_ARN, context = sealKeyEncryptionContext(k.kid, k.writer)) => ({ kid: k.kid, ciphertextBlob: kms.wrap(arn, k.key, context) });
  const sealedBy = (k: TestWriterKey, eventTime = NOW - 5000) =>
    new SealKeyring([k]).seal({ view: "users", entity: "u1", event_time: eventTime, written_time: NOW - 1000, features: { a: 7 } });
  let epoch = 100;
  const provision = async (keys: TestWriterKey[], wrapped: { kid: string; ciphertextBlob: Buffer }[], extra: Record<string, unknown> = {}) =>
    call(signer, {
      directory: await admin.sign(
        directoryOf(
          "test",
          ++epoch,
          NOW,
          keys.map((k) => listed(k)),
        ),
      ),
      region: REGION,
      credentials: HOST,
      wrapped,
      ...extra,
    });

  beforeAll(async () => {
    await kms.start();
    config = parseSealKmsConfig({ keyArn: SEAL_ARN, region: REGION, endpoint: kms.endpoint });
    const state = new KeyState({ lane: "test", adminKeys: [admin.entry] }, () => NOW);
    signer = new Signer({ now: () => NOW, registry, provisioner: new KeyProvisioner(state, { config, unwrap: attestedSealKeyUnwrap(config, lane.nsm) }) });
  });
  afterAll(() => kms.stop());
  beforeEach(() => {
    kms.calls.length = 0;
    kms.behaviour = "honest";
  });

  test("starts without a directory: stored objects are refused, never PRESENT", () => {
    expect(signer.sealKids).toEqual([]);
    expect(bodyOf(read(signer, sealedBy(k1))).error?.code).toBe("seal_key_unavailable");
  });

  test("provision → one attested Decrypt under the pinned key with {purpose, kid, writer} → PRESENT read naming the writer", async () => {
    const r = await provision([k1], [wrap(k1)]);
    expect(r).toMatchObject({ ok: true, value: { lane: "test", kids: [k1.kid], missing: [], unwrapped: [k1.kid] } });
    expect(kms.calls).toHaveLength(1);
    const c = kms.calls[0]!;
    expect(c.action).toBe("Decrypt");
    expect(c.headers.host).toBe(`kms.${REGION}.amazonaws.com`);
    expect(c.accessKeyId).toBe(HOST.accessKeyId);
    expect(c.body.KeyId).toBe(SEAL_ARN);
    expect(c.body.EncryptionContext).toEqual({ purpose: "express-lane-seal", kid: k1.kid, writer: "loader" });
    expect(c.body.Recipient).toMatchObject({ KeyEncryptionAlgorithm: "RSAES_OAEP_SHA_256" });
    const body = bodyOf(read(signer, sealedBy(k1)));
    expect(body.status).toEqual({ a: "PRESENT" });
    expect(body.written_by).toBe("loader");
  });

  test("re-provisioning a newer directory with the same key is idempotent: no KMS call", async () => {
    expect((await provision([k1], [wrap(k1)])).ok).toBe(true);
    expect(kms.calls).toHaveLength(0);
  });

  test("a blob of another key under a listed kid fails the commitment: the kid stays missing", async () => {
    const k2 = testWriterKey("loader");
    const forged = { kid: k2.kid, ciphertextBlob: kms.wrap(SEAL_ARN, randomBytes(32), sealKeyEncryptionContext(k2.kid, "loader")) };
    const r = await provision([k1, k2], [wrap(k1), forged]);
    expect(r).toMatchObject({ ok: true, value: { kids: [k1.kid], missing: [k2.kid] } });
    expect(bodyOf(read(signer, sealedBy(k2))).error?.code).toBe("seal_unknown_key");
  });

  test("a blob relabelled under another writer, or under another KMS key, does not open", async () => {
    const k3 = testWriterKey("other");
    const relabelled = { kid: k3.kid, ciphertextBlob: kms.wrap(SEAL_ARN, k3.key, sealKeyEncryptionContext(k3.kid, "loader")) };
    expect(await provision([k1, k3], [wrap(k1), relabelled])).toMatchObject({ ok: true, value: { missing: [k3.kid] } });
    expect(await provision([k1, k3], [wrap(k1), wrap(k3, OTHER_ARN)])).toMatchObject({ ok: true, value: { missing: [k3.kid] } });
  });

  test("a KMS answer with Plaintext instead of CiphertextForRecipient, or naming another key, leaves the kid missing", async () => {
    const k4 = testWriterKey("loader");
    for (const behaviour of ["plaintext-for-recipient", "wrong-key-id", "no-key-id"] as const) {
      kms.behaviour = behaviour;
      expect(await provision([k1, k4], [wrap(k1), wrap(k4)])).toMatchObject({ ok: true, value: { kids: [k1.kid], missing: [k4.kid] } });
    }
  });

  test("an attestation from another image is refused by the key policy", async () => {
    const other = localSetup("console.log('a different signer');\n");
    const state = new KeyState({ lane: "test", adminKeys: [admin.entry] }, () => NOW);
    const impostor = new Signer({ now: () => NOW, registry, provisioner: new KeyProvisioner(state, { config, unwrap: attestedSealKeyUnwrap(config, other.nsm) }) });
    const r = await call(impostor, { directory: await admin.sign(directoryOf("test", 1, NOW, [listed(k1)])), region: REGION, credentials: HOST, wrapped: [wrap(k1)] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toMatch(/AccessDenied/);
    expect(impostor.sealKids).toEqual([]);
  });

  test("a region other than the pinned one, or wrapped keys without credentials, are refused before KMS", async () => {
    expect(await provision([k1], [wrap(k1)], { region: "us-east-1" })).toMatchObject({ ok: false, error: { code: "bad_provisioning" } });
    expect(await provision([k1], [wrap(k1)], { credentials: undefined })).toMatchObject({ ok: false });
    expect(kms.calls).toHaveLength(0);
  });

  test("a signer without a pinned seal KMS config refuses wrapped keys", async () => {
    const state = new KeyState({ lane: "test", adminKeys: [admin.entry] }, () => NOW);
    const plain = new Signer({ now: () => NOW, registry, provisioner: new KeyProvisioner(state) });
    const r = await call(plain, { directory: await admin.sign(directoryOf("test", 1, NOW, [listed(k1)])), credentials: HOST, wrapped: [wrap(k1)] });
    expect(r).toMatchObject({ ok: false, error: { code: "kms_provisioning_disabled" } });
  });

  test("the sealKms config: a key ARN with its region; refuses aliases, region mismatches, unknown fields", () => {
    expect(() => parseSealKmsConfig({ keyArn: "alias/express-lane-seal", region: REGION })).toThrow(/KMS key ARN/);
    expect(() => parseSealKmsConfig({ keyArn: SEAL_ARN, region: "us-east-1" })).toThrow(/region/);
    expect(() => parseSealKmsConfig({ keyArn: SEAL_ARN, region: REGION, extra: 1 })).toThrow(/unknown field/);
  });
});

describe("lane signing keys: one trust anchor for every enclave of the lane (issue #14)", () => {
  const lane = localSetup();
  const admin = testAdmin();
  const kms = new FakeKms({ region: REGION, keyArns: [SEAL_ARN], attestation: () => ({ root: lane.root(), measurements: lane.measurements() }) });
  let config: SealKmsConfig;
  const HOUR = 3600_000;
  /** What an admin's GenerateDataKeyPairWithoutPlaintext yields: the public key and the PKCS#8 blob, context bound. */
  function laneKey(notBefore: number, notAfter: number, context?: Record<string, string>) {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const raw = Buffer.from(publicKey.export({ format: "jwk" }).x as string, "base64url");
    const kid = laneKidOf(raw);
    const der = privateKey.export({ format: "der", type: "pkcs8" });
    const blob = kms.wrap(SEAL_ARN, der, context ?? laneKeyEncryptionContext("test", notBefore, notAfter));
    return { kid, publicKey: raw.toString("base64"), ciphertextBlob: blob, notBefore, notAfter, privateKey };
  }
  function enclave(now: () => number) {
    const state = new KeyState({ lane: "test", adminKeys: [admin.entry] }, now);
    const laneKeys = new LaneKeys();
    const provisioner = new KeyProvisioner(
      state,
      { config, unwrap: attestedSealKeyUnwrap(config, lane.nsm), unwrapLaneKey: attestedLaneKeyUnwrap(config, "test", lane.nsm) },
      laneKeys,
      now,
    );
    return new Signer({ now, registry, provisioner, nsm: lane.nsm });
  }
  const provisionLane = async (signer: Signer, keys: ReturnType<typeof laneKey>[]) =>
    call(signer, {
      directory: await admin.sign(directoryOf("test", 1, NOW, [])),
      region: REGION,
      credentials: HOST,
      laneKeys: keys.map(({ kid, ciphertextBlob, notBefore, notAfter }) => ({ kid, ciphertextBlob, notBefore, notAfter })),
    });
  const readAt = (signer: Signer) => signer.signRead({ method: "GET", path: "/v1/features/users/u9", query: "", objects: [null] });

  beforeAll(async () => {
    await kms.start();
    config = parseSealKmsConfig({ keyArn: SEAL_ARN, region: REGION, endpoint: kms.endpoint });
  });
  afterAll(() => kms.stop());

  test("two enclaves (two hosts, or a restart) sign with the same lane key: a consumer pins it once", async () => {
    const k1 = laneKey(NOW - HOUR, NOW + 24 * HOUR);
    const a = enclave(() => NOW);
    const b = enclave(() => NOW);
    for (const s of [a, b]) expect(await provisionLane(s, [k1])).toMatchObject({ ok: true, value: { unwrapped: [k1.kid], laneKeys: [{ keyid: k1.kid }] } });
    expect(a.key.keyid).not.toBe(b.key.keyid); // different enclave-born keys…
    const pinned = laneKeysJwks([{ kid: k1.kid, publicKey: k1.publicKey, not_before: k1.notBefore, not_after: k1.notAfter }]).keys;
    for (const s of [a, b])
      expect(verifyResponse(receivedFromSigned(readAt(s)), { method: "GET", path: "/v1/features/users/u9", query: "" }, { maxStaleness: Infinity, key: pinned, now: NOW / 1000 }).keyid).toBe(k1.kid); // …one lane key
    // The attestation names the lane key, so an attested consumer learns it from any host.
    const doc = await a.attest({});
    const verified = verifyAttestation(Buffer.from(doc.document), { root: lane.root(), measurements: lane.measurements(), maxAgeMs: 600_000 });
    expect(JSON.parse(verified.userData!.toString())).toEqual({ lane_keys: [k1.kid], registry_version: 0, registry_digest: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
  });

  test("rotation without consumer outage: current and next published together; the signer switches at not_before", async () => {
    const k1 = laneKey(NOW - HOUR, NOW + 2 * HOUR);
    const k2 = laneKey(NOW + HOUR, NOW + 48 * HOUR);
    let now = NOW;
    const s = enclave(() => now);
    expect((await provisionLane(s, [k1, k2])).ok).toBe(true);
    const pinned = laneKeysJwks([k1, k2].map((k) => ({ kid: k.kid, publicKey: k.publicKey, not_before: k.notBefore, not_after: k.notAfter }))).keys;
    const verify = (signed: SignedResponse) =>
      verifyResponse(receivedFromSigned(signed), { method: "GET", path: "/v1/features/users/u9", query: "" }, { maxStaleness: Infinity, key: pinned, now: now / 1000 });
    expect(verify(readAt(s)).keyid).toBe(k1.kid);
    now = NOW + HOUR + 1000;
    expect(verify(readAt(s)).keyid).toBe(k2.kid);
    // An answer k1 signed after k1's published window is refused by the consumer (key_not_valid), even
    // from a signer that somehow still held k1 with a longer window.
    const stale = new LaneKeys();
    stale.offer(k1.kid, k1.privateKey, NOW - HOUR, NOW + 100 * HOUR);
    const retired = new Signer({ now: () => NOW + 3 * HOUR, registry, laneKeys: stale });
    const late = retired.signRead({ method: "GET", path: "/v1/features/users/u9", query: "", objects: [null] });
    expect(() => verifyResponse(receivedFromSigned(late), { method: "GET", path: "/v1/features/users/u9", query: "" }, { maxStaleness: Infinity, key: pinned, now: (NOW + 3 * HOUR) / 1000 })).toThrow(
      /valid from/,
    );
  });

  test("the host cannot stretch a lane key's validity or relabel it: the blob's context does not match, KMS refuses", async () => {
    const k = laneKey(NOW - HOUR, NOW + HOUR);
    const s = enclave(() => NOW);
    const stretched = { ...k, notAfter: NOW + 300 * 24 * HOUR };
    const r = await provisionLane(s, [stretched]);
    expect(r).toMatchObject({ ok: true, value: { unwrapped: [], laneKeys: [] } });
    // Without a lane key the signer signs with its own key, which a consumer pinned on the lane key refuses.
    const pinned = laneKeysJwks([{ kid: k.kid, publicKey: k.publicKey, not_before: k.notBefore, not_after: k.notAfter }]).keys;
    expect(() => verifyResponse(receivedFromSigned(readAt(s)), { method: "GET", path: "/v1/features/users/u9", query: "" }, { maxStaleness: Infinity, key: pinned, now: NOW / 1000 })).toThrow(/expected/);
  });

  test("a lane key blob made for another lane, or presented under another key's kid, is refused", async () => {
    const s = enclave(() => NOW);
    const other = laneKey(NOW - HOUR, NOW + HOUR, { purpose: "express-lane-lane-key", lane: "elsewhere", not_before: String(NOW - HOUR), not_after: String(NOW + HOUR) });
    expect(await provisionLane(s, [other])).toMatchObject({ ok: true, value: { unwrapped: [], laneKeys: [] } });
    const a = laneKey(NOW - HOUR, NOW + HOUR);
    const b = laneKey(NOW - HOUR, NOW + HOUR);
    expect(await provisionLane(s, [{ ...a, kid: b.kid }])).toMatchObject({ ok: true, value: { unwrapped: [], laneKeys: [] } });
  });
});
