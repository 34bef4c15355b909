/**
 * KMS Decrypt with a Recipient: how the enclave gets a plaintext that the host never sees.
 *
 *   1. The enclave generates an RSA-2048 key pair (in memory; it never leaves the enclave).
 *   2. The NSM signs an attestation document whose `public_key` is that key (SPKI DER), next to
 *      the enclave's PCRs.
 *   3. Decrypt is sent with Recipient {AttestationDocument, KeyEncryptionAlgorithm:
 *      RSAES_OAEP_SHA_256}. KMS verifies the document, evaluates the key policy's
 *      kms:RecipientAttestation:ImageSha384 / :PCR<n> conditions against it, and instead of
 *      Plaintext returns CiphertextForRecipient: CMS EnvelopedData (RFC 5652) whose content key is
 *      wrapped with RSAES-OAEP-SHA-256 for our key, content encrypted with AES-256-CBC.
 *   4. Only the enclave's private key opens it.
 *
 * Why the host cannot interfere beyond refusing service: the request goes out over TLS to
 * kms.<region>.amazonaws.com, verified against Node's bundled CA store, through the vsock-proxy —
 * the host forwards encrypted bytes only. The AWS credentials the host passes in only let the
 * enclave ask; the key policy decides on the attested measurements. A host that answers with
 * `Plaintext`, or anything else than a CMS for our key, gets an error, never a result.
 */
import { createDecipheriv, generateKeyPairSync, KeyObject, privateDecrypt, constants as cryptoConstants, createHash, createHmac } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { ContentInfo, EnvelopedData, id_envelopedData } from "@peculiar/asn1-cms";
import { id_mgf1, id_RSAES_OAEP, id_sha256, RsaEsOaepParams } from "@peculiar/asn1-rsa";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { SignatureV4 } from "@smithy/signature-v4";
import type { Nsm } from "./nsm/types";

/** aes256-CBC (NIST CSOR); the content encryption KMS uses for CiphertextForRecipient. */
export const ID_AES256_CBC = "2.16.840.1.101.3.4.1.42";
export const KEY_ENCRYPTION_ALGORITHM = "RSAES_OAEP_SHA_256";

export interface RecipientKey {
  readonly privateKey: KeyObject;
  /** SubjectPublicKeyInfo DER (294 bytes for RSA-2048): what goes into the document's public_key. */
  readonly publicKeyDer: Buffer;
}

/** A fresh RSA-2048 key pair for one Decrypt (or one boot); never written anywhere. */
export function generateRecipientKey(): RecipientKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 0x10001 });
  return { privateKey, publicKeyDer: publicKey.export({ format: "der", type: "spki" }) };
}

export interface DecryptInput {
  readonly ciphertextBlob: Buffer;
  /** Required for asymmetric keys; for symmetric ones KMS reads it from the blob (checked if given). */
  readonly keyId?: string;
  readonly encryptionContext?: Readonly<Record<string, string>>;
}

/** The KMS JSON body (TrentService.Decrypt); blobs are base64. */
export interface KmsDecryptRequest {
  readonly CiphertextBlob: string;
  readonly KeyId?: string;
  readonly EncryptionContext?: Readonly<Record<string, string>>;
  readonly Recipient: { readonly AttestationDocument: string; readonly KeyEncryptionAlgorithm: typeof KEY_ENCRYPTION_ALGORITHM };
}

export function buildDecryptRequest(input: DecryptInput, attestationDocument: Buffer): KmsDecryptRequest {
  return {
    CiphertextBlob: input.ciphertextBlob.toString("base64"),
    ...(input.keyId !== undefined ? { KeyId: input.keyId } : {}),
    ...(input.encryptionContext !== undefined ? { EncryptionContext: input.encryptionContext } : {}),
    Recipient: { AttestationDocument: attestationDocument.toString("base64"), KeyEncryptionAlgorithm: KEY_ENCRYPTION_ALGORITHM },
  };
}

export class KmsRecipientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KmsRecipientError";
  }
}

/**
 * Opens CiphertextForRecipient: CMS ContentInfo(EnvelopedData) with a KeyTransRecipientInfo
 * (RSAES-OAEP, SHA-256, MGF1-SHA-256) and AES-256-CBC content. Anything else is refused rather
 * than guessed at.
 */
