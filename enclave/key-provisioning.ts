/**
 * Production seal keys: provisioned by the host, unwrapped by the enclave with its attestation.
 *
 * What is pinned in the measured image (`--seal-kms-config`, enclave/image/seal-kms.json, baked
 * at EIF build time so it is part of PCR0): the seal KMS key ARN and its region. What the host
 * sends (FrameKind.ProvisionSealKeys): the KMS ciphertexts of the seal keys and temporary
 * credentials of its instance role. Neither gives the host anything: the credentials only let the
 * enclave *ask* KMS (the key policy grants the host role Decrypt only under
 * kms:RecipientAttestation:ImageSha384 = this image's PCR0), and KMS answers with
 * CiphertextForRecipient that only this enclave's RSA key opens (enclave/kms-recipient.ts).
 *
 * For every kid we ask KMS with KeyId = the pinned ARN and EncryptionContext {purpose, kid}, so
 *   - a blob under another KMS key is refused by KMS (and a response naming another key by us),
 *   - a blob cannot be relabelled under another kid (the context is bound into the ciphertext),
 *   - a response carrying Plaintext instead of CiphertextForRecipient is refused.
 * Provisioning is all-or-nothing: one refused key fails the request and keeps the keys we had.
 */
import { readFileSync } from "node:fs";
import { SealKeyring } from "./seal";
import { DEFAULT_KMS_ENDPOINT, decryptWithAttestation, type AwsCredentials } from "./kms-recipient";
import type { Nsm } from "./nsm/types";
import type { ProvisionSealKeysRequest, ProvisionSealKeysResponse } from "../wire/frames";
import { SEAL_KID } from "../wire/object";
import { KMS_KEY_ARN, kmsKeyRegion, MAX_WRAPPED_BLOB_BYTES, MAX_WRAPPED_KEYS, sealKeyEncryptionContext } from "../wire/seal-keys";

export interface SealKmsConfig {
  /** The seal KMS key; a full key ARN (an alias could be repointed). */
  readonly keyArn: string;
  /** Must be the ARN's region. */
  readonly region: string;
  /** Seal pushes with this kid when it is provisioned. @default the first provisioned kid */
  readonly activeKid?: string;
  /**
   * Where KMS is reached. @default https://127.0.0.1:8000 (the vsock bridge to the parent's
   * vsock-proxy). Only https is accepted on the device NSM; http is for the local fake KMS.
   */
  readonly endpoint?: string;
}

export class SealProvisioningError extends Error {
  constructor(
    readonly code: "bad_provisioning" | "seal_unwrap_failed" | "seal_provisioning_disabled",
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "SealProvisioningError";
  }
}

