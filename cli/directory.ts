/**
 * The lane admin's side of the key directory (wire/key-directory.ts, docs/keys.md):
 *
 *   express-lane directory sign --lane <name> --key kid:writer:use:commitment … \
 *       (--admin-key-file admin.json | --admin-key-kms <arn>) [--epoch N] [--valid-for 7d] [--out f]
 *   express-lane directory show <file> [--trust-config trust.json]
 *   express-lane admin-key public --kms <arn>      → the image trust config's adminKeys entry
 *
 * An enclave accepts a directory only when one of the admin keys pinned in its image signed it, for
 * its lane, with an epoch no lower than the last one it took, and not past expiry; it then uses
 * exactly the kids listed (revocation = sign a new directory without the kid). Production admin
 * keys live in KMS (KeySpec ECC_NIST_EDWARDS25519, Sign with ED25519_SHA_512 over the RAW
 * message): the private key never leaves KMS. The local lane uses a dev admin key file.
 */
import { createPublicKey } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { GetPublicKeyCommand, SignCommand } from "@aws-sdk/client-kms";
import { Command, InvalidArgumentError, Option } from "commander";
import {
  ADMIN_KID,
  ALL_VIEWS,
  adminKeyMap,
  adminPublicKey,
  DIRECTORY_CLOCK_SKEW_MS,
  LANE_NAME,
  localAdminSigner,
  MAX_DIRECTORY_VALIDITY_MS,
  parseSignedKeyDirectory,
  signKeyDirectory,
  buildKeyDirectory,
  verifySignedKeyDirectory,
  WRITER_ID,
  type AdminKeyEntry,
  type DirectoryKey,
  type KeyDirectory,
  type KeyUse,
} from "../wire/key-directory";
import { SEAL_KID } from "../wire/object";
import { kmsKeyRegion } from "../wire/seal-keys";
import { parseImageTrust, type ImageTrust } from "../enclave/trust-config";
import { kmsClient, readWrappedWriterKeys, type KmsOptions } from "./writer-key";
import { generateAdminKey, readAdminKeyFile, writeAdminKeyFile } from "../dev/key-files";

export class DirectoryCliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DirectoryCliError";
  }
}

const fail = (message: string): never => {
  throw new DirectoryCliError(message);
};

/** KMS Sign takes at most this many bytes of RAW message (Ed25519 has no DIGEST mode here). */
export const KMS_SIGN_RAW_MAX_BYTES = 4096;

// ---------------------------------------------------------------------------------------------
// Admin keys

/** DER SPKI (KMS GetPublicKey, or a KeyObject export) → base64 raw 32-byte Ed25519 key. */
export function rawEd25519FromSpki(spki: Uint8Array): string {
  let jwk: { kty?: string; crv?: string; x?: string };
  try {
    jwk = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" }).export({ format: "jwk" }) as typeof jwk;
  } catch (err) {
    return fail(`not a DER SubjectPublicKeyInfo: ${(err as Error).message}`);
  }
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || !jwk.x) fail("the public key is not Ed25519");
  return Buffer.from(jwk.x!, "base64url").toString("base64");
}

/** The signing function for an admin key held in KMS (the private half never leaves it). */
export function kmsAdminSigner(keyArn: string, o: KmsOptions = {}): (input: Buffer) => Promise<Uint8Array> {
  const region = o.region ?? kmsKeyRegion(keyArn);
  if (!region) fail("--region is needed when the admin key is not given as an ARN");
  return async (input) => {
    if (input.length > KMS_SIGN_RAW_MAX_BYTES) fail(`the directory is ${input.length} bytes to sign; KMS Sign (RAW) takes at most ${KMS_SIGN_RAW_MAX_BYTES}: list fewer keys`);
    const client = kmsClient(region!, o);
    try {
      const out = await client.send(new SignCommand({ KeyId: keyArn, Message: input, MessageType: "RAW", SigningAlgorithm: "ED25519_SHA_512" }));
      if (!out.Signature || out.Signature.length !== 64) fail("KMS Sign returned no 64-byte Ed25519 signature");
      return out.Signature!;
    } finally {
      client.destroy();
    }
  };
}

