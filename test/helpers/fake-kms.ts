// A local KMS twin speaking the real KMS JSON 1.1 wire protocol (POST /, X-Amz-Target
// TrentService.<Action>, application/x-amz-json-1.1, blobs base64, errors as {__type, message}):
// enough of GenerateDataKey and Decrypt (plain, and with Recipient → CiphertextForRecipient as CMS
// EnvelopedData for the attested RSA key) to run the seal key paths end to end. The @aws-sdk
// client and enclave/kms-recipient.ts both talk to it unchanged (endpoint override).
//
// Key policy, simplified to what the stacks grant: a Recipient Decrypt must carry an attestation
// document that verifies against `attestation` (root + PCRs, like kms:RecipientAttestation:*);
// a plain Decrypt is allowed only for access key ids in `plainDecrypt` (the writer role), and, when
// `plainDecryptWriters` names that access key, only for blobs whose encryption context carries its
// writer (kms:EncryptionContext:writer). Asymmetric Ed25519 keys (`signingKeyArns`, KeySpec
// ECC_NIST_EDWARDS25519) answer GetPublicKey (DER SPKI) and Sign (ED25519_SHA_512, MessageType RAW,
// ≤ 4096 bytes), as the lane admin key does.
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  generateKeyPairSync,
  publicEncrypt,
  randomBytes,
  sign as edSign,
  type KeyObject,
} from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  ContentInfo,
  EncryptedContent,
  EncryptedContentInfo,
  EnvelopedData,
  id_data,
  id_envelopedData,
  KeyTransRecipientInfo,
  RecipientIdentifier,
  RecipientInfo,
  RecipientInfos,
} from "@peculiar/asn1-cms";
import { id_mgf1, id_RSAES_OAEP, id_sha256, RsaEsOaepParams } from "@peculiar/asn1-rsa";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier, SubjectKeyIdentifier } from "@peculiar/asn1-x509";
import { ID_AES256_CBC } from "../../enclave/kms-recipient";
import { verifyAttestation, type VerifyAttestationOptions } from "../../verifier/attestation";

export const sha256Oaep = (): AlgorithmIdentifier =>
  new AlgorithmIdentifier({
    algorithm: id_RSAES_OAEP,
    parameters: AsnConvert.serialize(
      new RsaEsOaepParams({
        hashAlgorithm: new AlgorithmIdentifier({ algorithm: id_sha256, parameters: null }),
        maskGenAlgorithm: new AlgorithmIdentifier({ algorithm: id_mgf1, parameters: AsnConvert.serialize(new AlgorithmIdentifier({ algorithm: id_sha256, parameters: null })) }),
      }),
    ),
  });

