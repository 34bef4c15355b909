/**
 * The key directory: which writer keys an enclave may use, signed by a lane admin key whose public
 * half is pinned in the measured image. The host delivers it (FrameKind.ProvisionKeys) but cannot
 * make one: only an admin signature makes it acceptable, its epoch only moves forward, and it
 * expires, so a withheld revocation takes effect at the latest when the directory it replaces ends.
 *
 *   signed directory = JSON {v: 1, payload: base64(directory JSON bytes), signer: <admin kid>,
 *                            signature: base64(Ed25519(admin key, KEY_DIRECTORY_DOMAIN || payload))}
 *   directory        = {v: 1, lane, epoch, issued_at, expires_at, keys: [{kid, writer, use, commitment, sequences?}]}
 *
 * A writer key (the HMAC-SHA256 key that seals that writer's objects and authenticates its pushes)
 * is secret; the directory carries only its commitment HMAC-SHA256(key, KEY_COMMITMENT_DOMAIN). The
 * enclave gets the key itself KMS-wrapped (production) or from a dev file (local lane) and uses it
 * only when it matches the commitment, so neither the host nor another writer that can make
 * KMS ciphertexts can slip in a key of its own under a listed kid.
 *
 * `use`: "write" keys may seal pushes and verify objects; "verify" keys only verify objects
 * already written (rotation: the old key stays until its objects are rewritten). A kid not listed
 * is refused everywhere (revocation). `sequences` (write keys only) names the views whose writer
 * checkpoints this key may seal (provable freshness, wire/checkpoint.ts), or ["*"] for every view:
 * an enclave accepts a view's checkpoint only under a key that lists the view, so a writer key
 * that is not the view's sequencer cannot fork its seq or vouch for an old map. Used by admins (cli, sign), the runtime (forwards) and the
 * enclave (verifies); no I/O and no key material here.
 */
import { createHmac, createPrivateKey, createPublicKey, sign as edSign, verify as edVerify, type KeyObject } from "node:crypto";
import { VIEW_NAME } from "./names";
import { SEAL_KID } from "./object";

export const KEY_DIRECTORY_VERSION = 1;
export const KEY_DIRECTORY_DOMAIN = "express-lane/key-directory/v1\n";
export const KEY_COMMITMENT_DOMAIN = "express-lane/key-commitment/v1";
/** A directory may be valid for at most this long: an admin re-signs (heartbeat) before it ends. */
export const MAX_DIRECTORY_VALIDITY_MS = 31 * 24 * 3600 * 1000;
/** Enclave and admin clocks may differ by this much (issued_at in the future). */
export const DIRECTORY_CLOCK_SKEW_MS = 5 * 60 * 1000;
/** KMS Sign takes at most 4096 bytes of RAW message: about 35 keys fit; 32 leaves room. */
export const MAX_DIRECTORY_KEYS = 32;
export const MAX_SIGNED_DIRECTORY_BYTES = 64 * 1024;
/** Writer ids: short, lower-case; they appear in signed answers as `written_by`. */
export const WRITER_ID = /^[a-z][a-z0-9-]{0,31}$/;
/** Admin key ids pinned in the image. */
export const ADMIN_KID = /^[A-Za-z0-9_.-]{1,64}$/;
/** Lane names (one directory per lane; an enclave refuses another lane's directory). */
export const LANE_NAME = /^[a-z][a-z0-9-]{0,31}$/;

export type KeyUse = "write" | "verify";

export interface DirectoryKey {
  readonly kid: string;
  readonly writer: string;
  readonly use: KeyUse;
  /** base64url(HMAC-SHA256(key, KEY_COMMITMENT_DOMAIN)), 43 characters. */
  readonly commitment: string;
  /** Views whose checkpoints this (write) key may seal, or [ALL_VIEWS]; absent = none. */
  readonly sequences?: readonly string[];
}

/** `sequences: ["*"]`: the key may seal checkpoints of every view (a lane with one sequencer for all). */
export const ALL_VIEWS = "*";
export const MAX_VIEW_NAMES = 64;

/** Whether a directory key may seal checkpoints of `view`. */
export function keySequences(key: Pick<DirectoryKey, "use" | "sequences">, view: string): boolean {
  return key.use === "write" && (key.sequences ?? []).some((v) => v === ALL_VIEWS || v === view);
}

export interface KeyDirectory {
  readonly v: typeof KEY_DIRECTORY_VERSION;
  readonly lane: string;
  /** Only moves forward in an enclave; a lower or equal epoch with other content is refused. */
  readonly epoch: number;
  /** ms since epoch. */
  readonly issued_at: number;
  /** ms since epoch; after it the enclave refuses every object and push (fail closed). */
  readonly expires_at: number;
  readonly keys: readonly DirectoryKey[];
}

