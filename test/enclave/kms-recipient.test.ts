import { execFileSync, spawnSync } from "node:child_process";
import { createHash, createHmac, createPublicKey, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { id_RSAES_OAEP, RsaEsOaepParams } from "@peculiar/asn1-rsa";
import { AsnConvert } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { SignatureV4 } from "@smithy/signature-v4";
import {
  buildDecryptRequest,
  callKms,
  decryptCiphertextForRecipient,
  decryptWithAttestation,
  generateRecipientKey,
  KmsError,
  KmsRecipientError,
} from "../../enclave/kms-recipient";
import { verifyAttestation } from "../../verifier/attestation";
import { localSetup, tempDir } from "./nsm/fixtures";
import { envelopeFor } from "../helpers/fake-kms";

describe("decryptCiphertextForRecipient", () => {
  const key = generateRecipientKey();
  const secret = Buffer.from("the data key for sealed objects: 32 bytes + some more");

  test("the recipient key is RSA-2048 SPKI, small enough for the NSM's public_key", () => {
    const pub = createPublicKey({ key: key.publicKeyDer, format: "der", type: "spki" });
    expect(pub.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(key.publicKeyDer.length).toBeLessThanOrEqual(1024);
  });

  test("opens an EnvelopedData built for our key (single and chunked content)", () => {
    expect(decryptCiphertextForRecipient(envelopeFor(key.publicKeyDer, secret), key.privateKey)).toEqual(secret);
    expect(decryptCiphertextForRecipient(envelopeFor(key.publicKeyDer, secret, { chunked: true }), key.privateKey)).toEqual(secret);
  });

  test("refuses another key's envelope, PKCS#1 v1.5 / SHA-1 OAEP key transport, non-AES-256-CBC content, garbage", () => {
    const other = generateRecipientKey();
    expect(() => decryptCiphertextForRecipient(envelopeFor(other.publicKeyDer, secret), key.privateKey)).toThrow(/no recipient/);
    const pkcs1 = new AlgorithmIdentifier({ algorithm: "1.2.840.113549.1.1.1", parameters: null });
    expect(() => decryptCiphertextForRecipient(envelopeFor(key.publicKeyDer, secret, { keyEncryption: pkcs1 }), key.privateKey)).toThrow(/not RSAES-OAEP/);
    const oaepSha1 = new AlgorithmIdentifier({ algorithm: id_RSAES_OAEP, parameters: AsnConvert.serialize(new RsaEsOaepParams()) });
    expect(() => decryptCiphertextForRecipient(envelopeFor(key.publicKeyDer, secret, { keyEncryption: oaepSha1 }), key.privateKey)).toThrow(/SHA-256/);
    const aes128 = "2.16.840.1.101.3.4.1.2";
    expect(() => decryptCiphertextForRecipient(envelopeFor(key.publicKeyDer, secret, { contentAlgorithm: aes128 }), key.privateKey)).toThrow(/not AES-256-CBC/);
    expect(() => decryptCiphertextForRecipient(Buffer.from("not cms"), key.privateKey)).toThrow(KmsRecipientError);
  });

  const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;
  (hasOpenssl ? test : test.skip)("interoperates with OpenSSL's CMS both ways", () => {
    const dir = tempDir("lane-cms-");
    const keyPem = join(dir, "key.pem");
    writeFileSync(keyPem, key.privateKey.export({ format: "pem", type: "pkcs8" }));
    // OpenSSL opens ours: proves the test's envelope is standard CMS, not a private dialect.
    const ours = join(dir, "ours.der");
    writeFileSync(ours, envelopeFor(key.publicKeyDer, secret));
    expect(execFileSync("openssl", ["cms", "-decrypt", "-inform", "DER", "-in", ours, "-inkey", keyPem])).toEqual(secret);
    // We open OpenSSL's (BER, indefinite lengths, issuerAndSerialNumber recipient).
    const cert = join(dir, "cert.pem");
    execFileSync("openssl", ["req", "-new", "-x509", "-key", keyPem, "-subj", "/CN=enclave", "-days", "1", "-out", cert]);
    const plain = join(dir, "plain.bin");
    writeFileSync(plain, secret);
    const theirs = join(dir, "theirs.der");
    execFileSync("openssl", [
      "cms",
      "-encrypt",
      "-binary",
      "-aes256",
      "-in",
      plain,
      "-outform",
      "DER",
      "-out",
      theirs,
      "-recip",
      cert,
      "-keyopt",
      "rsa_padding_mode:oaep",
      "-keyopt",
      "rsa_oaep_md:sha256",
      "-keyopt",
      "rsa_mgf1_md:sha256",
    ]);
    expect(decryptCiphertextForRecipient(readFileSync(theirs), key.privateKey)).toEqual(secret);
  });
});

describe("KMS Decrypt with Recipient", () => {
  const region = "ap-south-1";
  const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sessionToken: "session-token-from-parent" };
  const dataKey = randomBytes(32);
  const lane = localSetup();
  let server: Server;
  let endpoint: string;
  let received: { req: IncomingMessage; body: string }[] = [];
  let answer: (body: Record<string, unknown>) => { status: number; json: unknown };

  /** A fake KMS: checks the attestation like KMS does, then seals the data key to its public_key. */
  const honestKms = (body: Record<string, unknown>) => {
    const recipient = body.Recipient as { AttestationDocument: string; KeyEncryptionAlgorithm: string };
    const verified = verifyAttestation(Buffer.from(recipient.AttestationDocument, "base64"), { root: lane.root(), measurements: lane.measurements() });
    return {
      status: 200,
      json: {
        KeyId: `arn:aws:kms:${region}:111122223333:key/1234abcd`,
        EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
        CiphertextForRecipient: envelopeFor(verified.publicKey!, dataKey).toString("base64"),
      },
    };
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        received.push({ req, body });
        const { status, json } = answer(JSON.parse(body) as Record<string, unknown>);
        res.writeHead(status, { "content-type": "application/x-amz-json-1.1" }).end(JSON.stringify(json));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    received = [];
    answer = honestKms;
  });

  test("buildDecryptRequest: the KMS JSON shape", () => {
    const body = buildDecryptRequest({ ciphertextBlob: Buffer.from([1, 2, 3]), keyId: "alias/lane", encryptionContext: { purpose: "seal" } }, Buffer.from([9]));
    expect(body).toEqual({
      CiphertextBlob: "AQID",
      KeyId: "alias/lane",
      EncryptionContext: { purpose: "seal" },
      Recipient: { AttestationDocument: "CQ==", KeyEncryptionAlgorithm: "RSAES_OAEP_SHA_256" },
    });
    expect(buildDecryptRequest({ ciphertextBlob: Buffer.from([1]) }, Buffer.from([9]))).not.toHaveProperty("KeyId");
  });

  test("end to end: attested RSA key → signed Decrypt → plaintext only inside", async () => {
    const plaintext = await decryptWithAttestation({ ciphertextBlob: Buffer.from("blob"), keyId: "1234abcd" }, lane.nsm, { region, credentials, endpoint });
    expect(plaintext).toEqual(dataKey);
    expect(received).toHaveLength(1);
    const body = JSON.parse(received[0]!.body) as Record<string, unknown>;
    expect(body.CiphertextBlob).toBe(Buffer.from("blob").toString("base64"));
    expect(body.KeyId).toBe("1234abcd");
  });

  test("the request speaks the KMS JSON protocol and its SigV4 signature covers the bytes sent", async () => {
    await decryptWithAttestation({ ciphertextBlob: Buffer.from("blob") }, lane.nsm, { region, credentials, endpoint });
    const { req, body } = received[0]!;
    const h = req.headers;
    expect(req.method).toBe("POST");
    expect(req.url).toBe("/");
    expect(h["x-amz-target"]).toBe("TrentService.Decrypt");
    expect(h["content-type"]).toBe("application/x-amz-json-1.1");
    expect(h.host).toBe(`kms.${region}.amazonaws.com`);
    expect(h["x-amz-security-token"]).toBe(credentials.sessionToken);
    const auth = String(h.authorization);
    expect(auth).toMatch(new RegExp(`^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\\d{8}/${region}/kms/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$`));
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(auth)![1]!.split(";");
    expect(signedHeaders).toEqual(expect.arrayContaining(["host", "x-amz-date", "x-amz-target", "content-type", "x-amz-security-token"]));

    // Recompute the signature from what arrived: only if method, path, signed headers and body are
    // exactly what was signed does it match.
    const amzDate = String(h["x-amz-date"]);
    const signingDate = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13)}`);
    const headers = Object.fromEntries(signedHeaders.map((name) => [name, String(h[name])]));
    const reference = new SignatureV4({ service: "kms", region, credentials, sha256: NodeSha256ForTest });
    const resigned = await reference.sign({ method: "POST", protocol: "https:", hostname: h.host!, path: "/", headers, body }, { signingDate });
    expect(resigned.headers.authorization).toBe(auth);
  });

  test("KMS errors surface as KmsError with the exception type", async () => {
    answer = () => ({ status: 400, json: { __type: "com.amazonaws.kms#AccessDeniedException", message: "PCR0 not allowed by key policy" } });
    await expect(callKms("Decrypt", {}, { region, credentials, endpoint })).rejects.toThrow(KmsError);
    await expect(decryptWithAttestation({ ciphertextBlob: Buffer.from("b") }, lane.nsm, { region, credentials, endpoint })).rejects.toMatchObject({
      type: "AccessDeniedException",
      status: 400,
    });
  });

  test("a response with Plaintext, without CiphertextForRecipient, or for another key is refused", async () => {
    answer = () => ({ status: 200, json: { KeyId: "k", Plaintext: dataKey.toString("base64") } });
    await expect(decryptWithAttestation({ ciphertextBlob: Buffer.from("b") }, lane.nsm, { region, credentials, endpoint })).rejects.toThrow(/Plaintext/);
    answer = () => ({ status: 200, json: { KeyId: "k" } });
    await expect(decryptWithAttestation({ ciphertextBlob: Buffer.from("b") }, lane.nsm, { region, credentials, endpoint })).rejects.toThrow(/CiphertextForRecipient/);
    answer = (body) => {
      const honest = honestKms(body);
      return { status: 200, json: { ...(honest.json as object), KeyId: `arn:aws:kms:${region}:111122223333:key/other` } };
    };
    await expect(decryptWithAttestation({ ciphertextBlob: Buffer.from("b"), keyId: "1234abcd" }, lane.nsm, { region, credentials, endpoint })).rejects.toThrow(/not 1234abcd/);
  });
});

/** Independent SHA-256/HMAC for the reference signer (not the module's own helper). */
class NodeSha256ForTest {
  private readonly chunks: Buffer[] = [];
  private readonly secret?: Buffer;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.secret = secret === undefined ? undefined : bytes(secret);
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.chunks.push(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    const h = this.secret === undefined ? createHash("sha256") : createHmac("sha256", this.secret);
    for (const c of this.chunks) h.update(c);
    return h.digest();
  }
  reset(): void {
    this.chunks.length = 0;
  }
}

function bytes(data: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === "string") return Buffer.from(data, "utf8");
  return ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data);
}