export function decryptCiphertextForRecipient(cms: Buffer, privateKey: KeyObject): Buffer {
  let enveloped: EnvelopedData;
  try {
    const info = AsnConvert.parse(cms, ContentInfo);
    if (info.contentType !== id_envelopedData) throw new KmsRecipientError(`CMS content type ${info.contentType} is not EnvelopedData`);
    enveloped = AsnConvert.parse(info.content, EnvelopedData);
  } catch (err) {
    if (err instanceof KmsRecipientError) throw err;
    throw new KmsRecipientError(`CiphertextForRecipient is not CMS: ${(err as Error).message}`);
  }

  const recipients = enveloped.recipientInfos.map((info) => info.ktri).filter((ktri) => ktri !== undefined);
  if (recipients.length === 0) throw new KmsRecipientError("no key-transport recipient in the EnvelopedData");
  let contentKey: Buffer | undefined;
  for (const recipient of recipients) {
    requireOaepSha256(recipient.keyEncryptionAlgorithm);
    try {
      contentKey = privateDecrypt({ key: privateKey, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, Buffer.from(recipient.encryptedKey.buffer));
      break;
    } catch {
      // not for our key; try the next recipient
    }
  }
  if (contentKey === undefined) throw new KmsRecipientError("no recipient's content key opens with our private key");
  if (contentKey.length !== 32) throw new KmsRecipientError(`content key is ${contentKey.length} bytes, expected 32 (AES-256)`);

  const content = enveloped.encryptedContentInfo;
  if (content.contentEncryptionAlgorithm.algorithm !== ID_AES256_CBC) {
    throw new KmsRecipientError(`content encryption ${content.contentEncryptionAlgorithm.algorithm} is not AES-256-CBC`);
  }
  const ivParameter = content.contentEncryptionAlgorithm.parameters;
  if (!ivParameter) throw new KmsRecipientError("AES-256-CBC without an IV");
  const iv = Buffer.from(AsnConvert.parse(ivParameter, OctetString).buffer);
  if (iv.length !== 16) throw new KmsRecipientError(`IV is ${iv.length} bytes, expected 16`);
  const encrypted = content.encryptedContent;
  // BER allows the content as one OCTET STRING or as constructed chunks.
  const ciphertext = encrypted?.value ? Buffer.from(encrypted.value.buffer) : Buffer.concat((encrypted?.constructedValue ?? []).map((chunk) => Buffer.from(chunk.buffer)));
  if (ciphertext.length === 0) throw new KmsRecipientError("EnvelopedData has no encrypted content");
  try {
    const decipher = createDecipheriv("aes-256-cbc", contentKey, iv);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch (err) {
    throw new KmsRecipientError(`content does not decrypt: ${(err as Error).message}`);
  }
}

function requireOaepSha256(algorithm: AlgorithmIdentifier): void {
  if (algorithm.algorithm !== id_RSAES_OAEP || !algorithm.parameters) {
    throw new KmsRecipientError(`key encryption ${algorithm.algorithm} is not RSAES-OAEP with parameters`);
  }
  const params = AsnConvert.parse(algorithm.parameters, RsaEsOaepParams);
  const mgfHash = params.maskGenAlgorithm.parameters ? AsnConvert.parse(params.maskGenAlgorithm.parameters, AlgorithmIdentifier).algorithm : undefined;
  if (params.hashAlgorithm.algorithm !== id_sha256 || params.maskGenAlgorithm.algorithm !== id_mgf1 || mgfHash !== id_sha256) {
    throw new KmsRecipientError("RSAES-OAEP parameters are not SHA-256 with MGF1-SHA-256");
  }
}

// ---------------------------------------------------------------------------------------------
// The network edge: one signed POST to KMS through the vsock-proxy.

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface KmsClientOptions {
  readonly region: string;
  /** Passed in from the parent (instance role); they let the enclave ask, the key policy decides. */
  readonly credentials: AwsCredentials;
  /**
   * Where the TCP connection goes. Default https://127.0.0.1:8000: the in-enclave end of the
   * vsock bridge to the parent's `vsock-proxy 8000 kms.<region>.amazonaws.com 443`. TLS (SNI and
   * certificate check) and the signature are always for kms.<region>.amazonaws.com.
   */
  readonly endpoint?: string;
  readonly timeoutMs?: number;
}

export const DEFAULT_KMS_ENDPOINT = "https://127.0.0.1:8000";

export class KmsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status: number,
  ) {
    super(`KMS ${type}: ${message}`);
    this.name = "KmsError";
  }
}