/** The trust config entry for a KMS admin key: GetPublicKey (DER SPKI) → raw 32 bytes. */
export async function adminKeyEntryFromKms(keyArn: string, o: KmsOptions & { kid?: string } = {}): Promise<AdminKeyEntry> {
  const region = o.region ?? kmsKeyRegion(keyArn);
  if (!region) fail("--region is needed when the admin key is not given as an ARN");
  const client = kmsClient(region!, o);
  try {
    const out = await client.send(new GetPublicKeyCommand({ KeyId: keyArn }));
    if (out.KeySpec !== "ECC_NIST_EDWARDS25519") fail(`${keyArn} is a ${out.KeySpec ?? "unknown"} key; admin keys are ECC_NIST_EDWARDS25519`);
    if (out.KeyUsage !== undefined && out.KeyUsage !== "SIGN_VERIFY") fail(`${keyArn} is not a signing key (KeyUsage ${out.KeyUsage})`);
    if (out.SigningAlgorithms && !out.SigningAlgorithms.includes("ED25519_SHA_512")) fail(`${keyArn} does not offer ED25519_SHA_512`);
    if (!out.PublicKey) fail("KMS GetPublicKey returned no PublicKey");
    const kid = o.kid ?? defaultAdminKid(out.KeyId ?? keyArn);
    if (!ADMIN_KID.test(kid)) fail(`admin kid must match ${ADMIN_KID.source}`);
    return { kid, publicKey: rawEd25519FromSpki(out.PublicKey!) };
  } finally {
    client.destroy();
  }
}

/** An admin kid from a KMS key ARN: its key id (what `directory sign --admin-key-kms` signs as). */
export function defaultAdminKid(keyArn: string): string {
  return (/:key\/([A-Za-z0-9-]+)$/.exec(keyArn)?.[1] ?? keyArn).slice(0, 64);
}

// ---------------------------------------------------------------------------------------------
// Trust config (the image's pinned anchors; a file in dev)

/** The image trust config (enclave/trust-config.ts: the one parser the signer uses too). */
export type TrustConfig = ImageTrust;

export function parseTrustConfig(text: string, source = "trust config"): TrustConfig {
  const trust = parseImageTrust(text, source);
  for (const k of trust.adminKeys) adminPublicKey(k); // a valid Ed25519 point, not just 32 bytes
  return trust;
}

export function readTrustConfig(path: string): TrustConfig {
  return parseTrustConfig(readFileSync(path, "utf8"), path);
}

/**
 * Verify a signed directory as an enclave with `trust` would, at `now` (ms). What it cannot know
 * here: the epoch the running enclaves hold (an enclave refuses a lower one).
 */
export function verifyDirectoryAgainstTrust(bytes: Uint8Array, trust: TrustConfig, now = Date.now()): KeyDirectory {
  const directory = verifySignedKeyDirectory(bytes, adminKeyMap(trust.adminKeys));
  if (directory.lane !== trust.lane) fail(`directory is for lane ${directory.lane}, the trust config for ${trust.lane}`);
  if (directory.expires_at <= now) fail(`directory expired at ${new Date(directory.expires_at).toISOString()}`);
  if (directory.issued_at > now + DIRECTORY_CLOCK_SKEW_MS) fail(`directory issued in the future (${new Date(directory.issued_at).toISOString()})`);
  return directory;
}

// ---------------------------------------------------------------------------------------------
// Building a directory

/** `kid:writer:use:commitment` (the commitment is base64url: no colons). */
export function parseDirectoryKeySpec(spec: string): DirectoryKey {
  const parts = spec.split(":");
  if (parts.length !== 4) fail(`--key ${JSON.stringify(spec.slice(0, 80))}: expected kid:writer:use:commitment`);
  const [kid, writer, use, commitment] = parts as [string, string, string, string];
  if (!SEAL_KID.test(kid)) fail(`--key: kid must match ${SEAL_KID.source}`);
  if (!WRITER_ID.test(writer)) fail(`--key ${kid}: writer must match ${WRITER_ID.source}`);
  if (use !== "write" && use !== "verify") fail(`--key ${kid}: use must be write or verify`);
  if (!/^[A-Za-z0-9_-]{43}$/.test(commitment)) fail(`--key ${kid}: commitment must be 43 base64url characters (express-lane writer-key create prints it)`);
  return { kid, writer, use: use as KeyUse, commitment };
}

/**
 * `--sequencer <kid>=<view,view…|*>` (repeatable): name a listed write key as the checkpoint
 * sequencer of those views (P8; an enclave accepts a view's checkpoints only under such a key).
 */
export function withSequencers(keys: readonly DirectoryKey[], specs: readonly string[]): DirectoryKey[] {
  const byKid = new Map<string, string[]>();
  for (const spec of specs) {
    const m = /^([^=]+)=(.+)$/.exec(spec);
    if (!m) fail(`--sequencer ${JSON.stringify(spec.slice(0, 80))}: expected kid=view[,view…] or kid=${ALL_VIEWS}`);
    const [, kid, views] = m as unknown as [string, string, string];
    if (!keys.some((k) => k.kid === kid)) fail(`--sequencer ${kid}: no such key in this directory (list it with --key or --from-wrapped)`);
    if (byKid.has(kid)) fail(`--sequencer ${kid} given twice`);
    byKid.set(kid, views.split(","));
  }
  return keys.map((k) => (byKid.has(k.kid) ? { ...k, sequences: byKid.get(k.kid)! } : k));
}

