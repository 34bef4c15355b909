/**
 * Writer-side seal keys in production (docs/keys.md):
 *   - `express-lane seal-key create`: GenerateDataKey under the seal KMS key with the seal
 *     encryption context → a new kid, first (active) in the wrapped seal keys document. The
 *     plaintext is dropped: writers get it back with `unwrapSealKeys` when they load.
 *   - `unwrapSealKeys` (used by `express-lane load --seal-key-kms`): plain KMS Decrypt, allowed to
 *     the writer role only for purpose = express-lane-seal ciphertexts (key policy). The host role
 *     cannot do this: it may Decrypt only with the enclave's attestation.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { Command, Option } from "commander";
import { SealKeyring, type SealKey } from "../enclave/seal";
import { kmsKeyRegion, parseWrappedSealKeys, sealKeyEncryptionContext, serializeWrappedSealKeys, type WrappedSealKeysDocument } from "../wire/seal-keys";

export interface KmsOptions {
  readonly region?: string;
  /** KMS endpoint override (a VPC endpoint, or the local KMS twin in tests). */
  readonly endpoint?: string;
  readonly credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

function kmsClient(region: string, o: KmsOptions): KMSClient {
  return new KMSClient({ region, endpoint: o.endpoint, credentials: o.credentials, maxAttempts: 3 });
}

/** Unwraps every key of the document (KeyId pinned to the document's key ARN, seal context per kid). */
export async function unwrapSealKeys(doc: WrappedSealKeysDocument, o: KmsOptions = {}): Promise<SealKeyring> {
  const client = kmsClient(o.region ?? doc.region, o);
  try {
    const keys: SealKey[] = [];
    for (const k of doc.keys) {
      const out = await client.send(
        new DecryptCommand({ CiphertextBlob: Buffer.from(k.ciphertextBlob, "base64"), KeyId: doc.keyArn, EncryptionContext: sealKeyEncryptionContext(k.kid) }),
      );
      if (out.KeyId !== doc.keyArn) throw new Error(`seal key ${k.kid}: KMS decrypted with ${out.KeyId ?? "an unnamed key"}, not ${doc.keyArn}`);
      if (!out.Plaintext || out.Plaintext.length !== 32) throw new Error(`seal key ${k.kid}: KMS returned no 32-byte plaintext`);
      keys.push({ kid: k.kid, key: Buffer.from(out.Plaintext) });
    }
    return new SealKeyring(keys, keys[0]?.kid);
  } finally {
    client.destroy();
  }
}

/** GenerateDataKey → a new wrapped seal key, placed first (active) in front of `existing`'s keys. */
export async function createWrappedSealKey(keyId: string, o: KmsOptions & { existing?: WrappedSealKeysDocument; kid?: string; now?: Date } = {}): Promise<{ kid: string; document: WrappedSealKeysDocument }> {
  const now = o.now ?? new Date();
  const kid = o.kid ?? `seal-${now.toISOString().slice(0, 10).replace(/-/g, "")}-${randomBytes(4).toString("hex")}`;
  const region = o.region ?? o.existing?.region ?? kmsKeyRegion(keyId);
  if (!region) throw new Error("--region is needed when the key is not given as an ARN");
  const client = kmsClient(region, o);
  try {
    const out = await client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: "AES_256", EncryptionContext: sealKeyEncryptionContext(kid) }));
    out.Plaintext?.fill(0); // not kept: writers unwrap the blob when they need the key
    if (!out.CiphertextBlob || !out.KeyId) throw new Error("KMS GenerateDataKey returned no CiphertextBlob/KeyId");
    if (o.existing && o.existing.keyArn !== out.KeyId) throw new Error(`the existing document is for ${o.existing.keyArn}, KMS used ${out.KeyId}`);
    const entry = { kid, ciphertextBlob: Buffer.from(out.CiphertextBlob).toString("base64"), created: now.toISOString() };
    const keys = [entry, ...(o.existing?.keys ?? []).filter((k) => k.kid !== kid)];
    // Re-validate what we are about to publish.
    const document = parseWrappedSealKeys(serializeWrappedSealKeys({ version: 1, keyArn: out.KeyId, region, keys }));
    return { kid, document };
  } finally {
    client.destroy();
  }
}

export function readWrappedSealKeys(path: string): WrappedSealKeysDocument {
  return parseWrappedSealKeys(readFileSync(path, "utf8"), path);
}

export function registerSealKeyCommand(program: Command): void {
  const group = program.command("seal-key").description("production seal keys (KMS-wrapped; docs/keys.md)");
  group
    .command("create")
    .description("generate a new seal key under the seal KMS key; write the wrapped seal keys document with it first (active)")
    .requiredOption("--key <id>", "seal KMS key: ARN, id or alias/<prefix>-seal")
    .option("--add-to <file>", "existing wrapped seal keys document to extend (rotation: the old kids keep verifying)")
    .requiredOption("--out <file>", "where to write the document (then: aws s3 cp <file> s3://<artifact bucket>/seal-keys/wrapped.json)")
    .addOption(new Option("--region <region>", "AWS region (default: from the key ARN)").env("EXPRESS_LANE_REGION"))
    .addOption(new Option("--kms-endpoint <url>", "KMS endpoint override").env("EXPRESS_LANE_KMS_ENDPOINT"))
    .action(async (o: { key: string; addTo?: string; out: string; region?: string; kmsEndpoint?: string }) => {
      const existing = o.addTo ? readWrappedSealKeys(o.addTo) : undefined;
      const { kid, document } = await createWrappedSealKey(o.key, { region: o.region, endpoint: o.kmsEndpoint, existing });
      writeFileSync(o.out, serializeWrappedSealKeys(document));
      process.stdout.write(`${JSON.stringify({ kid, keyArn: document.keyArn, kids: document.keys.map((k) => k.kid), out: o.out })}\n`);
    });
}