/** POSTs one KMS JSON-protocol call (X-Amz-Target: TrentService.<action>) and returns its JSON. */
export async function callKms(action: string, body: unknown, options: KmsClientOptions): Promise<Record<string, unknown>> {
  const host = `kms.${options.region}.amazonaws.com`;
  const payload = JSON.stringify(body);
  const signer = new SignatureV4({ service: "kms", region: options.region, credentials: options.credentials, sha256: NodeSha256 });
  const signed = await signer.sign({
    method: "POST",
    protocol: "https:",
    hostname: host,
    path: "/",
    headers: { host, "content-type": "application/x-amz-json-1.1", "x-amz-target": `TrentService.${action}` },
    body: payload,
  });

  const target = new URL(options.endpoint ?? DEFAULT_KMS_ENDPOINT);
  const send = target.protocol === "http:" ? httpRequest : httpsRequest;
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = send(
      {
        host: target.hostname,
        port: target.port || (target.protocol === "http:" ? 80 : 443),
        servername: host,
        method: "POST",
        path: "/",
        headers: { ...signed.headers, "content-length": Buffer.byteLength(payload) },
        timeout: options.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`KMS did not answer within ${options.timeoutMs ?? 10_000} ms`)));
    req.on("error", reject);
    req.end(payload);
  });

  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new KmsError("InvalidResponse", `HTTP ${status}, body is not JSON`, status);
  }
  if (status !== 200) {
    const type = String(json.__type ?? "UnknownError")
      .split("#")
      .pop()!;
    throw new KmsError(type, String(json.message ?? json.Message ?? ""), status);
  }
  return json;
}

/**
 * The whole flow: fresh RSA key → attestation document binding it → Decrypt with Recipient →
 * open CiphertextForRecipient. Returns the plaintext, which exists only inside the enclave.
 */
export async function decryptWithAttestation(input: DecryptInput, nsm: Nsm, options: KmsClientOptions): Promise<Buffer> {
  const key = generateRecipientKey();
  const document = await nsm.attest({ publicKey: key.publicKeyDer });
  const response = await callKms("Decrypt", buildDecryptRequest(input, document), options);
  if (response.Plaintext !== undefined && response.Plaintext !== null) {
    throw new KmsRecipientError("KMS returned Plaintext for a Recipient request: refusing a plaintext that left the enclave boundary");
  }
  if (typeof response.CiphertextForRecipient !== "string") throw new KmsRecipientError("KMS response has no CiphertextForRecipient");
  // KMS always names the key it used; a response that does not, or names another, is refused.
  if (input.keyId !== undefined && (typeof response.KeyId !== "string" || !keyMatches(input.keyId, response.KeyId))) {
    throw new KmsRecipientError(`KMS decrypted with ${typeof response.KeyId === "string" ? response.KeyId : "an unnamed key"}, not ${input.keyId}`);
  }
  return decryptCiphertextForRecipient(Buffer.from(response.CiphertextForRecipient, "base64"), key.privateKey);
}

/** KMS answers with the key ARN; the caller may have named the key by ARN or bare id. */
function keyMatches(requested: string, answered: string): boolean {
  return requested === answered || answered.endsWith(`:key/${requested}`) || requested.includes("alias/");
}

/** SHA-256 / HMAC-SHA-256 for SignatureV4 on node:crypto (the @smithy Checksum shape). */
type SourceData = string | ArrayBuffer | ArrayBufferView;
const toBytes = (data: SourceData): Uint8Array | string =>
  typeof data === "string" ? data : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);

class NodeSha256 {
  private hash;
  constructor(private readonly secret?: SourceData) {
    this.hash = this.fresh();
  }
  private fresh() {
    return this.secret !== undefined ? createHmac("sha256", toBytes(this.secret)) : createHash("sha256");
  }
  update(data: SourceData): void {
    this.hash.update(toBytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
  reset(): void {
    this.hash = this.fresh();
  }
}