/** What KMS builds: EnvelopedData, RSAES-OAEP-SHA-256 key transport to `spki`, AES-256-CBC content. */
export function envelopeFor(spki: Buffer, plaintext: Buffer, variant: { chunked?: boolean; keyEncryption?: AlgorithmIdentifier; contentAlgorithm?: string } = {}): Buffer {
  const contentKey = randomBytes(32);
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-256-cbc", contentKey, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const encryptedKey = publicEncrypt(
    { key: createPublicKey({ key: spki, format: "der", type: "spki" }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
    contentKey,
  );
  const chunks = variant.chunked ? [ciphertext.subarray(0, 16), ciphertext.subarray(16)].map((c) => new OctetString(c)) : undefined;
  const enveloped = new EnvelopedData({
    version: 2,
    recipientInfos: new RecipientInfos([
      new RecipientInfo({
        ktri: new KeyTransRecipientInfo({
          version: 2,
          rid: new RecipientIdentifier({ subjectKeyIdentifier: new SubjectKeyIdentifier(createHash("sha1").update(spki).digest()) }),
          keyEncryptionAlgorithm: variant.keyEncryption ?? sha256Oaep(),
          encryptedKey: new OctetString(encryptedKey),
        }),
      }),
    ]),
    encryptedContentInfo: new EncryptedContentInfo({
      contentType: id_data,
      contentEncryptionAlgorithm: new AlgorithmIdentifier({ algorithm: variant.contentAlgorithm ?? ID_AES256_CBC, parameters: AsnConvert.serialize(new OctetString(iv)) }),
      encryptedContent: chunks ? new EncryptedContent({ constructedValue: chunks }) : new EncryptedContent({ value: new OctetString(ciphertext) }),
    }),
  });
  return Buffer.from(AsnConvert.serialize(new ContentInfo({ contentType: id_envelopedData, content: AsnConvert.serialize(enveloped) })));
}

export interface FakeKmsCall {
  readonly action: string;
  readonly body: Record<string, unknown>;
  readonly headers: IncomingMessage["headers"];
  readonly accessKeyId?: string;
}

export type FakeKmsBehaviour = "honest" | "plaintext-for-recipient" | "wrong-key-id" | "no-key-id";

export interface FakeKmsOptions {
  readonly region: string;
  readonly keyArns: readonly string[];
  /** What a Recipient's attestation document must verify against (root + expected PCRs). */
  readonly attestation: () => Pick<VerifyAttestationOptions, "root" | "measurements">;
  /** Access key ids allowed a plain (un-attested) Decrypt. */
  readonly plainDecrypt?: readonly string[];
  /** Access key id → the only `writer` encryption context it may plain-Decrypt (per-writer key policy). */
  readonly plainDecryptWriters?: Readonly<Record<string, string>>;
  /** Ed25519 signing keys (lane admin keys). */
  readonly signingKeyArns?: readonly string[];
}

const canonicalContext = (ctx: unknown): string => JSON.stringify(Object.entries((ctx ?? {}) as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

export class FakeKms {
  readonly calls: FakeKmsCall[] = [];
  behaviour: FakeKmsBehaviour = "honest";
  endpoint = "";
  private server?: Server;
  private readonly masters = new Map<string, Buffer>();
  private readonly signing = new Map<string, { privateKey: KeyObject; publicKey: KeyObject }>();

  constructor(readonly options: FakeKmsOptions) {
    for (const arn of options.keyArns) this.masters.set(arn, randomBytes(32));
    for (const arn of options.signingKeyArns ?? []) this.signing.set(arn, generateKeyPairSync("ed25519"));
  }

  /** The Ed25519 public key of a signing key (what a trust config must pin). */
  signingPublicKey(keyArn: string): KeyObject {
    const k = this.signing.get(keyArn);
    if (!k) throw new Error(`fake KMS has no signing key ${keyArn}`);
    return k.publicKey;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const reply = (status: number, json: unknown) => res.writeHead(status, { "content-type": "application/x-amz-json-1.1" }).end(JSON.stringify(json));
        try {
          const target = String(req.headers["x-amz-target"] ?? "");
          if (req.method !== "POST" || !target.startsWith("TrentService.") || !String(req.headers["content-type"]).startsWith("application/x-amz-json-1.1")) {
            reply(400, { __type: "UnknownOperationException", message: "not a KMS JSON 1.1 request" });
            return;
          }
          const accessKeyId = /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ""))?.[1];
          if (!accessKeyId) {
            reply(400, { __type: "MissingAuthenticationTokenException", message: "no SigV4 authorization" });
            return;
          }
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown>;
          const action = target.slice("TrentService.".length);
          this.calls.push({ action, body, headers: req.headers, accessKeyId });
          const [status, json] = this.dispatch(action, body, accessKeyId);
          reply(status, json);
        } catch (err) {
          reply(500, { __type: "KMSInternalException", message: (err as Error).message });
        }
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Wrap `plaintext` under `keyArn` with `context`, as GenerateDataKey/Encrypt would. */
  wrap(keyArn: string, plaintext: Buffer, context: Record<string, string> = {}): Buffer {
    const master = this.masters.get(keyArn);
    if (!master) throw new Error(`fake KMS has no key ${keyArn}`);
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", master, iv).setAAD(Buffer.from(canonicalContext(context)));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const arn = Buffer.from(keyArn);
    return Buffer.concat([Buffer.from([arn.length]), arn, iv, cipher.getAuthTag(), ct]);
  }

  private unwrapBlob(blob: Buffer, context: unknown): { keyArn: string; plaintext: Buffer } | undefined {
    try {
      const n = blob[0]!;
      const keyArn = blob.subarray(1, 1 + n).toString();
      const master = this.masters.get(keyArn);
      if (!master) return undefined;
      const iv = blob.subarray(1 + n, 13 + n);
      const tag = blob.subarray(13 + n, 29 + n);
      const decipher = createDecipheriv("aes-256-gcm", master, iv).setAAD(Buffer.from(canonicalContext(context)));
      decipher.setAuthTag(tag);
      return { keyArn, plaintext: Buffer.concat([decipher.update(blob.subarray(29 + n)), decipher.final()]) };
    } catch {
      return undefined;
    }
  }

  private resolveKey(keyId: unknown): string | undefined {
    if (typeof keyId !== "string") return undefined;
    return [...this.masters.keys()].find((arn) => arn === keyId || arn.endsWith(`:key/${keyId}`));
  }

  private dispatch(action: string, body: Record<string, unknown>, accessKeyId: string): [number, unknown] {
    const err = (type: string, message: string): [number, unknown] => [400, { __type: `com.amazonaws.kms#${type}`, message }];
    if (action === "GetPublicKey" || action === "Sign") {
      const arn = [...this.signing.keys()].find((a) => a === body.KeyId || a.endsWith(`:key/${String(body.KeyId)}`));
      if (!arn)
        return this.masters.size > 0 && this.resolveKey(body.KeyId)
          ? err("UnsupportedOperationException", `${String(body.KeyId)} is a symmetric key`)
          : err("NotFoundException", `key ${String(body.KeyId)} not found`);
      const key = this.signing.get(arn)!;
      if (action === "GetPublicKey") {
        return [
          200,
          {
            KeyId: arn,
            KeySpec: "ECC_NIST_EDWARDS25519",
            KeyUsage: "SIGN_VERIFY",
            SigningAlgorithms: ["ED25519_SHA_512", "ED25519_PH_SHA_512"],
            PublicKey: key.publicKey.export({ format: "der", type: "spki" }).toString("base64"),
          },
        ];
      }
      if (body.SigningAlgorithm !== "ED25519_SHA_512") return err("ValidationException", "SigningAlgorithm must be ED25519_SHA_512 for this key");
      if (body.MessageType !== "RAW") return err("ValidationException", "ED25519_SHA_512 takes MessageType RAW");
      const message = Buffer.from(String(body.Message ?? ""), "base64");
      if (message.length === 0 || message.length > 4096) return err("ValidationException", "Message must be 1..4096 bytes");
      return [200, { KeyId: arn, SigningAlgorithm: "ED25519_SHA_512", Signature: edSign(null, message, key.privateKey).toString("base64") }];
    }
    if (action === "GenerateDataKey") {
      const keyArn = this.resolveKey(body.KeyId);
      if (!keyArn) return err("NotFoundException", `key ${String(body.KeyId)} not found`);
      if (body.KeySpec !== "AES_256" && body.NumberOfBytes !== 32) return err("ValidationException", "KeySpec AES_256 expected");
      const plaintext = randomBytes(32);
      return [
        200,
        {
          KeyId: keyArn,
          Plaintext: plaintext.toString("base64"),
          CiphertextBlob: this.wrap(keyArn, plaintext, body.EncryptionContext as Record<string, string>).toString("base64"),
        },
      ];
    }
    if (action === "GenerateDataKeyPairWithoutPlaintext") {
      // The lane signing key (wire/lane-key.ts): KMS makes the pair and returns only the public key
      // (DER SPKI) and the private key (PKCS#8 DER) wrapped under the CMK with the context.
      const keyArn = this.resolveKey(body.KeyId);
      if (!keyArn) return err("NotFoundException", `key ${String(body.KeyId)} not found`);
      if (body.KeyPairSpec !== "ECC_NIST_EDWARDS25519") return err("ValidationException", "KeyPairSpec ECC_NIST_EDWARDS25519 expected here");
      const pair = generateKeyPairSync("ed25519");
      const der = pair.privateKey.export({ format: "der", type: "pkcs8" });
      return [
        200,
        {
          KeyId: keyArn,
          KeyPairSpec: "ECC_NIST_EDWARDS25519",
          PublicKey: pair.publicKey.export({ format: "der", type: "spki" }).toString("base64"),
          PrivateKeyCiphertextBlob: this.wrap(keyArn, der, body.EncryptionContext as Record<string, string>).toString("base64"),
        },
      ];
    }
    if (action !== "Decrypt") return err("UnsupportedOperationException", action);
    const blob = Buffer.from(String(body.CiphertextBlob ?? ""), "base64");
    const opened = this.unwrapBlob(blob, body.EncryptionContext);
    if (body.KeyId !== undefined) {
      const wanted = this.resolveKey(body.KeyId);
      if (!wanted) return err("NotFoundException", `key ${String(body.KeyId)} not found`);
      if (opened && opened.keyArn !== wanted) return err("IncorrectKeyException", "the ciphertext was not encrypted under the KeyId");
      if (!opened && blob.length > 0 && blob.subarray(1, 1 + blob[0]!).toString() !== wanted)
        return err("IncorrectKeyException", "the ciphertext was not encrypted under the KeyId");
    }
    if (!opened) return err("InvalidCiphertextException", "ciphertext or encryption context does not match");
    const recipient = body.Recipient as { AttestationDocument?: string; KeyEncryptionAlgorithm?: string } | undefined;
    const keyIdOut = this.behaviour === "wrong-key-id" ? (this.options.keyArns.find((a) => a !== opened.keyArn) ?? "arn:aws:kms:x:000000000000:key/other") : opened.keyArn;
    const withKeyId = (json: Record<string, unknown>) => (this.behaviour === "no-key-id" ? json : { KeyId: keyIdOut, ...json });
    if (recipient) {
      if (recipient.KeyEncryptionAlgorithm !== "RSAES_OAEP_SHA_256") return err("ValidationException", "KeyEncryptionAlgorithm");
      let publicKey: Buffer | undefined;
      try {
        publicKey = verifyAttestation(Buffer.from(String(recipient.AttestationDocument), "base64"), this.options.attestation()).publicKey ?? undefined;
      } catch (e) {
        return err("AccessDeniedException", `attestation not allowed by the key policy: ${(e as Error).message}`);
      }
      if (!publicKey) return err("ValidationException", "attestation document has no public_key");
      if (this.behaviour === "plaintext-for-recipient") return [200, withKeyId({ Plaintext: opened.plaintext.toString("base64"), EncryptionAlgorithm: "SYMMETRIC_DEFAULT" })];
      return [200, withKeyId({ CiphertextForRecipient: envelopeFor(publicKey, opened.plaintext).toString("base64"), EncryptionAlgorithm: "SYMMETRIC_DEFAULT" })];
    }
    if (!(this.options.plainDecrypt ?? []).includes(accessKeyId))
      return err("AccessDeniedException", `${accessKeyId} may Decrypt only with a Nitro attestation (kms:RecipientAttestation)`);
    const onlyWriter = this.options.plainDecryptWriters?.[accessKeyId];
    if (onlyWriter !== undefined && (body.EncryptionContext as Record<string, string> | undefined)?.writer !== onlyWriter) {
      return err("AccessDeniedException", `${accessKeyId} may Decrypt only keys of writer ${onlyWriter} (kms:EncryptionContext:writer)`);
    }
    return [200, withKeyId({ Plaintext: opened.plaintext.toString("base64"), EncryptionAlgorithm: "SYMMETRIC_DEFAULT" })];
  }
}
