/**
 * Seals: the proof that a stored object was written by someone holding the seal key — an
 * authorized writer (`express-lane load`, or the signer itself for push-API rows) — and not made
 * or altered by the host that fetches the bytes.
 *
 *   seal = HMAC-SHA256(key[kid], SEAL_DOMAIN || kid || "\n" || body)     (wire/object.ts, layout v2)
 *
 * Who holds the key: writers and the signer (enclave). Never the reader runtime: nothing under
 * runtime/ imports this module. Locally the key is a dev key generated into `.lane/keys/`
 * (gitignored); in production the enclave unwraps it with KMS Decrypt + Recipient (attestation),
 * enclave/key-state.ts and docs/keys.md. Which kids an enclave uses, and for which writer, is
 * decided by the admin-signed key directory (wire/key-directory.ts), never by the host.
 */
import { createPrivateKey, randomBytes, timingSafeEqual, type KeyObject } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import {
  decodeObjectBody,
  decodeObjectBodyProjected,
  decodeStoredObject,
  encodeObjectBody,
  encodeSealedObject,
  FeatureObject,
  KeySelector,
  ObjectFormatError,
  SEAL_KID,
  sealPrefix,
} from "../wire/object";
import { HmacSha256 } from "../wire/hmac-sha256";
import { WRITER_ID, type KeyUse } from "../wire/key-directory";
import { entityMessage } from "../wire/errors";

export interface SealKey {
  readonly kid: string;
  /** 32 random bytes. */
  readonly key: Buffer;
  /** The writer this key belongs to (from the signed key directory in the enclave; from the key file for writers). */
  readonly writer?: string;
  /** "write" keys seal; "verify" keys only open what was sealed before (rotation). @default "write" */
  readonly use?: KeyUse;
}

/** Why an object was refused; each is a per-entity error code in signed answers and a metric label. */
export type SealFailure = "seal_missing" | "seal_unknown_key" | "seal_invalid" | "corrupt_object" | "object_mismatch" | "key_directory_expired";

/**
 * The messages that go into signed answers: fixed, signer-authored text only (wire/errors.ts). A
 * decoder's own error text can quote the stored (host-chosen) bytes, so it never reaches a signed body.
 */
export const SEAL_FAILURE_MESSAGES: Readonly<Record<SealFailure, string>> = {
  seal_missing: entityMessage("seal_missing"),
  seal_unknown_key: entityMessage("seal_unknown_key"),
  seal_invalid: entityMessage("seal_invalid"),
  corrupt_object: entityMessage("corrupt_object"),
  object_mismatch: entityMessage("object_mismatch"),
  key_directory_expired: entityMessage("key_directory_expired"),
};

export type OpenResult =
  | {
      readonly ok: true;
      readonly object: FeatureObject;
      readonly writer: string;
      /** The verified seal (kid, MAC): names this body among all a writer key sealed (enclave/checkpoint-state.ts uses it to skip re-hashing). */
      readonly seal: { readonly kid: string; readonly mac: Buffer };
    }
  | { readonly ok: false; readonly code: SealFailure; readonly message: string };

export const SEAL_KEY_BYTES = 32;

/**
 * The keys a process may verify with (all known kids) and seal with (the active kid, or a named
 * write key). In the enclave a keyring is a snapshot of the current key directory (enclave/key-state.ts)
 * and stops verifying anything at the directory's expiry.
 */
export class SealKeyring {
  private readonly keys: ReadonlyMap<
    string,
    {
      readonly key: Buffer;
      readonly writer: string;
      readonly use: KeyUse;
      /** The key's HMAC with its pads computed once (wire/hmac-sha256.ts: ≈ 0.6× createHmac's cost per object). */
      readonly hmac: HmacSha256;
      /** sealPrefix(kid), built once. */
      readonly prefix: Buffer;
    }
  >;
  /** ms since epoch after which open() refuses everything; Infinity for writers' own keyrings. */
  readonly expiresAt: number;

  constructor(
    keys: readonly SealKey[],
    readonly activeKid: string = keys[0]?.kid ?? "",
    options: { readonly expiresAt?: number } = {},
  ) {
    for (const k of keys) {
      if (!SEAL_KID.test(k.kid)) throw new Error(`seal kid ${JSON.stringify(k.kid)} must match ${SEAL_KID.source}`);
      if (k.key.length !== SEAL_KEY_BYTES) throw new Error(`seal key ${k.kid} must be ${SEAL_KEY_BYTES} bytes`);
    }
    this.keys = new Map(
      keys.map((k) => [k.kid, { key: Buffer.from(k.key), writer: k.writer ?? "unknown", use: k.use ?? "write", hmac: new HmacSha256(k.key), prefix: sealPrefix(k.kid) }]),
    );
    if (activeKid !== "" && !this.keys.has(activeKid)) throw new Error(`active seal kid ${JSON.stringify(activeKid)} is not in the keyring`);
    this.expiresAt = options.expiresAt ?? Number.POSITIVE_INFINITY;
  }

  get kids(): string[] {
    return [...this.keys.keys()];
  }

  /** The keyring as constructor input, for this process's own signing threads (enclave/sign-workers.ts); never a frame. */
  entries(): SealKey[] {
    return [...this.keys].map(([kid, k]) => ({ kid, key: k.key, writer: k.writer, use: k.use }));
  }

  /** The writer and key of a kid that may seal (use "write"); undefined for unknown or verify-only kids. */
  writeKey(kid: string): { readonly writer: string; readonly key: Buffer } | undefined {
    const k = this.keys.get(kid);
    return k && k.use === "write" ? { writer: k.writer, key: k.key } : undefined;
  }

