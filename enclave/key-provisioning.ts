/**
 * Keys reach the enclave through the host, which can deliver or withhold them but not choose them.
 *
 * What is pinned in the measured image (the image trust config, enclave/image/trust.json, baked at
 * EIF build time so it is part of PCR0): the lane name, the admin public keys that sign key
 * directories, and in production the seal KMS key ARN and its region. What the host sends
 * (FrameKind.ProvisionKeys): the signed key directory, and in production the KMS ciphertexts of the
 * writer keys with temporary credentials of its instance role. None of it gives the host anything:
 * the directory needs an admin signature (enclave/key-state.ts); the credentials only let the
 * enclave *ask* KMS (the key policy grants the host role Decrypt only under
 * kms:RecipientAttestation:ImageSha384 = this image's PCR0), and KMS answers with
 * CiphertextForRecipient that only this enclave's RSA key opens (enclave/kms-recipient.ts).
 *
 * For every kid the directory lists and we do not hold, we ask KMS with KeyId = the pinned ARN and
 * EncryptionContext {purpose, kid, writer (from the directory)}, so
 *   - a blob under another KMS key is refused by KMS (and a response naming another key by us),
 *   - a blob cannot be relabelled under another kid or writer (the context is bound into it),
 *   - a response carrying Plaintext instead of CiphertextForRecipient is refused,
 *   - a key that is not the one the admin listed fails the directory's commitment.
 * The directory applies even when a blob fails (revocations take effect at once); the kids without
 * a key are reported `missing` and their objects are refused.
 */
import { DEFAULT_KMS_ENDPOINT, decryptWithAttestation, type AwsCredentials } from "./kms-recipient";
import { createPrivateKey } from "node:crypto";
import { KeyState, KeyStateError } from "./key-state";
import type { LaneKeys } from "./lane-keys";
import { laneKeyEncryptionContext } from "../wire/lane-key";
import type { Nsm } from "./nsm/types";
import type { ProvisionKeysRequest, ProvisionKeysResponse } from "../wire/frames";
import { SEAL_KID } from "../wire/object";
import { KMS_KEY_ARN, kmsKeyRegion, sealKeyEncryptionContext } from "../wire/seal-keys";

export interface SealKmsConfig {
  /** The seal KMS key; a full key ARN (an alias could be repointed). */
  readonly keyArn: string;
  /** Must be the ARN's region. */
  readonly region: string;
  /**
   * Where KMS is reached. @default https://127.0.0.1:8000 (the vsock bridge to the parent's
   * vsock-proxy). Only https is accepted on the device NSM; http is for the local fake KMS.
   */
  readonly endpoint?: string;
}

export class SealProvisioningError extends Error {
  constructor(
    readonly code: "bad_provisioning" | "seal_unwrap_failed" | "kms_provisioning_disabled",
    message: string,
  ) {
    super(message);
    this.name = "SealProvisioningError";
  }
}