/** `7d`, `12h`, `30m`, `3600s` → ms. */
export function parseDuration(text: string): number {
  const m = /^(\d+)([dhms])$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`${JSON.stringify(text)}: expected a duration like 7d, 12h, 30m or 3600s`);
  const ms = Number(m[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 }[m[2] as "d" | "h" | "m" | "s"];
  if (ms <= 0 || ms > MAX_DIRECTORY_VALIDITY_MS) throw new InvalidArgumentError(`a directory may be valid for 1 s .. ${MAX_DIRECTORY_VALIDITY_MS / 86_400_000} days`);
  return ms;
}

/**
 * Keys from a wrapped keys document plus the commitments `writer-key create` printed (one JSON
 * object per line, or a JSON array, each {kid, commitment}). The first kid of each writer is its
 * `write` key; the writer's older kids stay `verify` (rotation: objects they sealed still read).
 */
export function keysFromWrapped(wrappedPath: string, commitmentsText: string): DirectoryKey[] {
  const doc = readWrappedWriterKeys(wrappedPath);
  const trimmed = commitmentsText.trim();
  let entries: unknown[];
  try {
    entries = trimmed.startsWith("[")
      ? (JSON.parse(trimmed) as unknown[])
      : trimmed
          .split("\n")
          .filter((l) => l.trim() !== "")
          .map((l) => JSON.parse(l) as unknown);
  } catch {
    return fail("--commitments: expected JSON lines (or an array) of {kid, commitment}");
  }
  const commitments = new Map<string, string>();
  for (const e of entries) {
    const { kid, commitment } = (e ?? {}) as { kid?: unknown; commitment?: unknown };
    if (typeof kid === "string" && typeof commitment === "string") commitments.set(kid, commitment);
  }
  const seenWriters = new Set<string>();
  return doc.keys.map((k) => {
    const commitment = commitments.get(k.kid) ?? fail(`--commitments has no commitment for ${k.kid}`);
    const use: KeyUse = seenWriters.has(k.writer) ? "verify" : "write";
    seenWriters.add(k.writer);
    return parseDirectoryKeySpec(`${k.kid}:${k.writer}:${use}:${commitment}`);
  });
}

export function describeDirectory(bytes: Uint8Array): { signer: string; directory: KeyDirectory & { issued: string; expires: string } } {
  const { envelope, directory } = parseSignedKeyDirectory(bytes);
  return { signer: envelope.signer, directory: { ...directory, issued: new Date(directory.issued_at).toISOString(), expires: new Date(directory.expires_at).toISOString() } };
}

// ---------------------------------------------------------------------------------------------
// Commands

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer");
  return n;
};

