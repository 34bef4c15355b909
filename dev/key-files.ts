/**
 * The local lane's dev key files (0600, under .lane/keys/, gitignored), shared by the local lane
 * (dev/lane/), the CLI (`push --writer-key-file`, `load`, `apply --admin-key-file`,
 * `writer-key create --dev-out`, `lane-key create --dev-out`) and the tests. Every key here sits on
 * a developer's disk: production writer and lane keys are KMS-wrapped and admin keys live in KMS
 * (docs/keys.md).
 *
 *   writer key file  {kid, key (base64, 32 bytes), writer, created, note}: seals that writer's
 *                    objects and signs its pushes (wire/writer-auth.ts). A file without a writer is
 *                    refused: a key that belongs to nobody cannot be put in a directory.
 *   admin key file   {kid, privateKeyPem (Ed25519 PKCS#8), publicKey (raw, base64), note}: signs
 *                    the lane's key directory and registry documents.
 *   lane key file    enclave/seal.ts DevLaneKeyFile: the lane signing key of the local lane.
 */
import { createPublicKey, generateKeyPairSync, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { SEAL_KEY_BYTES, SealKeyring, type DevLaneKeyFile, type SealKey } from "../enclave/seal";
import { ADMIN_KID, WRITER_ID } from "../wire/key-directory";
import { rawFromPublicKey } from "../wire/keys";
import { checkValidity, laneKidOf } from "../wire/lane-key";
import { SEAL_KID } from "../wire/object";

/** The writer the local lane's dev key belongs to (demo data, `express-lane load`, the e2e pushes). */
export const DEV_WRITER = "loader";

export interface WriterKey extends SealKey {
  /** WRITER_ID: the id the directory lists the kid under and signed answers name as `written_by`. */
  readonly writer: string;
}

export class WriterKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WriterKeyError";
  }
}

export function checkWriter(writer: unknown, where: string): string {
  if (typeof writer !== "string" || !WRITER_ID.test(writer)) throw new WriterKeyError(`${where}: writer must match ${WRITER_ID.source}`);
  return writer;
}

// ---------------------------------------------------------------------------------------------
// Dev key files

interface WriterKeyFile {
  readonly kid: string;
  readonly key: string;
  readonly writer: string;
  readonly created: string;
  readonly note: string;
}

export function generateWriterKey(writer: string, kidPrefix = "dev"): WriterKey {
  checkWriter(writer, "new writer key");
  return { kid: `${kidPrefix}-${randomBytes(6).toString("hex")}`, key: randomBytes(SEAL_KEY_BYTES), writer };
}

export function writeWriterKeyFile(path: string, key: WriterKey, created = new Date()): void {
  checkWriter(key.writer, path);
  if (!SEAL_KID.test(key.kid)) throw new WriterKeyError(`${path}: kid must match ${SEAL_KID.source}`);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const file: WriterKeyFile = {
    kid: key.kid,
    key: Buffer.from(key.key).toString("base64"),
    writer: key.writer,
    created: created.toISOString(),
    note: "Express Lane LOCAL DEV writer key (seals this writer's objects and signs its pushes). Never use outside a local lane; production keys are KMS-wrapped (docs/keys.md).",
  };
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600); // writeFileSync's mode applies only when it creates the file
}

function parseKeyFile(path: string): { kid: string; key: Buffer; writer?: unknown; created?: unknown } {
  let raw: Partial<WriterKeyFile>;
  try {
    raw = JSON.parse(readFileSync(path, "utf8")) as Partial<WriterKeyFile>;
  } catch (err) {
    throw new WriterKeyError(`${path}: not a JSON key file (${(err as Error).message})`);
  }
  if (typeof raw.kid !== "string" || !SEAL_KID.test(raw.kid) || typeof raw.key !== "string") throw new WriterKeyError(`${path}: not a writer key file (needs kid, key and writer)`);
  const key = Buffer.from(raw.key, "base64");
  if (key.length !== SEAL_KEY_BYTES) throw new WriterKeyError(`${path}: key must be ${SEAL_KEY_BYTES} bytes (base64)`);
  return { kid: raw.kid, key, writer: raw.writer, created: raw.created };
}

/** A dev writer key file; refuses one without a writer (a pre-#11 seal key file). */
export function readWriterKeyFile(path: string): WriterKey {
  const parsed = parseKeyFile(path);
  if (parsed.writer === undefined)
    throw new WriterKeyError(`${path}: key ${parsed.kid} names no writer (an old seal key file); add "writer": "<id>" or create one with express-lane writer-key create --dev-out`);
  return { kid: parsed.kid, key: parsed.key, writer: checkWriter(parsed.writer, path) };
}

