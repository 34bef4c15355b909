/**
 * The image trust config: what the measured image pins about whom it trusts. In the EIF it is
 * /app/trust.json, written by scripts/build-eif.sh, so it is part of PCR0; the local lane writes a
 * dev one into .lane/keys/. Nothing the host sends at run time can change it.
 *
 *   { "lane": "<name>",
 *     "adminKeys": [{"kid": "...", "publicKey": "<base64 raw Ed25519>"}],   // sign key directories
 *     "sealKms": {"keyArn": "arn:aws:kms:…", "region": "…", "endpoint"?: "https://…"} }  // production
 */
import { readFileSync } from "node:fs";
import { ADMIN_KID, LANE_NAME, type AdminKeyEntry } from "../wire/key-directory";
import { parseSealKmsConfig, type SealKmsConfig } from "./key-provisioning";

export interface ImageTrust {
  readonly lane: string;
  readonly adminKeys: readonly AdminKeyEntry[];
  readonly sealKms?: SealKmsConfig;
}

export function parseImageTrust(text: string, source = "trust config"): ImageTrust {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`${source}: not JSON`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new Error(`${source}: must be an object`);
  for (const k of Object.keys(raw)) if (!["lane", "adminKeys", "sealKms"].includes(k)) throw new Error(`${source}: unknown field ${k}`);
  if (typeof raw.lane !== "string" || !LANE_NAME.test(raw.lane)) throw new Error(`${source}: lane must match ${LANE_NAME.source}`);
  if (!Array.isArray(raw.adminKeys) || raw.adminKeys.length === 0 || raw.adminKeys.length > 8) throw new Error(`${source}: adminKeys must list 1..8 keys`);
  const adminKeys = (raw.adminKeys as unknown[]).map((e, i): AdminKeyEntry => {
    const k = e as Record<string, unknown>;
    if (typeof k?.kid !== "string" || !ADMIN_KID.test(k.kid)) throw new Error(`${source}: adminKeys[${i}].kid must match ${ADMIN_KID.source}`);
    if (typeof k.publicKey !== "string" || Buffer.from(k.publicKey, "base64").length !== 32) throw new Error(`${source}: adminKeys[${i}].publicKey must be 32 bytes of base64`);
    return { kid: k.kid, publicKey: k.publicKey };
  });
  const sealKms = raw.sealKms === undefined ? undefined : parseSealKmsConfig(raw.sealKms, `${source}: sealKms`);
  return { lane: raw.lane, adminKeys, ...(sealKms ? { sealKms } : {}) };
}

export function readImageTrust(path: string): ImageTrust {
  return parseImageTrust(readFileSync(path, "utf8"), path);
}
