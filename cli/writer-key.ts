/**
 * Writer keys (docs/keys.md): each writer (`loader`, a streaming job, …) has its own HMAC-SHA256
 * keys. One key both seals the writer's objects (layout v2) and signs its pushes
 * (wire/writer-auth.ts); the signed key directory (cli/directory.ts) tells the enclave which kid
 * belongs to which writer and carries the key's commitment, never the key.
 *
 *   - `express-lane writer-key create --writer <id> --key <arn|alias> --out wrapped.json`:
 *     GenerateDataKey under the seal KMS key with context {purpose, kid, writer} → a new kid first
 *     (active) in the wrapped keys document; prints the kid and its commitment (what the admin puts
 *     in the directory) and drops the plaintext. `--dev-out <file>` writes a local dev key instead.
 *   - `unwrapWriterKeys` (`express-lane load --seal-key-kms`, `push --seal-key-kms`): plain KMS
 *     Decrypt as the writer role, which the key policy allows only for blobs whose context names
 *     that writer (kms:EncryptionContext:writer). The host role may Decrypt only with the
 *     enclave's attestation.
 *   - dev key files (`.lane/keys/seal-dev.json`, 0600, gitignored; dev/key-files.ts): {kid, key,
 *     writer}. A file without a writer is refused: a key that belongs to nobody cannot be put in a
 *     directory.
 *
 * `seal-key` stays as an alias of the command group (older runbooks).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { Command, Option } from "commander";
import { SEAL_KEY_BYTES, type SealKeyring } from "../enclave/seal";
import { checkWriter, generateWriterKey, readWriterKeyFile, writerKeyring, writeWriterKeyFile, WriterKeyError, type WriterKey } from "../dev/key-files";
import { keyCommitment, WRITER_ID } from "../wire/key-directory";
import { SEAL_KID } from "../wire/object";
import { kmsKeyRegion, parseWrappedSealKeys, sealKeyEncryptionContext, serializeWrappedSealKeys, type WrappedSealKeysDocument } from "../wire/seal-keys";

export interface KmsOptions {
  readonly region?: string;
  /** KMS endpoint override (a VPC endpoint, or the local KMS twin in tests). */
  readonly endpoint?: string;
  readonly credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export function kmsClient(region: string, o: KmsOptions): KMSClient {
  return new KMSClient({ region, endpoint: o.endpoint, credentials: o.credentials, maxAttempts: 3 });
}

function newKid(prefix: string, now: Date): string {
  return `${prefix}-${now.toISOString().slice(0, 10).replace(/-/g, "")}-${randomBytes(4).toString("hex")}`;
}

// ---------------------------------------------------------------------------------------------
// KMS-wrapped keys (production)

export interface UnwrappedWriterKeys {
  readonly writer: string;
  /** First = active. */
  readonly keys: readonly WriterKey[];
  readonly keyring: SealKeyring;
}

/**
 * Unwraps `writer`'s keys of the document (default: the writer of its first key), KeyId pinned to
 * the document's key ARN and context {purpose, kid, writer} per kid. Other writers' entries are
 * skipped: the writer role may not open them, and must not seal with them.
 */
export async function unwrapWriterKeys(doc: WrappedSealKeysDocument, o: KmsOptions & { writer?: string } = {}): Promise<UnwrappedWriterKeys> {
  const writer = checkWriter(o.writer ?? doc.keys[0]?.writer, "--writer");
  const mine = doc.keys.filter((k) => k.writer === writer);
  if (mine.length === 0) throw new WriterKeyError(`the wrapped keys document has no key for writer ${writer} (it has ${[...new Set(doc.keys.map((k) => k.writer))].join(", ")})`);
  const client = kmsClient(o.region ?? doc.region, o);
  try {
    const keys: WriterKey[] = [];
    for (const k of mine) {
      const out = await client.send(
        new DecryptCommand({ CiphertextBlob: Buffer.from(k.ciphertextBlob, "base64"), KeyId: doc.keyArn, EncryptionContext: sealKeyEncryptionContext(k.kid, k.writer) }),
      );
      if (out.KeyId !== doc.keyArn) throw new WriterKeyError(`writer key ${k.kid}: KMS decrypted with ${out.KeyId ?? "an unnamed key"}, not ${doc.keyArn}`);
      if (!out.Plaintext || out.Plaintext.length !== SEAL_KEY_BYTES) throw new WriterKeyError(`writer key ${k.kid}: KMS returned no ${SEAL_KEY_BYTES}-byte plaintext`);
      keys.push({ kid: k.kid, key: Buffer.from(out.Plaintext), writer });
    }
    return { writer, keys, keyring: writerKeyring(keys) };
  } finally {
    client.destroy();
  }
}

