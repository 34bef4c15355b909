/**
 * API keys: who may call the reader runtime, and as what.
 *
 * Keys are never stored: the keys file (or SSM parameter / Secrets Manager secret) holds only the
 * SHA-256 of each key, its id, its role and an optional rate limit:
 *
 *   [{ "id": "svc-ranker", "sha256": "<64 hex>", "role": "reader", "rateLimit": { "rps": 500, "burst": 1000 } }]
 *
 * A presented key is hashed and compared with every stored digest with crypto.timingSafeEqual
 * (no early exit), so timing reveals neither which key nor how many bytes matched.
 *
 * Roles are ordered: reader < writer < admin; a key's role allows its own routes and every lower
 * role's. Which role each route needs is its `access` in the route table (runtime/routes.ts).
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { LaneHeaders } from "./http-types";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";

export type Role = "reader" | "writer" | "admin";
export const ROLES: readonly Role[] = ["reader", "writer", "admin"];
const RANK: Record<Role, number> = { reader: 0, writer: 1, admin: 2 };

export interface RateLimitSpec {
  /** Sustained requests per second. */
  readonly rps: number;
  /** Bucket size (requests allowed in a burst). @default max(1, rps) */
  readonly burst?: number;
}

export interface ApiKeyRecord {
  readonly id: string;
  /** Lower-case hex SHA-256 of the key. */
  readonly sha256: string;
  readonly role: Role;
  readonly rateLimit?: RateLimitSpec;
}

export class KeysFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeysFileError";
  }
}

const KEY_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** Presented keys longer than this are refused without hashing (no CPU amplification). */
export const MAX_PRESENTED_KEY_LENGTH = 256;
export const KEY_PREFIX = "elk_";

export function hashKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** A new random key (256 bits) and the record to store for it. The key itself is shown once. */
export function generateKey(id: string, role: Role, rateLimit?: RateLimitSpec): { key: string; record: ApiKeyRecord } {
  const key = `${KEY_PREFIX}${randomBytes(32).toString("base64url")}`;
  const record = parseKeys(JSON.stringify([{ id, sha256: hashKey(key), role, ...(rateLimit ? { rateLimit } : {}) }]))[0];
  return { key, record };
}

function parseRateLimit(value: unknown, where: string): RateLimitSpec | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number") value = { rps: value };
  if (typeof value !== "object" || Array.isArray(value)) throw new KeysFileError(`${where}: rateLimit must be {rps, burst?} or a number`);
  const { rps, burst } = value as Record<string, unknown>;
  if (typeof rps !== "number" || !Number.isFinite(rps) || rps <= 0) throw new KeysFileError(`${where}: rateLimit.rps must be a positive number`);
  if (burst !== undefined && (typeof burst !== "number" || !Number.isFinite(burst) || burst < 1)) throw new KeysFileError(`${where}: rateLimit.burst must be ≥ 1`);
  return burst === undefined ? { rps } : { rps, burst };
}

/** Parse and validate a keys document. Throws KeysFileError naming the entry at fault. */
export function parseKeys(text: string): ApiKeyRecord[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new KeysFileError("keys document is not valid JSON");
  }
  if (!Array.isArray(doc)) throw new KeysFileError("keys document must be a JSON array");
  const seen = new Set<string>();
  return doc.map((entry: unknown, i): ApiKeyRecord => {
    const where = `keys[${i}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) throw new KeysFileError(`${where} must be an object`);
    const { id, sha256, role, rateLimit } = entry as Record<string, unknown>;
    if (typeof id !== "string" || !KEY_ID.test(id)) throw new KeysFileError(`${where}: id must match ${KEY_ID.source}`);
    if (seen.has(id)) throw new KeysFileError(`${where}: duplicate id ${id}`);
    seen.add(id);
    if (typeof sha256 !== "string" || !SHA256_HEX.test(sha256.toLowerCase())) throw new KeysFileError(`${where}: sha256 must be 64 hex digits`);
    if (typeof role !== "string" || !ROLES.includes(role as Role)) throw new KeysFileError(`${where}: role must be one of ${ROLES.join(", ")}`);
    const limit = parseRateLimit(rateLimit, where);
    return { id, sha256: sha256.toLowerCase(), role: role as Role, ...(limit ? { rateLimit: limit } : {}) };
  });
}

/** The key a request presents: `Authorization: Bearer <key>` or `x-api-key: <key>`. */
export function presentedKey(headers: LaneHeaders): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === "string") {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const apiKey = headers["x-api-key"];
  if (typeof apiKey === "string" && apiKey.length > 0) return apiKey.trim();
  return undefined;
}

export function roleAllows(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}

/** The loaded keys; replaced as a whole on reload. */
export class KeyRing {
  private readonly entries: ReadonlyArray<{ record: ApiKeyRecord; digest: Buffer }>;

  constructor(records: readonly ApiKeyRecord[]) {
    this.entries = records.map((record) => ({ record, digest: Buffer.from(record.sha256, "hex") }));
  }

  get size(): number {
    return this.entries.length;
  }

  get records(): readonly ApiKeyRecord[] {
    return this.entries.map((e) => e.record);
  }

  /** The record whose digest matches the presented key, or null. Constant time in the key. */
  authenticate(presented: string): ApiKeyRecord | null {
    if (presented.length === 0 || presented.length > MAX_PRESENTED_KEY_LENGTH) return null;
    const digest = createHash("sha256").update(presented, "utf8").digest();
    let found: ApiKeyRecord | null = null;
    for (const entry of this.entries) {
      // Every entry is compared; no early exit.
      if (timingSafeEqual(digest, entry.digest) && found === null) found = entry.record;
    }
    return found;
  }
}

export interface KeySourceOptions {
  /** AWS region for ssm: / secretsmanager: sources. */
  readonly region?: string;
  /** Endpoint override for SSM (tests, VPC endpoints). */
  readonly ssmEndpoint?: string;
}

/**
 * Load the keys document from a source:
 *   /path/keys.json or file:/path/keys.json — a local file
 *   ssm:/express-lane/api-keys              — an SSM parameter (SecureString, decrypted)
 *   secretsmanager:express-lane/api-keys    — a Secrets Manager secret, read through SSM's
 *                                             /aws/reference/secretsmanager/ bridge
 */
export async function loadKeys(source: string, options: KeySourceOptions = {}): Promise<ApiKeyRecord[]> {
  if (source.startsWith("ssm:")) return parseKeys(await getSsmParameter(source.slice(4), options));
  if (source.startsWith("secretsmanager:")) return parseKeys(await getSsmParameter(`/aws/reference/secretsmanager/${source.slice(15)}`, options));
  const path = source.startsWith("file:") ? source.slice(5) : source;
  return parseKeys(await readFile(path, "utf8"));
}

async function getSsmParameter(name: string, options: KeySourceOptions): Promise<string> {
  const client = new SSMClient({
    region: options.region ?? process.env.AWS_REGION ?? "us-east-1",
    ...(options.ssmEndpoint ? { endpoint: options.ssmEndpoint } : {}),
    maxAttempts: 3,
  });
  try {
    const out = await client.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
    const value = out.Parameter?.Value;
    if (typeof value !== "string") throw new KeysFileError(`SSM parameter ${name} has no value`);
    return value;
  } finally {
    client.destroy();
  }
}