  private mac(kid: string, body: Uint8Array): Buffer {
    const entry = this.keys.get(kid);
    if (!entry) throw new Error(`no seal key ${kid}`);
    // Prefix then body: the same MAC input as sealInput(), HMAC-SHA256 as createHmac computes it.
    return entry.hmac.mac(entry.prefix, body);
  }

  /** Encode and seal an object under a write key (default: the active one): the stored bytes of layout v2. */
  seal(object: Omit<FeatureObject, "v">, kid: string = this.activeKid): Buffer {
    if (!this.writeKey(kid)) throw new Error(`seal kid ${JSON.stringify(kid)} is not a write key of this keyring`);
    const body = encodeObjectBody(object);
    return encodeSealedObject(body, kid, this.mac(kid, body));
  }

  /**
   * Verify stored bytes and that they are (view, entity)'s object. The MAC is checked over the
   * body bytes exactly as stored before anything inside the body is trusted.
   */
  /**
   * @param wanted when given, only these features are decoded (projected and batch reads); the
   *   seal is still checked over the whole body first.
   */
  open(bytes: Uint8Array, view: string, entity: string, wanted: KeySelector | null = null, nowMs = Date.now()): OpenResult {
    if (nowMs >= this.expiresAt) return refuse("key_directory_expired");
    let stored;
    try {
      stored = decodeStoredObject(bytes);
    } catch (err) {
      if (err instanceof ObjectFormatError) return refuse("corrupt_object");
      throw err;
    }
    if (stored.v === 1 || stored.seal === null) return refuse("seal_missing");
    const { kid, mac } = stored.seal;
    const entry = this.keys.get(kid);
    if (!entry) return refuse("seal_unknown_key");
    if (!timingSafeEqual(this.mac(kid, stored.body), mac)) return refuse("seal_invalid");
    let object: FeatureObject;
    try {
      // Feature values are checked where they are output (enclave/render.ts), names come from the registry.
      object = wanted ? decodeObjectBodyProjected(stored.body, wanted) : decodeObjectBody(stored.body, { checkFeatures: false });
    } catch (err) {
      // A valid seal over a malformed body means a buggy writer, not tampering; still refuse.
      if (err instanceof ObjectFormatError) return refuse("corrupt_object");
      throw err;
    }
    if (object.view !== view || object.entity !== entity) return refuse("object_mismatch");
    return { ok: true, object, writer: entry.writer, seal: stored.seal };
  }
}

const refuse = (code: SealFailure): OpenResult => ({ ok: false, code, message: SEAL_FAILURE_MESSAGES[code] });

// ---------------------------------------------------------------------------------------------
// Local: a dev key in a file under .lane/keys/ (gitignored), created on first use.

interface SealKeyFile {
  readonly kid: string;
  readonly key: string;
  /** The writer the key belongs to (the key directory lists it under this writer). */
  readonly writer?: string;
  readonly created: string;
  readonly note: string;
}

export function generateSealKey(kidPrefix = "dev"): SealKey {
  return { kid: `${kidPrefix}-${randomBytes(6).toString("hex")}`, key: randomBytes(SEAL_KEY_BYTES) };
}

export function writeSealKeyFile(path: string, key: SealKey): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const file: SealKeyFile = {
    kid: key.kid,
    key: key.key.toString("base64"),
    ...(key.writer ? { writer: key.writer } : {}),
    created: new Date().toISOString(),
    note: "Express Lane LOCAL DEV seal key. Never use outside a local lane; production keys are KMS-wrapped (docs/keys.md).",
  };
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
}

export function readSealKeyFile(path: string): SealKey {
  const raw = JSON.parse(readFileSync(path, "utf8")) as Partial<SealKeyFile>;
  if (typeof raw.kid !== "string" || typeof raw.key !== "string") throw new Error(`${path}: not a seal key file (needs kid and key)`);
  const key = Buffer.from(raw.key, "base64");
  if (key.length !== SEAL_KEY_BYTES) throw new Error(`${path}: key must be ${SEAL_KEY_BYTES} bytes`);
  if (raw.writer !== undefined && (typeof raw.writer !== "string" || !WRITER_ID.test(raw.writer))) throw new Error(`${path}: writer must match ${WRITER_ID.source}`);
  return { kid: raw.kid, key, ...(raw.writer ? { writer: raw.writer } : {}) };
}

/** Read the dev key at `path`, creating it first if absent. */
export function ensureDevSealKeyFile(path: string, writer = "loader"): SealKey {
  if (!existsSync(path)) writeSealKeyFile(path, { ...generateSealKey("dev"), writer });
  return readSealKeyFile(path);
}

// ---------------------------------------------------------------------------------------------
// Local: a dev lane signing key (wire/lane-key.ts) in a file under .lane/keys/. Production lane
// keys never exist in a file: KMS generates them and only attested enclaves unwrap them.

export interface DevLaneKeyFile {
  readonly kid: string;
  readonly privateKeyPem: string;
  /** Raw 32-byte public key, base64. */
  readonly publicKey: string;
  readonly not_before: number;
  readonly not_after: number;
  readonly note?: string;
}

export function readDevLaneKeyFile(path: string): { kid: string; privateKey: KeyObject; notBefore: number; notAfter: number } {
  const raw = JSON.parse(readFileSync(path, "utf8")) as Partial<DevLaneKeyFile>;
  if (typeof raw.kid !== "string" || typeof raw.privateKeyPem !== "string" || typeof raw.not_before !== "number" || typeof raw.not_after !== "number") {
    throw new Error(`${path}: not a lane key file (needs kid, privateKeyPem, not_before, not_after)`);
  }
  return { kid: raw.kid, privateKey: createPrivateKey(raw.privateKeyPem), notBefore: raw.not_before, notAfter: raw.not_after };
}