export interface CreatedWriterKey {
  readonly kid: string;
  readonly writer: string;
  /** keyCommitment(plaintext): what `directory sign --key kid:writer:use:commitment` needs. */
  readonly commitment: string;
  readonly document: WrappedSealKeysDocument;
}

/** GenerateDataKey → a new wrapped writer key, placed first (active) in front of `existing`'s keys. */
export async function createWrappedWriterKey(
  keyId: string,
  o: KmsOptions & { writer: string; existing?: WrappedSealKeysDocument; kid?: string; now?: Date },
): Promise<CreatedWriterKey> {
  const writer = checkWriter(o.writer, "--writer");
  const now = o.now ?? new Date();
  const kid = o.kid ?? newKid(writer, now);
  if (!SEAL_KID.test(kid)) throw new WriterKeyError(`kid must match ${SEAL_KID.source}`);
  const region = o.region ?? o.existing?.region ?? kmsKeyRegion(keyId);
  if (!region) throw new WriterKeyError("--region is needed when the key is not given as an ARN");
  const client = kmsClient(region, o);
  try {
    const out = await client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: "AES_256", EncryptionContext: sealKeyEncryptionContext(kid, writer) }));
    if (!out.CiphertextBlob || !out.KeyId || !out.Plaintext || out.Plaintext.length !== SEAL_KEY_BYTES)
      throw new WriterKeyError("KMS GenerateDataKey returned no CiphertextBlob/KeyId/32-byte Plaintext");
    const commitment = keyCommitment(out.Plaintext);
    out.Plaintext.fill(0); // not kept: the writer unwraps the blob when it needs the key
    if (o.existing && o.existing.keyArn !== out.KeyId) throw new WriterKeyError(`the existing document is for ${o.existing.keyArn}, KMS used ${out.KeyId}`);
    const entry = { kid, writer, ciphertextBlob: Buffer.from(out.CiphertextBlob).toString("base64"), created: now.toISOString() };
    const keys = [entry, ...(o.existing?.keys ?? []).filter((k) => k.kid !== kid)];
    // Re-validate what we are about to publish.
    const document = parseWrappedSealKeys(serializeWrappedSealKeys({ version: 1, keyArn: out.KeyId, region, keys }));
    return { kid, writer, commitment, document };
  } finally {
    client.destroy();
  }
}

export function readWrappedWriterKeys(path: string): WrappedSealKeysDocument {
  return parseWrappedSealKeys(readFileSync(path, "utf8"), path);
}

/**
 * The writer keyring a CLI writer seals and signs with: `--seal-key-kms` (wrapped document,
 * unwrapped as the writer role) or a dev key file.
 */
export async function writerKeysFromOptions(o: { writerKeyFile?: string; sealKeyKms?: string; writer?: string; kmsEndpoint?: string }): Promise<UnwrappedWriterKeys> {
  if (o.sealKeyKms) return unwrapWriterKeys(readWrappedWriterKeys(o.sealKeyKms), { endpoint: o.kmsEndpoint, writer: o.writer });
  const file = o.writerKeyFile;
  if (!file || !existsSync(file)) throw new WriterKeyError(`no writer key at ${file ?? "(none given)"} (start the local lane once, or pass --writer-key-file / --seal-key-kms)`);
  const key = readWriterKeyFile(file);
  if (o.writer !== undefined && o.writer !== key.writer) throw new WriterKeyError(`${file} is writer ${key.writer}'s key, not ${o.writer}'s`);
  return { writer: key.writer, keys: [key], keyring: writerKeyring([key]) };
}