export function registerDirectoryCommands(program: Command): void {
  const dir = program.command("directory").description("the lane's signed key directory: which writer keys an enclave uses (docs/keys.md)");
  dir
    .command("sign")
    .description("sign a key directory with the lane admin key")
    .requiredOption("--lane <name>", `lane name (${LANE_NAME.source}); an enclave refuses another lane's directory`)
    .option("--key <kid:writer:use:commitment>", "a key to list (repeatable); use = write | verify", collect, [])
    .option("--from-wrapped <file>", "list the keys of this wrapped keys document (first kid per writer: write, older: verify)")
    .option("--commitments <file>", "with --from-wrapped: the {kid, commitment} lines writer-key create printed")
    .option(
      "--sequencer <kid=views>",
      `name a write key the checkpoint sequencer of views (comma-separated, or ${ALL_VIEWS} for all; repeatable): only it may seal their checkpoints`,
      collect,
      [],
    )
    .option("--epoch <n>", "directory epoch; must exceed the running one's (default: unix seconds now)", positiveInt)
    .addOption(new Option("--valid-for <duration>", `validity, at most ${MAX_DIRECTORY_VALIDITY_MS / 86_400_000}d`).default("7d"))
    .option("--admin-key-file <file>", "LOCAL DEV: Ed25519 admin key file {kid, privateKeyPem, publicKey}")
    .option("--admin-key-kms <arn>", "production: the KMS admin key (ECC_NIST_EDWARDS25519)")
    .option("--admin-kid <kid>", "with --admin-key-kms: the kid pinned in the trust config (default: the key id)")
    .option("--out <file>", "write the signed directory here (default: stdout)")
    .addOption(new Option("--region <region>", "AWS region (default: from the key ARN)").env("EXPRESS_LANE_REGION"))
    .addOption(new Option("--kms-endpoint <url>", "KMS endpoint override").env("EXPRESS_LANE_KMS_ENDPOINT"))
    .action(
      async (o: {
        lane: string;
        key: string[];
        sequencer: string[];
        fromWrapped?: string;
        commitments?: string;
        epoch?: number;
        validFor: string;
        adminKeyFile?: string;
        adminKeyKms?: string;
        adminKid?: string;
        out?: string;
        region?: string;
        kmsEndpoint?: string;
      }) => {
        if ((o.adminKeyFile === undefined) === (o.adminKeyKms === undefined)) fail("give exactly one of --admin-key-file and --admin-key-kms");
        if ((o.fromWrapped === undefined) !== (o.commitments === undefined)) fail("--from-wrapped and --commitments go together");
        const listed = [...o.key.map(parseDirectoryKeySpec), ...(o.fromWrapped ? keysFromWrapped(o.fromWrapped, readFileSync(o.commitments!, "utf8")) : [])];
        const keys = withSequencers(listed, o.sequencer);
        const directory = buildKeyDirectory({ lane: o.lane, keys, epoch: o.epoch, validForMs: parseDuration(o.validFor) });
        let signed: string;
        if (o.adminKeyFile) {
          const admin = readAdminKeyFile(o.adminKeyFile);
          signed = await signKeyDirectory(directory, admin.kid, localAdminSigner(admin.privateKeyPem));
        } else {
          const kid = o.adminKid ?? defaultAdminKid(o.adminKeyKms!);
          if (!ADMIN_KID.test(kid)) fail(`admin kid must match ${ADMIN_KID.source}`);
          signed = await signKeyDirectory(directory, kid, kmsAdminSigner(o.adminKeyKms!, { region: o.region, endpoint: o.kmsEndpoint }));
        }
        if (o.out) {
          writeFileSync(o.out, signed);
          process.stdout.write(
            `${JSON.stringify({ lane: directory.lane, epoch: directory.epoch, expires: new Date(directory.expires_at).toISOString(), kids: directory.keys.map((k) => k.kid), out: o.out })}\n`,
          );
        } else process.stdout.write(signed);
      },
    );
  dir
    .command("show")
    .description("print a signed directory decoded; with --trust-config, verify it as an enclave would (exit 1 if it would refuse it)")
    .argument("<file>", "signed directory")
    .option("--trust-config <file>", "image trust config {lane, adminKeys}")
    .action((file: string, o: { trustConfig?: string }) => {
      const bytes = readFileSync(file);
      const shown = describeDirectory(bytes);
      let verified: { ok: true } | { ok: false; error: string } | undefined;
      if (o.trustConfig) {
        try {
          verifyDirectoryAgainstTrust(bytes, readTrustConfig(o.trustConfig));
          verified = { ok: true };
        } catch (err) {
          verified = { ok: false, error: (err as Error).message };
          process.exitCode = 1;
        }
      }
      process.stdout.write(`${JSON.stringify({ ...shown, ...(verified ? { verified } : { verified: "not checked (no --trust-config)" }) }, null, 2)}\n`);
    });

  const admin = program.command("admin-key").description("lane admin keys (sign the key directory)");
  admin
    .command("public")
    .description("the trust config's adminKeys entry {kid, publicKey} for a KMS admin key (GetPublicKey)")
    .requiredOption("--kms <arn>", "the KMS admin key (ECC_NIST_EDWARDS25519)")
    .option("--kid <kid>", "kid to pin (default: the key id; must be what directory sign uses)")
    .addOption(new Option("--region <region>", "AWS region (default: from the key ARN)").env("EXPRESS_LANE_REGION"))
    .addOption(new Option("--kms-endpoint <url>", "KMS endpoint override").env("EXPRESS_LANE_KMS_ENDPOINT"))
    .action(async (o: { kms: string; kid?: string; region?: string; kmsEndpoint?: string }) => {
      process.stdout.write(`${JSON.stringify(await adminKeyEntryFromKms(o.kms, { kid: o.kid, region: o.region, endpoint: o.kmsEndpoint }))}\n`);
    });
  admin
    .command("create")
    .description("LOCAL DEV: a new Ed25519 admin key file (0600) and its trust config entry")
    .requiredOption("--kid <kid>", "admin kid")
    .requiredOption("--dev-out <file>", "where to write it")
    .action((o: { kid: string; devOut: string }) => {
      if (existsSync(o.devOut)) fail(`${o.devOut} exists; not overwriting a key`);
      const key = generateAdminKey(o.kid);
      writeAdminKeyFile(o.devOut, key);
      process.stdout.write(`${JSON.stringify({ kid: key.kid, publicKey: key.publicKey })}\n`);
    });
}
