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
 * see KmsSealKeySource and docs/keys.md.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
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

export interface SealKey {
  readonly kid: string;
  /** 32 random bytes. */
  readonly key: Buffer;
}

/** Why an object was refused; each is a per-entity error code in signed answers and a metric label. */
export type SealFailure = "seal_missing" | "seal_unknown_key" | "seal_invalid" | "corrupt_object" | "object_mismatch";

export type OpenResult = { readonly ok: true; readonly object: FeatureObject } | { readonly ok: false; readonly code: SealFailure; readonly message: string };

export const SEAL_KEY_BYTES = 32;

/** The keys a process may verify with (all known kids) and seal with (the active kid). */
export class SealKeyring {
  private readonly keys: ReadonlyMap<string, Buffer>;

  constructor(
    keys: readonly SealKey[],
    readonly activeKid: string = keys[0]?.kid ?? "",
  ) {
    for (const k of keys) {
      if (!SEAL_KID.test(k.kid)) throw new Error(`seal kid ${JSON.stringify(k.kid)} must match ${SEAL_KID.source}`);
      if (k.key.length !== SEAL_KEY_BYTES) throw new Error(`seal key ${k.kid} must be ${SEAL_KEY_BYTES} bytes`);
    }
    this.keys = new Map(keys.map((k) => [k.kid, Buffer.from(k.key)]));
    if (!this.keys.has(activeKid)) throw new Error(`active seal kid ${JSON.stringify(activeKid)} is not in the keyring`);
  }

  get kids(): string[] {
    return [...this.keys.keys()];
  }

  private mac(kid: string, body: Uint8Array): Buffer {
    const key = this.keys.get(kid);
    if (!key) throw new Error(`no seal key ${kid}`);
    // Stream prefix then body: the same MAC input as sealInput(), without copying the body.
    return createHmac("sha256", key).update(sealPrefix(kid)).update(body).digest();
  }

  /** Encode and seal an object under the active key: the stored bytes of layout v2. */
  seal(object: Omit<FeatureObject, "v">): Buffer {
    const body = encodeObjectBody(object);
    return encodeSealedObject(body, this.activeKid, this.mac(this.activeKid, body));
  }

  /**
   * Verify stored bytes and that they are (view, entity)'s object. The MAC is checked over the
   * body bytes exactly as stored before anything inside the body is trusted.
   */
  /**
   * @param wanted when given, only these features are decoded (projected and batch reads); the
   *   seal is still checked over the whole body first.
   */
  open(bytes: Uint8Array, view: string, entity: string, wanted: KeySelector | null = null): OpenResult {
    let stored;
    try {
      stored = decodeStoredObject(bytes);
    } catch (err) {
      if (err instanceof ObjectFormatError) return { ok: false, code: "corrupt_object", message: err.message };
      throw err;
    }
    if (stored.v === 1 || stored.seal === null) return { ok: false, code: "seal_missing", message: "stored object carries no seal" };
    const { kid, mac } = stored.seal;
    if (!this.keys.has(kid)) return { ok: false, code: "seal_unknown_key", message: `object sealed under unknown key id ${kid}` };
    if (!timingSafeEqual(this.mac(kid, stored.body), mac)) return { ok: false, code: "seal_invalid", message: "seal does not verify: object altered or sealed with another key" };
    let object: FeatureObject;
    try {
      // Feature values are checked where they are output (enclave/render.ts), names come from the registry.
      object = wanted ? decodeObjectBodyProjected(stored.body, wanted) : decodeObjectBody(stored.body, { checkFeatures: false });
    } catch (err) {
      // A valid seal over a malformed body means a buggy writer, not tampering; still refuse.
      if (err instanceof ObjectFormatError) return { ok: false, code: "corrupt_object", message: err.message };
      throw err;
    }
    if (object.view !== view || object.entity !== entity) {
      return { ok: false, code: "object_mismatch", message: "sealed object belongs to another view or entity" };
    }
    return { ok: true, object };
  }
}

/** Where a process gets its seal keys. The signer asks once at startup. */
export interface SealKeySource {
  readonly description: string;
  load(): Promise<SealKeyring>;
}

// ---------------------------------------------------------------------------------------------
// Local: a dev key in a file under .lane/keys/ (gitignored), created on first use.

interface SealKeyFile {
  readonly kid: string;
  readonly key: string;
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
  return { kid: raw.kid, key };
}

/** Read the dev key at `path`, creating it first if absent. */
export function ensureDevSealKeyFile(path: string): SealKey {
  if (!existsSync(path)) writeSealKeyFile(path, generateSealKey("dev"));
  return readSealKeyFile(path);
}

export class FileSealKeySource implements SealKeySource {
  readonly description: string;
  constructor(private readonly paths: readonly string[]) {
    this.description = `file ${paths.join(", ")}`;
  }

  async load(): Promise<SealKeyring> {
    const keys = this.paths.map(readSealKeyFile);
    return new SealKeyring(keys, keys[0]?.kid);
  }
}

// ---------------------------------------------------------------------------------------------
// Production: KMS-wrapped keys, unwrapped inside the enclave with its attestation.

export interface WrappedSealKey {
  readonly kid: string;
  /** KMS CiphertextBlob of the 32-byte key (from GenerateDataKey / Encrypt under the seal KMS key). */
  readonly ciphertext: Buffer;
}

/**
 * Unwraps each key with `unwrap` — in the enclave, enclave/kms-recipient.ts's
 * decryptWithAttestation({ciphertextBlob, keyId: <seal key ARN, pinned in the image>,
 * encryptionContext: {purpose: "express-lane-seal", kid}}, nsm, kms options) — so the plaintext
 * exists only in enclave memory. The function is injected to keep this module free of AWS I/O.
 */
export class KmsSealKeySource implements SealKeySource {
  readonly description = "KMS Decrypt with Recipient (attested)";
  constructor(
    private readonly wrapped: readonly WrappedSealKey[],
    private readonly unwrap: (key: WrappedSealKey) => Promise<Buffer>,
  ) {}

  async load(): Promise<SealKeyring> {
    const keys: SealKey[] = [];
    for (const w of this.wrapped) keys.push({ kid: w.kid, key: await this.unwrap(w) });
    return new SealKeyring(keys, keys[0]?.kid);
  }
}
