// The host side of key provisioning against the KMS twin: the runtime reads the admin-signed key
// directory and the wrapped writer keys document, sends them with the instance role's credentials
// over the real socket protocol (provision role), and re-provisions a restarted signer when it
// reconnects.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import type { Server } from "node:net";
import { join } from "node:path";
import { Signer } from "../../enclave/signer";
import { SealKeyring } from "../../enclave/seal";
import { attestedSealKeyUnwrap, KeyProvisioner, parseSealKmsConfig } from "../../enclave/key-provisioning";
import { KeyState } from "../../enclave/key-state";
import { buildProvisionRequest, KeyProvisioning as SealKeyProvisioning } from "../../runtime/key-provisioning";
import { SignerClient } from "../../runtime/signer-client";
import { defineRegistry } from "../../wire/registry";
import { sealKeyEncryptionContext, serializeWrappedSealKeys } from "../../wire/seal-keys";
import { FakeKms } from "../helpers/fake-kms";
import { localSetup } from "../enclave/nsm/fixtures";
import { directoryOf, listed, testAdmin } from "../helpers/key-directory";

const NOW = 1_800_000_000_000;
const REGION = "ap-south-1";
const SEAL_ARN = `arn:aws:kms:${REGION}:111122223333:key/5ea1c0de-0000-4000-8000-000000000001`;
const registry = defineRegistry([
  { name: "users", entityKey: "user_id", owner: "tests", description: "runtime provisioning", ttlSeconds: 3600, features: [{ name: "a", type: "int" }] },
]);

describe("runtime seal key provisioning", () => {
  const lane = localSetup();
  const kms = new FakeKms({ region: REGION, keyArns: [SEAL_ARN], attestation: () => ({ root: lane.root(), measurements: lane.measurements() }) });
  const socket = join(lane.dir, "signer.sock");
  const docFile = join(lane.dir, "wrapped.json");
  const directoryFile = join(lane.dir, "directory.json");
  const key = randomBytes(32);
  const kid = "prod-runtime-1";
  const admin = testAdmin();
  let server: Server;
  let client: SignerClient;
  let credentialCalls = 0;
  const credentials = async () => {
    credentialCalls++;
    return { accessKeyId: "ASIAHOST", secretAccessKey: "s", sessionToken: `t${credentialCalls}` };
  };

  const startSigner = async () => {
    const config = parseSealKmsConfig({ keyArn: SEAL_ARN, region: REGION, endpoint: kms.endpoint });
    const state = new KeyState({ lane: "test", adminKeys: [admin.entry] }, () => NOW);
    const signer = new Signer({ now: () => NOW, registry, provisioner: new KeyProvisioner(state, { config, unwrap: attestedSealKeyUnwrap(config, lane.nsm) }) });
    server = await signer.listen(socket);
    return signer;
  };
  const object = new SealKeyring([{ kid, key, writer: "loader" }]).seal({ view: "users", entity: "u1", event_time: NOW - 1000, written_time: NOW - 500, features: { a: 3 } });
  // Reads go through the read-role connection of the same signer.
  const read = async () => {
    const reader = new SignerClient({ role: "read", socketPath: socket });
    try {
      await reader.ready();
      return JSON.parse(Buffer.from((await reader.signRead({ method: "GET", path: "/v1/features/users/u1", query: "", objects: [object] })).body).toString());
    } finally {
      reader.close();
    }
  };

  beforeAll(async () => {
    await kms.start();
    writeFileSync(
      docFile,
      serializeWrappedSealKeys({
        version: 1,
        keyArn: SEAL_ARN,
        region: REGION,
        keys: [{ kid, writer: "loader", ciphertextBlob: kms.wrap(SEAL_ARN, key, sealKeyEncryptionContext(kid, "loader")).toString("base64") }],
      }),
    );
    writeFileSync(directoryFile, await admin.sign(directoryOf("test", 1, NOW, [listed({ kid, key, writer: "loader" })])));
  });
  afterAll(async () => {
    client?.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await kms.stop();
  });

  test("buildProvisionRequest: region from the document, only the three credential fields, blobs as bytes", async () => {
    const req = await buildProvisionRequest(directoryFile, docFile, { accessKeyId: "A", secretAccessKey: "S", sessionToken: "T", expiration: new Date() } as never);
    expect(req.region).toBe(REGION);
    expect(req.credentials).toEqual({ accessKeyId: "A", secretAccessKey: "S", sessionToken: "T" });
    expect(Buffer.isBuffer(req.wrapped![0]!.ciphertextBlob)).toBe(true);
    expect(Buffer.isBuffer(req.directory)).toBe(true);
    // Without wrapped keys (the local lane): the directory alone, no credentials cross.
    expect(await buildProvisionRequest(directoryFile)).toEqual({ directory: req.directory });
  });

  test("provisions on connect, re-provisions a restarted signer, and reads come back PRESENT", async () => {
    await startSigner();
    client = new SignerClient({ role: "provision", socketPath: socket });
    let provisioning = new SealKeyProvisioning({ directoryFile, file: docFile, credentials, signer: client, retryMs: 50 });
    await client.ready();
    expect((await read()).error?.code).toBe("seal_key_unavailable");
    const reply = await provisioning.trigger();
    expect(reply).toMatchObject({ lane: "test", epoch: 1, kids: [kid], missing: [], unwrapped: [kid] });
    // Fresh role credentials per attempt, passed through as the KMS request's session token.
    expect(kms.calls.at(-1)!.headers["x-amz-security-token"]).toBe(`t${credentialCalls}`);
    expect(kms.calls.at(-1)!.accessKeyId).toBe("ASIAHOST");
    provisioning.stop();
    expect(await read()).toMatchObject({ found: true, status: { a: "PRESENT" } });

    // The enclave restarts: a fresh signer with no keys. The reconnect provisions it again.
    client.close();
    await new Promise<void>((r) => server.close(() => r()));
    const before = kms.calls.length;
    const restarted = await startSigner();
    expect(restarted.sealKids).toEqual([]);
    client = new SignerClient({ role: "provision", socketPath: socket, onStateChange: (up) => up && void provisioning?.trigger() });
    provisioning = new SealKeyProvisioning({ directoryFile, file: docFile, credentials, signer: client, retryMs: 50 });
    await client.ready();
    for (let i = 0; i < 100 && restarted.sealKids.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(restarted.sealKids).toEqual([kid]);
    expect(kms.calls.length).toBe(before + 1);
    expect(await read()).toMatchObject({ found: true });
    provisioning.stop();
  });

  test("a failed attempt (KMS answers Plaintext) is retried and succeeds once KMS behaves", async () => {
    client.close();
    await new Promise<void>((r) => server.close(() => r()));
    const signer = await startSigner();
    client = new SignerClient({ role: "provision", socketPath: socket });
    await client.ready();
    kms.behaviour = "plaintext-for-recipient";
    const warnings: string[] = [];
    const provisioning = new SealKeyProvisioning({
      directoryFile,
      file: docFile,
      credentials,
      signer: client,
      retryMs: 50,
      logger: { info: () => undefined, warn: (o: object) => warnings.push(String((o as { err: string }).err)) },
    });
    expect(await provisioning.trigger()).toBeUndefined();
    expect(warnings[0]).toMatch(/Plaintext/);
    expect(signer.sealKids).toEqual([]);
    kms.behaviour = "honest";
    for (let i = 0; i < 100 && signer.sealKids.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(signer.sealKids).toEqual([kid]);
    provisioning.stop();
  });
});
