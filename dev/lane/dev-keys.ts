/**
 * The local lane's development keys, generated at run time into `<dataDir>/keys/` (0600; `.lane/`
 * is gitignored — no key is ever in the repository):
 *
 *   admin-dev.json   Ed25519 lane admin key {kid, privateKeyPem, publicKey}: signs the directory
 *   seal-dev.json    the dev writer key {kid, key, writer: "loader"}: seals the demo objects and
 *                    `express-lane load`'s, and signs pushes (same path and format as the dev seal
 *                    key before writer keys; an old file keeps its kid and key and gains `writer`)
 *   trust.json       what a production image pins: {lane: "local", adminKeys: [{kid, publicKey}]}
 *   registry.json    the signed registry document (views) the lane starts with: the default views
 *                    (registry/views.json) signed by the dev admin key, re-signed with the next
 *                    version (registry-version counter) only when the default views changed, so
 *                    the version only moves forward and an `apply`d registry is never rolled back
 *   directory.json   re-signed on every start: epoch = unix seconds now (always ahead of the last
 *                    start's), valid 30 days, listing the dev writer key for "write" (and any
 *                    extra dev keys the signer is given, for "verify": see ensureLaneKeys)
 *
 * Production differs only in where these live: the admin key in KMS, the trust config in the
 * measured image, writer keys KMS-wrapped (docs/keys.md).
 */