export function parseSealKmsConfig(text: string, source = "seal KMS config"): SealKmsConfig {
  let raw: Partial<SealKmsConfig>;
  try {
    raw = JSON.parse(text) as Partial<SealKmsConfig>;
  } catch {
    throw new Error(`${source}: not JSON`);
  }
  const known = new Set(["keyArn", "region", "activeKid", "endpoint"]);
  for (const k of Object.keys(raw ?? {})) if (!known.has(k)) throw new Error(`${source}: unknown field ${k}`);
  if (typeof raw.keyArn !== "string" || !KMS_KEY_ARN.test(raw.keyArn)) throw new Error(`${source}: keyArn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)`);
  if (typeof raw.region !== "string" || raw.region !== kmsKeyRegion(raw.keyArn)) throw new Error(`${source}: region must be the key ARN's region (${kmsKeyRegion(raw.keyArn)})`);
  if (raw.activeKid !== undefined && (typeof raw.activeKid !== "string" || !SEAL_KID.test(raw.activeKid))) throw new Error(`${source}: activeKid must match ${SEAL_KID.source}`);
  if (raw.endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(String(raw.endpoint));
    } catch {
      throw new Error(`${source}: endpoint is not a URL`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error(`${source}: endpoint must be http(s)`);
  }
  return { keyArn: raw.keyArn, region: raw.region, activeKid: raw.activeKid, endpoint: raw.endpoint };
}

export function readSealKmsConfig(path: string): SealKmsConfig {
  return parseSealKmsConfig(readFileSync(path, "utf8"), path);
}

/** Unwraps one seal key (32 bytes) for the enclave; injected so tests can count calls. */
export type SealKeyUnwrap = (input: { kid: string; ciphertextBlob: Buffer }, credentials: AwsCredentials) => Promise<Buffer>;

/** The production unwrap: KMS Decrypt with Recipient, KeyId = pinned ARN, context {purpose, kid}. */
export function attestedSealKeyUnwrap(config: SealKmsConfig, nsm: Nsm, options: { timeoutMs?: number } = {}): SealKeyUnwrap {
  return (input, credentials) =>
    decryptWithAttestation(
      { ciphertextBlob: input.ciphertextBlob, keyId: config.keyArn, encryptionContext: sealKeyEncryptionContext(input.kid) },
      nsm,
      { region: config.region, credentials, endpoint: config.endpoint ?? DEFAULT_KMS_ENDPOINT, timeoutMs: options.timeoutMs },
    );
}

const bad = (message: string) => new SealProvisioningError("bad_provisioning", 400, message);

function boundedString(v: unknown, field: string, max = 4096): string {
  if (typeof v !== "string" || v.length === 0 || v.length > max) throw bad(`${field} must be a non-empty string (≤ ${max} characters)`);
  return v;
}

/** Validates an untrusted ProvisionSealKeys payload against the pinned config. */
export function parseProvisionRequest(message: unknown, config: SealKmsConfig): { credentials: AwsCredentials; wrapped: { kid: string; ciphertextBlob: Buffer }[] } {
  const m = message as Partial<Record<keyof ProvisionSealKeysRequest, unknown>> | null;
  if (!m || typeof m !== "object") throw bad("payload must be a map");
  if (m.region !== undefined && m.region !== null && m.region !== config.region) {
    throw bad(`region ${JSON.stringify(m.region)} is not the pinned seal key region ${config.region}`);
  }
  const c = m.credentials as Record<string, unknown> | undefined;
  if (!c || typeof c !== "object") throw bad("credentials missing");
  const credentials: AwsCredentials = {
    accessKeyId: boundedString(c.accessKeyId, "credentials.accessKeyId", 128),
    secretAccessKey: boundedString(c.secretAccessKey, "credentials.secretAccessKey", 256),
    ...(c.sessionToken !== undefined && c.sessionToken !== null ? { sessionToken: boundedString(c.sessionToken, "credentials.sessionToken", 4096) } : {}),
  };
  if (!Array.isArray(m.wrapped) || m.wrapped.length === 0 || m.wrapped.length > MAX_WRAPPED_KEYS) throw bad(`wrapped must list 1..${MAX_WRAPPED_KEYS} keys`);
  const seen = new Set<string>();
  const wrapped = (m.wrapped as unknown[]).map((w) => {
    const e = w as Record<string, unknown> | null;
    const kid = e?.kid;
    if (typeof kid !== "string" || !SEAL_KID.test(kid)) throw bad(`kid ${JSON.stringify(kid)} must match ${SEAL_KID.source}`);
    if (seen.has(kid)) throw bad(`kid ${kid} listed twice`);
    seen.add(kid);
    const blob = e?.ciphertextBlob;
    if (!(blob instanceof Uint8Array) || blob.length === 0 || blob.length > MAX_WRAPPED_BLOB_BYTES) throw bad(`${kid}: ciphertextBlob must be 1..${MAX_WRAPPED_BLOB_BYTES} bytes`);
    return { kid, ciphertextBlob: Buffer.from(blob) };
  });
  return { credentials, wrapped };
}

/**
 * Holds the seal keys this enclave has unwrapped and turns each provisioning request into the
 * keyring the signer uses. Requests are serialized (one KMS round at a time).
 */
export class SealKeyProvisioner {
  /** kid → 32-byte key, every key unwrapped so far (only ever under the pinned key ARN). */
  private readonly unwrapped = new Map<string, Buffer>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly config: SealKmsConfig,
    private readonly unwrap: SealKeyUnwrap,
  ) {}

  provision(message: unknown): Promise<{ keyring: SealKeyring; response: ProvisionSealKeysResponse }> {
    const run = this.queue.then(() => this.provisionNow(message));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async provisionNow(message: unknown): Promise<{ keyring: SealKeyring; response: ProvisionSealKeysResponse }> {
    const { credentials, wrapped } = parseProvisionRequest(message, this.config);
    const fresh = new Map<string, Buffer>();
    for (const w of wrapped) {
      if (this.unwrapped.has(w.kid)) continue;
      let key: Buffer;
      try {
        key = await this.unwrap(w, credentials);
      } catch (err) {
        throw new SealProvisioningError("seal_unwrap_failed", 502, `seal key ${w.kid}: ${(err as Error).message}`);
      }
      if (key.length !== 32) throw new SealProvisioningError("seal_unwrap_failed", 502, `seal key ${w.kid}: unwrapped ${key.length} bytes, expected 32`);
      fresh.set(w.kid, key);
    }
    // All or nothing: only now do the new keys join.
    for (const [kid, key] of fresh) this.unwrapped.set(kid, key);
    const kids = wrapped.map((w) => w.kid);
    const activeKid = this.config.activeKid !== undefined && kids.includes(this.config.activeKid) ? this.config.activeKid : kids[0]!;
    const keyring = new SealKeyring(
      kids.map((kid) => ({ kid, key: this.unwrapped.get(kid)! })),
      activeKid,
    );
    return { keyring, response: { kids, activeKid, unwrapped: [...fresh.keys()], keyArn: this.config.keyArn } };
  }
}