/** The `sealKms` member of the image trust config (enclave/trust-config.ts). */
export function parseSealKmsConfig(value: unknown, source = "sealKms"): SealKmsConfig {
  const raw = (value ?? {}) as Partial<SealKmsConfig>;
  if (typeof value !== "object" || value === null) throw new Error(`${source}: must be an object`);
  const known = new Set(["keyArn", "region", "endpoint"]);
  for (const k of Object.keys(raw ?? {})) if (!known.has(k)) throw new Error(`${source}: unknown field ${k}`);
  if (typeof raw.keyArn !== "string" || !KMS_KEY_ARN.test(raw.keyArn)) throw new Error(`${source}: keyArn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)`);
  if (typeof raw.region !== "string" || raw.region !== kmsKeyRegion(raw.keyArn)) throw new Error(`${source}: region must be the key ARN's region (${kmsKeyRegion(raw.keyArn)})`);
  if (raw.endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(String(raw.endpoint));
    } catch {
      throw new Error(`${source}: endpoint is not a URL`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error(`${source}: endpoint must be http(s)`);
  }
  return { keyArn: raw.keyArn, region: raw.region, endpoint: raw.endpoint };
}

/** Unwraps one writer key (32 bytes) for the enclave; injected so tests can count calls. */
export type SealKeyUnwrap = (input: { kid: string; writer: string; ciphertextBlob: Buffer }, credentials: AwsCredentials) => Promise<Buffer>;

/** The production unwrap: KMS Decrypt with Recipient, KeyId = pinned ARN, context {purpose, kid, writer}. */
export function attestedSealKeyUnwrap(config: SealKmsConfig, nsm: Nsm, options: { timeoutMs?: number } = {}): SealKeyUnwrap {
  return (input, credentials) =>
    decryptWithAttestation({ ciphertextBlob: input.ciphertextBlob, keyId: config.keyArn, encryptionContext: sealKeyEncryptionContext(input.kid, input.writer) }, nsm, {
      region: config.region,
      credentials,
      endpoint: config.endpoint ?? DEFAULT_KMS_ENDPOINT,
      timeoutMs: options.timeoutMs,
    });
}

const bad = (message: string) => new SealProvisioningError("bad_provisioning", message);

/** Unwraps one lane signing key (PKCS#8 DER) for the enclave. */
export type LaneKeyUnwrap = (input: { kid: string; ciphertextBlob: Buffer; notBefore: number; notAfter: number }, credentials: AwsCredentials) => Promise<Buffer>;

/** The production lane key unwrap: KMS Decrypt with Recipient, context {purpose, lane, not_before, not_after}; the kid is checked on the key itself (LaneKeys.offer). */
export function attestedLaneKeyUnwrap(config: SealKmsConfig, lane: string, nsm: Nsm, options: { timeoutMs?: number } = {}): LaneKeyUnwrap {
  return (input, credentials) =>
    decryptWithAttestation(
      { ciphertextBlob: input.ciphertextBlob, keyId: config.keyArn, encryptionContext: laneKeyEncryptionContext(lane, input.notBefore, input.notAfter) },
      nsm,
      { region: config.region, credentials, endpoint: config.endpoint ?? DEFAULT_KMS_ENDPOINT, timeoutMs: options.timeoutMs },
    );
}

/**
 * Turns provisioning requests into key state. Requests are serialized (one KMS round at a time).
 * Without a pinned KMS config (local dev) only directories are accepted; key material then comes
 * from the dev key files given at start.
 */
export class KeyProvisioner {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly state: KeyState,
    readonly kms?: { readonly config: SealKmsConfig; readonly unwrap: SealKeyUnwrap; readonly unwrapLaneKey?: LaneKeyUnwrap },
    readonly laneKeys?: LaneKeys,
    private readonly now: () => number = Date.now,
  ) {}

  provision(request: ProvisionKeysRequest): Promise<ProvisionKeysResponse> {
    const run = this.queue.then(() => this.provisionNow(request));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async provisionNow(request: ProvisionKeysRequest): Promise<ProvisionKeysResponse> {
    if (((request.wrapped && request.wrapped.length > 0) || (request.laneKeys && request.laneKeys.length > 0)) && !this.kms)
      throw new SealProvisioningError("kms_provisioning_disabled", "this image pins no seal KMS key: it accepts no wrapped keys");
    if (this.kms && request.region !== undefined && request.region !== this.kms.config.region) {
      throw bad(`region ${JSON.stringify(request.region)} is not the pinned seal key region ${this.kms.config.region}`);
    }
    const directory = this.state.acceptDirectory(request.directory);
    const unwrapped: string[] = [];
    const failures: string[] = [];
    if (this.kms && request.wrapped) {
      if (!request.credentials) throw bad("wrapped keys need credentials to ask KMS with");
      const seen = new Set<string>();
      for (const w of request.wrapped) {
        if (!SEAL_KID.test(w.kid) || seen.has(w.kid)) throw bad(`kid ${JSON.stringify(w.kid)} is malformed or listed twice`);
        seen.add(w.kid);
        const writer = this.state.writerOf(w.kid);
        // Blobs for kids the directory does not list are never unwrapped; held kids need no KMS call.
        if (writer === undefined || this.state.holds(w.kid)) continue;
        try {
          const key = await this.kms.unwrap({ kid: w.kid, writer, ciphertextBlob: Buffer.from(w.ciphertextBlob) }, request.credentials);
          this.state.offerKeys([{ kid: w.kid, key }]);
          unwrapped.push(w.kid);
        } catch (err) {
          failures.push(`${w.kid}: ${err instanceof KeyStateError ? err.message : (err as Error).message}`);
        }
      }
    }
    if (this.kms?.unwrapLaneKey && this.laneKeys && request.laneKeys) {
      if (!request.credentials) throw bad("lane keys need credentials to ask KMS with");
      for (const l of request.laneKeys) {
        if (this.laneKeys.holds(l.kid) || l.notAfter <= this.now()) continue;
        try {
          // KMS opens the blob only with the exact context it was made with: kid and validity are the admin's.
          const der = await this.kms.unwrapLaneKey(
            { kid: l.kid, ciphertextBlob: Buffer.from(l.ciphertextBlob), notBefore: l.notBefore, notAfter: l.notAfter },
            request.credentials,
          );
          this.laneKeys.offer(l.kid, createPrivateKey({ key: der, format: "der", type: "pkcs8" }), l.notBefore, l.notAfter);
          unwrapped.push(l.kid);
        } catch (err) {
          // Reported by omission (the reply lists the lane keys held); writer keys decide the failure below.
          void err;
        }
      }
    }
    if (failures.length > 0 && unwrapped.length === 0 && this.state.keyring?.kids.length === 0) {
      throw new SealProvisioningError("seal_unwrap_failed", `no writer key could be unwrapped: ${failures.join("; ").slice(0, 1024)}`);
    }
    const laneKeys = (this.laneKeys?.list(this.now()) ?? []).map((h) => ({ ...h.key.info, notBefore: h.notBefore, notAfter: h.notAfter }));
    return {
      lane: directory.lane,
      epoch: directory.epoch,
      expires_at: directory.expires_at,
      kids: this.state.keyring?.kids ?? [],
      missing: this.state.missing,
      unwrapped,
      laneKeys,
    };
  }
}