export interface SignedKeyDirectory {
  readonly v: typeof KEY_DIRECTORY_VERSION;
  readonly payload: string;
  readonly signer: string;
  readonly signature: string;
}

/** An admin public key as pinned in the image (raw 32-byte Ed25519, base64). */
export interface AdminKeyEntry {
  readonly kid: string;
  readonly publicKey: string;
}

export class KeyDirectoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeyDirectoryError";
  }
}

const bad = (message: string): never => {
  throw new KeyDirectoryError(message);
};

export function keyCommitment(key: Uint8Array): string {
  return createHmac("sha256", key).update(KEY_COMMITMENT_DOMAIN).digest("base64url");
}

export function directorySigningInput(payload: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(KEY_DIRECTORY_DOMAIN, "utf8"), payload]);
}

/** A JSON object (not null, not an array): what every document parser here checks first. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function onlyFields(o: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) bad(`${where}: unknown field ${JSON.stringify(k.slice(0, 64))}`);
}

function time(v: unknown, field: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) bad(`${field} must be a positive integer (ms since epoch)`);
  return v as number;
}

/** Validate a directory payload (the JSON inside the signed envelope). */
export function parseKeyDirectory(payload: Uint8Array): KeyDirectory {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(payload).toString("utf8"));
  } catch {
    return bad("directory payload is not JSON");
  }
  if (!isRecord(raw)) return bad("directory must be an object");
  onlyFields(raw, ["v", "lane", "epoch", "issued_at", "expires_at", "keys"], "directory");
  if (raw.v !== KEY_DIRECTORY_VERSION) bad(`directory v must be ${KEY_DIRECTORY_VERSION}`);
  if (typeof raw.lane !== "string" || !LANE_NAME.test(raw.lane)) bad(`directory lane must match ${LANE_NAME.source}`);
  if (typeof raw.epoch !== "number" || !Number.isSafeInteger(raw.epoch) || raw.epoch < 1) bad("directory epoch must be a positive integer");
  const issued = time(raw.issued_at, "issued_at");
  const expires = time(raw.expires_at, "expires_at");
  if (expires <= issued) bad("expires_at must be after issued_at");
  if (expires - issued > MAX_DIRECTORY_VALIDITY_MS) bad(`a directory may be valid for at most ${MAX_DIRECTORY_VALIDITY_MS / 86_400_000} days`);
  if (!Array.isArray(raw.keys) || raw.keys.length > MAX_DIRECTORY_KEYS) bad(`keys must be an array of at most ${MAX_DIRECTORY_KEYS}`);
  const seen = new Set<string>();
  const keys = (raw.keys as unknown[]).map((k, i): DirectoryKey => {
    if (!isRecord(k)) return bad(`keys[${i}] must be an object`);
    onlyFields(k, ["kid", "writer", "use", "commitment", "sequences"], `keys[${i}]`);
    if (typeof k.kid !== "string" || !SEAL_KID.test(k.kid)) bad(`keys[${i}].kid must match ${SEAL_KID.source}`);
    if (seen.has(k.kid as string)) bad(`kid ${k.kid as string} listed twice`);
    seen.add(k.kid as string);
    if (typeof k.writer !== "string" || !WRITER_ID.test(k.writer)) bad(`keys[${i}].writer must match ${WRITER_ID.source}`);
    if (k.use !== "write" && k.use !== "verify") bad(`keys[${i}].use must be "write" or "verify"`);
    if (typeof k.commitment !== "string" || !/^[A-Za-z0-9_-]{43}$/.test(k.commitment)) bad(`keys[${i}].commitment must be 43 base64url characters`);
    const key = { kid: k.kid as string, writer: k.writer as string, use: k.use as KeyUse, commitment: k.commitment as string };
    if (k.sequences === undefined) return key;
    return { ...key, sequences: parseSequences(k.sequences, key.use, `keys[${i}].sequences`) };
  });
  return { v: KEY_DIRECTORY_VERSION, lane: raw.lane as string, epoch: raw.epoch as number, issued_at: issued, expires_at: expires, keys };
}

function parseSequences(raw: unknown, use: KeyUse, at: string): readonly string[] {
  if (use !== "write") bad(`${at}: only a "write" key may sequence views`);
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_VIEW_NAMES) bad(`${at} must be a non-empty array of at most ${MAX_VIEW_NAMES} view names`);
  const views = raw as unknown[];
  for (const v of views) if (typeof v !== "string" || (v !== ALL_VIEWS && !VIEW_NAME.test(v))) bad(`${at}: each entry must be a view name (${VIEW_NAME.source}) or "${ALL_VIEWS}"`);
  if (new Set(views).size !== views.length) bad(`${at} lists a view twice`);
  if (views.includes(ALL_VIEWS) && views.length > 1) bad(`${at}: "${ALL_VIEWS}" stands alone`);
  return views as string[];
}