import { existsSync, readFileSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { ALL_VIEWS, buildKeyDirectory, keyCommitment, localAdminSigner, signKeyDirectory, type DirectoryKey } from "../../wire/key-directory";
import { createDevLaneKeyFile, ensureDevWriterKeyFile, generateAdminKey, readAdminKeyFile, writeAdminKeyFile, type AdminKeyFile, type WriterKey } from "../../dev/key-files";
import type { ImageTrust as TrustConfig } from "../../enclave/trust-config";
import type { DevLaneKeyFile } from "../../enclave/seal";
import { laneKeysJwks } from "../../wire/lane-key";
import { canonicalJson, parseSignedRegistryDocument, signRegistryDocument, type ViewDocument } from "../../wire/registry-document";
import { DEFAULT_VIEWS } from "../../registry/views";

export const DEV_LANE = "local";
/** How long the dev directory is valid (a lane left running past it refuses every read and push). */
export const DEV_DIRECTORY_VALIDITY_MS = 30 * 86_400_000;

export interface LaneKeyPaths {
  readonly keysDir: string;
  readonly adminKeyFile: string;
  /** The dev writer key (historic name: the dev seal key). */
  readonly writerKeyFile: string;
  readonly trustConfigFile: string;
  readonly directoryFile: string;
  /** The dev lane signing key (one trust anchor for the lane; created by `npm start`). */
  readonly laneKeyFile: string;
  /** Its public half as the consumers' JWKS: what `express-lane verify --key` and the SDKs pin. */
  readonly laneJwksFile: string;
  /** The signed registry document the lane starts with, and the version counter behind it. */
  readonly registryFile: string;
  readonly registryVersionFile: string;
}

export function laneKeyPaths(dataDir: string): LaneKeyPaths {
  const keysDir = join(dataDir, "keys");
  return {
    keysDir,
    adminKeyFile: join(keysDir, "admin-dev.json"),
    writerKeyFile: join(keysDir, "seal-dev.json"),
    trustConfigFile: join(keysDir, "trust.json"),
    directoryFile: join(keysDir, "directory.json"),
    laneKeyFile: join(keysDir, "lane-key-dev.json"),
    laneJwksFile: join(keysDir, "lane-keys.jwks.json"),
    registryFile: join(keysDir, "registry.json"),
    registryVersionFile: join(keysDir, "registry-version"),
  };
}

export interface LaneKeys {
  readonly admin: AdminKeyFile;
  readonly writer: WriterKey;
  readonly trust: TrustConfig;
  /** The signed directory written this start. */
  readonly directory: string;
  readonly epoch: number;
}

function writePrivate(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

export function ensureDevAdminKeyFile(path: string): AdminKeyFile {
  if (!existsSync(path)) writeAdminKeyFile(path, generateAdminKey(`local-admin-${randomBytes(4).toString("hex")}`));
  return readAdminKeyFile(path);
}

/**
 * The directory entry of a writer key: its kid, writer and commitment (never the key). A dev
 * lane has one writer, which also runs every view's sequencer: a "write" key is named sequencer of
 * every view (`sequences: ["*"]`) unless the caller says otherwise.
 */
export function directoryKeyOf(
  key: WriterKey,
  use: DirectoryKey["use"] = "write",
  sequences: readonly string[] | undefined = use === "write" ? [ALL_VIEWS] : undefined,
): DirectoryKey {
  return { kid: key.kid, writer: key.writer, use, commitment: keyCommitment(key.key), ...(sequences ? { sequences } : {}) };
}

/**
 * Sign and write `<keys>/directory.json` with the lane's dev admin key. Default: the dev writer key
 * for "write", epoch = unix seconds now. Tests pass other keys (rotation, revocation) and a higher
 * epoch, then SIGHUP the runtime to deliver it.
 */
export async function signLaneDirectory(
  dataDir: string,
  o: { keys?: readonly DirectoryKey[]; epoch?: number; now?: number; validForMs?: number } = {},
): Promise<{ directory: string; epoch: number }> {
  const paths = laneKeyPaths(dataDir);
  const admin = readAdminKeyFile(paths.adminKeyFile);
  const keys = o.keys ?? [directoryKeyOf(ensureDevWriterKeyFile(paths.writerKeyFile))];
  const now = o.now ?? Date.now();
  const dir = buildKeyDirectory({ lane: DEV_LANE, keys, epoch: o.epoch ?? Math.floor(now / 1000), issuedAt: now, validForMs: o.validForMs ?? DEV_DIRECTORY_VALIDITY_MS });
  const signed = await signKeyDirectory(dir, admin.kid, localAdminSigner(admin.privateKeyPem));
  writePrivate(paths.directoryFile, signed);
  return { directory: signed, epoch: dir.epoch };
}

/**
 * Everything the dev signer needs, created when missing; the directory re-signed every call.
 * `extraKeys` (other dev key files the signer holds) are listed for "verify": the signer keeps key
 * material only while a directory lists its kid, and a dev signer gets its files once, at start —
 * so a key to rotate to later must be staged in the first directory (the production path, KMS
 * blobs re-sent with every provisioning, has no such limit). A later directory makes it "write".
 */
export async function ensureLaneKeys(dataDir: string, now = Date.now(), extraKeys: readonly WriterKey[] = []): Promise<LaneKeys> {
  const paths = laneKeyPaths(dataDir);
  const admin = ensureDevAdminKeyFile(paths.adminKeyFile);
  const writer = ensureDevWriterKeyFile(paths.writerKeyFile);
  // Derived from the admin key: rewritten when it does not match (a replaced admin key), so the
  // signer never pins a key other than the one that signs the directory.
  const trust: TrustConfig = { lane: DEV_LANE, adminKeys: [{ kid: admin.kid, publicKey: admin.publicKey }] };
  const trustText = `${JSON.stringify(trust, null, 2)}\n`;
  if (!existsSync(paths.trustConfigFile) || readFileSync(paths.trustConfigFile, "utf8") !== trustText) writePrivate(paths.trustConfigFile, trustText);
  const { directory, epoch } = await signLaneDirectory(dataDir, {
    keys: [directoryKeyOf(writer), ...extraKeys.filter((k) => k.kid !== writer.kid).map((k) => directoryKeyOf(k, "verify"))],
    now,
  });
  return { admin, writer, trust, directory, epoch };
}

/** How long a dev lane key is valid (re-created when it has under a day left). */
export const DEV_LANE_KEY_VALIDITY_MS = 180 * 86_400_000;

/**
 * The dev lane signing key and its JWKS, created when missing or about to expire: every signer the
 * lane starts (restarts, a second runtime+signer pair) signs with it, so a consumer pins the JWKS
 * once. Production lane keys are made by KMS and exist only inside enclaves (cli/lane-key.ts).
 */
export function ensureDevLaneKey(dataDir: string, now = Date.now()): { kid: string; jwksFile: string } {
  const paths = laneKeyPaths(dataDir);
  let file: DevLaneKeyFile | undefined = existsSync(paths.laneKeyFile) ? (JSON.parse(readFileSync(paths.laneKeyFile, "utf8")) as DevLaneKeyFile) : undefined;
  if (!file || file.not_after - now < 86_400_000) file = createDevLaneKeyFile(paths.laneKeyFile, now - 60_000, now - 60_000 + DEV_LANE_KEY_VALIDITY_MS);
  writeFileSync(paths.laneJwksFile, `${JSON.stringify(laneKeysJwks([file]), null, 2)}\n`);
  return { kid: file.kid, jwksFile: paths.laneJwksFile };
}

/** The last registry version this data dir signed (0 = none). */
export function lastRegistryVersion(dataDir: string): number {
  const file = laneKeyPaths(dataDir).registryVersionFile;
  const n = existsSync(file) ? Number(readFileSync(file, "utf8").trim()) : 0;
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/**
 * Sign a registry document for the local lane with the dev admin key, at the next version of the
 * data dir's counter (or `version`, which must be ahead of it), and write it to `out` (default:
 * `<keys>/registry.json`). Tests and `apply --admin-key-file` use the same admin key file.
 */
export async function signLaneRegistry(
  dataDir: string,
  views: readonly ViewDocument[],
  o: { version?: number; now?: number; out?: string } = {},
): Promise<{ signed: string; version: number }> {
  const paths = laneKeyPaths(dataDir);
  const admin = readAdminKeyFile(paths.adminKeyFile);
  const version = o.version ?? lastRegistryVersion(dataDir) + 1;
  const signed = await signRegistryDocument({ lane: DEV_LANE, version, issued_at: o.now ?? Date.now(), views }, admin.kid, localAdminSigner(admin.privateKeyPem));
  writeFileSync(paths.registryVersionFile, `${Math.max(version, lastRegistryVersion(dataDir))}\n`);
  writePrivate(o.out ?? paths.registryFile, signed);
  return { signed, version };
}

/**
 * The registry document `npm start` gives the lane: kept when it still lists exactly the default
 * views (or the lane has a newer applied one in the store — the runtime forwards whichever is
 * newest), re-signed at the next version when registry/views.json changed.
 */
export async function ensureLaneRegistry(dataDir: string, now = Date.now()): Promise<{ file: string; version: number }> {
  const paths = laneKeyPaths(dataDir);
  if (existsSync(paths.registryFile)) {
    try {
      const held = parseSignedRegistryDocument(readFileSync(paths.registryFile));
      const admin = readAdminKeyFile(paths.adminKeyFile);
      if (held.envelope.signer === admin.kid && canonicalJson(held.document.views).equals(canonicalJson(DEFAULT_VIEWS)))
        return { file: paths.registryFile, version: held.document.version };
      const version = Math.max(held.document.version, lastRegistryVersion(dataDir)) + 1;
      return { file: paths.registryFile, version: (await signLaneRegistry(dataDir, DEFAULT_VIEWS, { version, now })).version };
    } catch {
      /* unreadable or from another admin key: sign a fresh one below */
    }
  }
  return { file: paths.registryFile, version: (await signLaneRegistry(dataDir, DEFAULT_VIEWS, { now })).version };
}