/**
 * The local lane's dev key at `path`: created on first use; a key file from before writer keys
 * ({kid, key}) is kept — same kid and key, so objects already sealed with it stay valid — and
 * given `writer` (DEV_WRITER) in place.
 */
export function ensureDevWriterKeyFile(path: string, writer = DEV_WRITER): WriterKey {
  if (!existsSync(path)) {
    writeWriterKeyFile(path, generateWriterKey(writer));
    return readWriterKeyFile(path);
  }
  const parsed = parseKeyFile(path);
  if (parsed.writer === undefined) {
    const created = typeof parsed.created === "string" && !Number.isNaN(Date.parse(parsed.created)) ? new Date(parsed.created) : new Date();
    writeWriterKeyFile(path, { kid: parsed.kid, key: parsed.key, writer }, created);
  }
  return readWriterKeyFile(path);
}

/** The keyring a writer seals with: its first key is active; all of them verify current objects. */
export function writerKeyring(keys: readonly WriterKey[]): SealKeyring {
  if (keys.length === 0) throw new WriterKeyError("no writer keys");
  const writers = new Set(keys.map((k) => k.writer));
  if (writers.size !== 1) throw new WriterKeyError(`one writer at a time: keys belong to ${[...writers].join(", ")}`);
  return new SealKeyring(keys, keys[0]!.kid);
}

// ---------------------------------------------------------------------------------------------
// Admin keys

export class AdminKeyFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AdminKeyFileError";
  }
}

const failAdmin = (message: string): never => {
  throw new AdminKeyFileError(message);
};

/** A dev admin key file (local lane, tests): Ed25519, PKCS#8 PEM + the raw public key. */
export interface AdminKeyFile {
  readonly kid: string;
  readonly privateKeyPem: string;
  /** base64 of the raw 32-byte Ed25519 public key (the trust config's format). */
  readonly publicKey: string;
}

export function generateAdminKey(kid: string): AdminKeyFile {
  if (!ADMIN_KID.test(kid)) failAdmin(`admin kid must match ${ADMIN_KID.source}`);
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { kid, privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(), publicKey: rawFromPublicKey(publicKey).toString("base64") };
}

export function writeAdminKeyFile(path: string, key: AdminKeyFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(
    path,
    `${JSON.stringify({ ...key, note: "Express Lane LOCAL DEV admin key (signs this lane's key directory). Production admin keys live in KMS (docs/keys.md)." }, null, 2)}\n`,
    { mode: 0o600 },
  );
  chmodSync(path, 0o600);
}

export function readAdminKeyFile(path: string): AdminKeyFile {
  let raw: Partial<AdminKeyFile>;
  try {
    raw = JSON.parse(readFileSync(path, "utf8")) as Partial<AdminKeyFile>;
  } catch (err) {
    return failAdmin(`${path}: not a JSON admin key file (${(err as Error).message})`);
  }
  if (typeof raw.kid !== "string" || !ADMIN_KID.test(raw.kid)) failAdmin(`${path}: kid must match ${ADMIN_KID.source}`);
  if (typeof raw.privateKeyPem !== "string" || typeof raw.publicKey !== "string") failAdmin(`${path}: needs privateKeyPem and publicKey`);
  // The public half must be the private key's: a mismatch would sign directories no enclave takes.
  const derived = rawFromPublicKey(createPublicKey(raw.privateKeyPem!)).toString("base64");
  if (derived !== raw.publicKey) failAdmin(`${path}: publicKey is not the private key's public key`);
  return { kid: raw.kid!, privateKeyPem: raw.privateKeyPem!, publicKey: raw.publicKey! };
}

// ---------------------------------------------------------------------------------------------
// Lane keys

/** A development lane key (the local lane): the private key in a file, never for production. */
export function createDevLaneKeyFile(path: string, notBefore: number, notAfter: number): DevLaneKeyFile {
  checkValidity(notBefore, notAfter, "lane key");
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x as string, "base64url");
  const file: DevLaneKeyFile = {
    kid: laneKidOf(raw),
    privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    publicKey: raw.toString("base64"),
    not_before: notBefore,
    not_after: notAfter,
    note: "Express Lane LOCAL DEV lane signing key. Production lane keys exist only inside enclaves (KMS GenerateDataKeyPairWithoutPlaintext).",
  };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return file;
}
