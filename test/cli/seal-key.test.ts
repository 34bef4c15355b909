// Writer-side production seal keys against the KMS twin through the real @aws-sdk/client-kms
// (endpoint override): `seal-key create` wraps a new key, `load --seal-key-kms` unwraps it as the
// writer; the host's credentials cannot (attestation only), and the enclave opens the same blob.
import { SealKeyring } from "../../enclave/seal";
import { attestedSealKeyUnwrap, parseSealKmsConfig, SealKeyProvisioner } from "../../enclave/seal-provisioning";
import { createWrappedSealKey, unwrapSealKeys } from "../../cli/seal-key";
import { FakeKms } from "../helpers/fake-kms";
import { localSetup } from "../enclave/nsm/fixtures";

const REGION = "ap-south-1";
const SEAL_ARN = `arn:aws:kms:${REGION}:111122223333:key/5ea1c11e-0000-4000-8000-000000000002`;
const WRITER = { accessKeyId: "AKIDWRITER", secretAccessKey: "writer-secret" };
const HOST = { accessKeyId: "ASIAHOST", secretAccessKey: "host-secret", sessionToken: "tok" };

describe("express-lane seal-key create / load --seal-key-kms", () => {
  const lane = localSetup();
  const kms = new FakeKms({ region: REGION, keyArns: [SEAL_ARN], plainDecrypt: [WRITER.accessKeyId], attestation: () => ({ root: lane.root(), measurements: lane.measurements() }) });
  beforeAll(() => kms.start());
  afterAll(() => kms.stop());

  test("create → writer unwraps → the enclave unwraps the same key; rotation puts the new kid first", async () => {
    const first = await createWrappedSealKey(SEAL_ARN, { endpoint: kms.endpoint, credentials: WRITER });
    expect(first.document).toMatchObject({ version: 1, keyArn: SEAL_ARN, region: REGION, keys: [{ kid: first.kid }] });
    const gen = kms.calls.find((c) => c.action === "GenerateDataKey")!;
    expect(gen.headers["x-amz-target"]).toBe("TrentService.GenerateDataKey");
    expect(gen.body.EncryptionContext).toEqual({ purpose: "express-lane-seal", kid: first.kid });

    const writerRing = await unwrapSealKeys(first.document, { endpoint: kms.endpoint, credentials: WRITER });
    expect(writerRing.kids).toEqual([first.kid]);
    const dec = kms.calls.filter((c) => c.action === "Decrypt").at(-1)!;
    expect(dec.body).toMatchObject({ KeyId: SEAL_ARN, EncryptionContext: { purpose: "express-lane-seal", kid: first.kid } });
    expect(dec.body.Recipient).toBeUndefined();

    // What the writer seals, the enclave (provisioned with the same blob) verifies.
    const object = writerRing.seal({ view: "users", entity: "u1", event_time: 1, written_time: 2, features: { a: 1 } });
    const config = parseSealKmsConfig(JSON.stringify({ keyArn: SEAL_ARN, region: REGION, endpoint: kms.endpoint }));
    const { keyring } = await new SealKeyProvisioner(config, attestedSealKeyUnwrap(config, lane.nsm)).provision({
      credentials: HOST,
      wrapped: first.document.keys.map((k) => ({ kid: k.kid, ciphertextBlob: Buffer.from(k.ciphertextBlob, "base64") })),
    });
    expect(keyring.open(object, "users", "u1").ok).toBe(true);

    const second = await createWrappedSealKey(SEAL_ARN, { endpoint: kms.endpoint, credentials: WRITER, existing: first.document });
    expect(second.document.keys.map((k) => k.kid)).toEqual([second.kid, first.kid]);
    const rotated = await unwrapSealKeys(second.document, { endpoint: kms.endpoint, credentials: WRITER });
    expect(rotated.activeKid).toBe(second.kid);
    expect(rotated.open(object, "users", "u1").ok).toBe(true);
  });

  test("the host role's credentials cannot unwrap a seal key without the enclave's attestation", async () => {
    const { document } = await createWrappedSealKey(SEAL_ARN, { endpoint: kms.endpoint, credentials: WRITER });
    await expect(unwrapSealKeys(document, { endpoint: kms.endpoint, credentials: HOST })).rejects.toThrow(/attestation/);
  });

  test("a blob under the document's kid but another context does not open", async () => {
    const { document } = await createWrappedSealKey(SEAL_ARN, { endpoint: kms.endpoint, credentials: WRITER });
    const relabelled = { ...document, keys: [{ ...document.keys[0]!, kid: "seal-relabelled" }] };
    await expect(unwrapSealKeys(relabelled, { endpoint: kms.endpoint, credentials: WRITER })).rejects.toThrow(/InvalidCiphertext|ciphertext/);
    expect(SealKeyring).toBeDefined();
  });
});