/** Parse the signed envelope (no signature check: that needs the pinned admin keys). */
export function parseSignedKeyDirectory(bytes: Uint8Array): { readonly envelope: SignedKeyDirectory; readonly payload: Buffer; readonly directory: KeyDirectory } {
  if (bytes.length === 0 || bytes.length > MAX_SIGNED_DIRECTORY_BYTES) bad(`signed directory must be 1..${MAX_SIGNED_DIRECTORY_BYTES} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    return bad("signed directory is not JSON");
  }
  if (!isRecord(raw)) return bad("signed directory must be an object");
  onlyFields(raw, ["v", "payload", "signer", "signature"], "signed directory");
  if (raw.v !== KEY_DIRECTORY_VERSION) bad(`signed directory v must be ${KEY_DIRECTORY_VERSION}`);
  if (typeof raw.signer !== "string" || !ADMIN_KID.test(raw.signer)) bad(`signer must match ${ADMIN_KID.source}`);
  if (typeof raw.payload !== "string" || typeof raw.signature !== "string") bad("payload and signature must be base64 strings");
  const payload = Buffer.from(raw.payload as string, "base64");
  const signature = Buffer.from(raw.signature as string, "base64");
  if (signature.length !== 64) bad("signature must be 64 bytes (Ed25519)");
  const directory = parseKeyDirectory(payload);
  return { envelope: { v: KEY_DIRECTORY_VERSION, payload: raw.payload as string, signer: raw.signer as string, signature: raw.signature as string }, payload, directory };
}

/** Ed25519 public key from a pinned entry. */
export function adminPublicKey(entry: AdminKeyEntry): KeyObject {
  const raw = Buffer.from(entry.publicKey, "base64");
  if (raw.length !== 32) throw new KeyDirectoryError(`admin key ${entry.kid}: publicKey must be 32 bytes (raw Ed25519)`);
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
}

/** The pinned admin keys by kid, each kid checked and each key a valid Ed25519 point. */
export function adminKeyMap(entries: readonly AdminKeyEntry[]): Map<string, KeyObject> {
  return new Map(
    entries.map((entry) => {
      if (!ADMIN_KID.test(entry.kid)) throw new KeyDirectoryError(`admin kid must match ${ADMIN_KID.source}`);
      return [entry.kid, adminPublicKey(entry)] as const;
    }),
  );
}

/** Check the signature against the pinned admin keys; returns the directory it vouches for. */
export function verifySignedKeyDirectory(bytes: Uint8Array, adminKeys: ReadonlyMap<string, KeyObject>): KeyDirectory {
  const { envelope, payload, directory } = parseSignedKeyDirectory(bytes);
  const key = adminKeys.get(envelope.signer);
  if (!key) bad(`directory signed by ${envelope.signer}, which is not an admin key pinned in this image`);
  if (!edVerify(null, directorySigningInput(payload), key!, Buffer.from(envelope.signature, "base64"))) bad("directory signature does not verify");
  return directory;
}

/** Admin side: sign a directory with a signing function (a local Ed25519 key, or KMS Sign). */
export async function signKeyDirectory(directory: KeyDirectory, signer: string, sign: (input: Buffer) => Promise<Uint8Array> | Uint8Array): Promise<string> {
  const payload = Buffer.from(JSON.stringify(directory), "utf8");
  parseKeyDirectory(payload); // never sign what an enclave would refuse
  const signature = Buffer.from(await sign(directorySigningInput(payload)));
  const envelope: SignedKeyDirectory = { v: KEY_DIRECTORY_VERSION, payload: payload.toString("base64"), signer, signature: signature.toString("base64") };
  return `${JSON.stringify(envelope, null, 2)}\n`;
}

/** A local Ed25519 admin key (dev lane, tests): PKCS#8 PEM → signing function. */
export function localAdminSigner(privateKeyPem: string): (input: Buffer) => Buffer {
  const key = createPrivateKey(privateKeyPem);
  return (input) => edSign(null, input, key);
}

/** A directory of `keys` for `lane`, checked as an enclave checks it (never sign one it would refuse). */
export function buildKeyDirectory(o: { lane: string; keys: readonly DirectoryKey[]; epoch?: number; issuedAt?: number; validForMs?: number }): KeyDirectory {
  const issuedAt = o.issuedAt ?? Date.now();
  const directory: KeyDirectory = {
    v: KEY_DIRECTORY_VERSION,
    lane: o.lane,
    epoch: o.epoch ?? Math.floor(issuedAt / 1000),
    issued_at: issuedAt,
    expires_at: issuedAt + (o.validForMs ?? 7 * 86_400_000),
    keys: [...o.keys],
  };
  return parseKeyDirectory(Buffer.from(JSON.stringify(directory))); // the enclave's own checks, before signing
}
