/**
 * The lane signing key (wire/lane-key.ts, docs/trust.md "One trust anchor per lane"): one Ed25519
 * key every attested enclave of the lane signs with, so consumers pin one key for the fleet.
 *
 *   - `express-lane lane-key create --lane <name> --kms <seal key arn> --out lane-keys.json
 *     [--add-to current.json] [--not-before <iso>] [--valid-for 180d]`: KMS
 *     GenerateDataKeyPairWithoutPlaintext (ECC_NIST_EDWARDS25519) under the seal key, with the lane
 *     and the validity in the encryption context. Nobody ever sees the private key: KMS returns it
 *     only wrapped, and only attested enclaves can unwrap it. Writes the lane keys document (for the
 *     hosts: s3://<artifacts>/seal-keys/lane-keys.json) and prints the consumers' JWKS.
 *   - `--dev-out <file>`: a local development lane key instead (private key in a 0600 file).
 *   - `express-lane lane-key jwks <lane-keys.json | dev key file>`: the consumers' trust anchor
 *     (public keys and validity only), to pin with `express-lane verify --key <file>` or the SDKs.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createDevLaneKeyFile } from "../dev/key-files";
import { GenerateDataKeyPairWithoutPlaintextCommand, KMSClient } from "@aws-sdk/client-kms";
import { Command, Option } from "commander";
import {
  checkValidity,
  laneKeyEncryptionContext,
  laneKeysJwks,
  laneKidOf,
  MAX_LANE_KEYS,
  parseLaneKeys,
  rawFromSpki,
  type LaneKeyEntry,
  type LaneKeysDocument,
} from "../wire/lane-key";
import { LANE_NAME } from "../wire/key-directory";
import { kmsKeyRegion } from "../wire/seal-keys";
import type { DevLaneKeyFile } from "../enclave/seal";

const DAY_MS = 86_400_000;

export function parseDuration(text: string): number {
  const m = /^(\d+)(d|h)$/.exec(text);
  if (!m) throw new Error(`duration ${JSON.stringify(text)} must be like 180d or 12h`);
  return Number(m[1]) * (m[2] === "d" ? DAY_MS : 3_600_000);
}

/** A new lane key made by KMS: the public key, and the private key only wrapped, validity bound. */
export async function createLaneKey(o: { lane: string; keyArn: string; notBefore: number; notAfter: number; endpoint?: string }): Promise<LaneKeyEntry> {
  if (!LANE_NAME.test(o.lane)) throw new Error(`--lane must match ${LANE_NAME.source}`);
  checkValidity(o.notBefore, o.notAfter, "lane key");
  const region = kmsKeyRegion(o.keyArn);
  if (!region) throw new Error("--kms must be the seal key's ARN (arn:aws:kms:<region>:<account>:key/<id>)");
  const kms = new KMSClient({ region, ...(o.endpoint ? { endpoint: o.endpoint } : {}) });
  const out = await kms.send(
    new GenerateDataKeyPairWithoutPlaintextCommand({
      KeyId: o.keyArn,
      KeyPairSpec: "ECC_NIST_EDWARDS25519",
      EncryptionContext: laneKeyEncryptionContext(o.lane, o.notBefore, o.notAfter),
    }),
  );
  if (!out.PublicKey || !out.PrivateKeyCiphertextBlob) throw new Error("KMS returned no key pair");
  const raw = rawFromSpki(out.PublicKey);
  return {
    kid: laneKidOf(raw),
    publicKey: raw.toString("base64"),
    ciphertextBlob: Buffer.from(out.PrivateKeyCiphertextBlob).toString("base64"),
    not_before: o.notBefore,
    not_after: o.notAfter,
  };
}

/** The consumers' JWKS from a lane keys document or a dev lane key file. */
export function jwksOf(text: string, source: string): ReturnType<typeof laneKeysJwks> {
  const raw = JSON.parse(text) as { version?: number; privateKeyPem?: string };
  if (raw.privateKeyPem !== undefined) {
    const dev = raw as unknown as DevLaneKeyFile;
    return laneKeysJwks([dev]);
  }
  return laneKeysJwks(parseLaneKeys(text, source).keys);
}

export function registerLaneKeyCommand(program: Command): void {
  const group = program.command("lane-key").description("the lane signing key: one trust anchor for every enclave of a lane (docs/trust.md)");
  group
    .command("create")
    .description("make a lane signing key with KMS (the private key only ever wrapped) and add it to the lane keys document")
    .requiredOption("--lane <name>", "the lane's name (the image trust config's lane)")
    .option("--kms <arn>", "the seal KMS key ARN (bootstrap output seal_key_arn)")
    .option("--kms-endpoint <url>", "KMS endpoint override (VPC endpoint; the local KMS twin in tests)")
    .option("--not-before <iso>", "start of validity (default: now); give the next key a later start to rotate")
    .addOption(new Option("--valid-for <duration>", "validity, e.g. 180d").default("180d"))
    .option("--out <file>", "write the lane keys document here")
    .option("--add-to <file>", "start from this lane keys document (rotation: current + next)")
    .option("--dev-out <file>", "write a LOCAL DEV lane key file instead of calling KMS")
    .action(async (o: { lane: string; kms?: string; kmsEndpoint?: string; notBefore?: string; validFor: string; out?: string; addTo?: string; devOut?: string }) => {
      const notBefore = o.notBefore ? Date.parse(o.notBefore) : Date.now();
      if (!Number.isFinite(notBefore)) throw new Error("--not-before must be an ISO 8601 time");
      const notAfter = notBefore + parseDuration(o.validFor);
      if (o.devOut) {
        const file = createDevLaneKeyFile(o.devOut, notBefore, notAfter);
        process.stdout.write(`${JSON.stringify(laneKeysJwks([file]), null, 2)}\n`);
        return;
      }
      if (!o.kms || !o.out) throw new Error("--kms and --out are required (or --dev-out for a local key)");
      const base: LaneKeysDocument | undefined = o.addTo && existsSync(o.addTo) ? parseLaneKeys(readFileSync(o.addTo, "utf8"), o.addTo) : undefined;
      if (base && base.lane !== o.lane) throw new Error(`${o.addTo} is for lane ${base.lane}, not ${o.lane}`);
      const region = kmsKeyRegion(o.kms)!;
      const entry = await createLaneKey({ lane: o.lane, keyArn: o.kms, notBefore, notAfter, endpoint: o.kmsEndpoint });
      const keys = [...(base?.keys ?? []).filter((k) => k.not_after > Date.now()), entry].slice(-MAX_LANE_KEYS);
      const doc: LaneKeysDocument = { version: 1, lane: o.lane, keyArn: o.kms, region, keys };
      writeFileSync(o.out, `${JSON.stringify(doc, null, 2)}\n`);
      process.stderr.write(
        `lane key ${entry.kid} valid ${new Date(notBefore).toISOString()} → ${new Date(notAfter).toISOString()}; publish ${o.out} as seal-keys/lane-keys.json and give consumers the JWKS below\n`,
      );
      process.stdout.write(`${JSON.stringify(laneKeysJwks(keys), null, 2)}\n`);
    });
  group
    .command("jwks")
    .description("print the consumers' trust anchor (public keys and validity) of a lane keys document or dev lane key file")
    .argument("<file>")
    .action((file: string) => {
      process.stdout.write(`${JSON.stringify(jwksOf(readFileSync(file, "utf8"), file), null, 2)}\n`);
    });
}