/** The options `load` and `push` share for choosing the writer key. */
export function writerKeyOptions(command: Command): Command {
  return (
    command
      .addOption(new Option("--writer-key-file <path>", "local dev writer key {kid, key, writer}").env("EXPRESS_LANE_WRITER_KEY_FILE").default(".lane/keys/seal-dev.json"))
      // The old flag name still works; no env var for it, so it can never silently override an explicit --writer-key-file.
      .addOption(new Option("--seal-key-file <path>", "old name of --writer-key-file").hideHelp())
      .addOption(
        new Option("--seal-key-kms <file>", "production: wrapped writer keys document (seal-keys/wrapped.json); unwrapped with KMS Decrypt as the writer role").env(
          "EXPRESS_LANE_SEAL_KEY_KMS",
        ),
      )
      .addOption(new Option("--writer <id>", "with --seal-key-kms: whose keys to unwrap (default: the writer of the document's first key)").env("EXPRESS_LANE_WRITER"))
      .addOption(new Option("--kms-endpoint <url>", "KMS endpoint override for --seal-key-kms").env("EXPRESS_LANE_KMS_ENDPOINT"))
  );
}

export function registerWriterKeyCommand(program: Command): void {
  const group = program.command("writer-key").alias("seal-key").description("writer keys: seal a writer's objects and sign its pushes (KMS-wrapped; docs/keys.md)");
  group
    .command("create")
    .description("generate a new key for a writer; print its kid and commitment (for `directory sign`); drop the plaintext")
    .requiredOption("--writer <id>", `writer id (${WRITER_ID.source}), e.g. loader`)
    .option("--key <id>", "seal KMS key: ARN, id or alias/<prefix>-seal")
    .option("--add-to <file>", "existing wrapped keys document to extend (rotation: the old kids keep verifying)")
    .option("--out <file>", "where to write the wrapped keys document (then: aws s3 cp <file> s3://<artifact bucket>/seal-keys/wrapped.json)")
    .option("--dev-out <file>", "LOCAL DEV: write a plaintext dev key file instead of calling KMS (0600)")
    .option("--kid <kid>", "kid (default: <writer>-<yyyymmdd>-<random>)")
    .addOption(new Option("--region <region>", "AWS region (default: from the key ARN)").env("EXPRESS_LANE_REGION"))
    .addOption(new Option("--kms-endpoint <url>", "KMS endpoint override").env("EXPRESS_LANE_KMS_ENDPOINT"))
    .action(async (o: { writer: string; key?: string; addTo?: string; out?: string; devOut?: string; kid?: string; region?: string; kmsEndpoint?: string }) => {
      if (o.devOut) {
        if (o.key || o.out || o.addTo) throw new WriterKeyError("--dev-out writes a local key; it excludes --key, --out and --add-to");
        if (existsSync(o.devOut)) throw new WriterKeyError(`${o.devOut} exists; not overwriting a key`);
        const key = o.kid ? { kid: o.kid, key: randomBytes(SEAL_KEY_BYTES), writer: checkWriter(o.writer, "--writer") } : generateWriterKey(o.writer);
        writeWriterKeyFile(o.devOut, key);
        process.stdout.write(`${JSON.stringify({ kid: key.kid, writer: key.writer, commitment: keyCommitment(key.key), out: o.devOut })}\n`);
        return;
      }
      if (!o.key || !o.out) throw new WriterKeyError("--key and --out are required (or --dev-out for a local dev key)");
      const existing = o.addTo ? readWrappedWriterKeys(o.addTo) : undefined;
      const created = await createWrappedWriterKey(o.key, { writer: o.writer, kid: o.kid, region: o.region, endpoint: o.kmsEndpoint, existing });
      writeFileSync(o.out, serializeWrappedSealKeys(created.document));
      process.stdout.write(
        `${JSON.stringify({ kid: created.kid, writer: created.writer, commitment: created.commitment, directoryKey: `${created.kid}:${created.writer}:write:${created.commitment}`, keyArn: created.document.keyArn, kids: created.document.keys.map((k) => k.kid), out: o.out })}\n`,
      );
    });
  group
    .command("show")
    .description("a dev writer key file's kid, writer and commitment (never the key)")
    .argument("<file>", "dev writer key file")
    .action((file: string) => {
      const key = readWriterKeyFile(file);
      process.stdout.write(
        `${JSON.stringify({ kid: key.kid, writer: key.writer, commitment: keyCommitment(key.key), directoryKey: `${key.kid}:${key.writer}:write:${keyCommitment(key.key)}` })}\n`,
      );
    });
}
