/**
 * The registry document: which feature views a lane serves, signed by a lane admin key (the same
 * keys that sign the key directory, pinned in the image trust config). The host delivers it
 * (FrameKind.ProvisionRegistry) but cannot make one: only an admin signature makes it acceptable,
 * and its version only moves forward, so the host can withhold a newer registry but never bring
 * back an older one or invent its own. Every signed answer names the registry it was built with
 * (`registry_version`, `registry_digest`), so withholding shows.
 *
 *   signed document = JSON {v: 1, payload: base64(canonical document bytes), signer: <admin kid>,
 *                           signature: base64(Ed25519(admin key, REGISTRY_DOCUMENT_DOMAIN || sha256(payload)))}
 *   document        = canonical JSON {issued_at, lane, version, views: [ViewDocument…]}
 *   registry digest = base64url(sha256(canonical document bytes))
 *
 * Canonical: keys sorted at every level, no insignificant whitespace (JSON.stringify of the sorted
 * value); a payload that is not exactly canonical is refused, so one registry has one digest. The
 * signature covers the payload's SHA-256 rather than the payload itself because KMS Sign takes at
 * most 4096 bytes of RAW message and one 60-feature view is already ≈ 5 KB.
 *
 * Version 0 is the pinned default measured into the image (registry/views.json); its digest is
 * that of {lane: "", version: 0, issued_at: 0, views} — no signature needed, the image is measured.
 *
 * Used by admins (`express-lane apply`), the runtime (forwards, serves GET /v1/views) and the
 * enclave (verifies). No I/O here.
 */
import { createHash, verify as edVerify, type KeyObject } from "node:crypto";
import { ADMIN_KID, LANE_NAME } from "./key-directory";
import { defineRegistry, FEATURE_TYPES, Registry, RegistryError, type FeatureSpec, type FeatureType, type ViewSpec } from "./registry";

export const REGISTRY_DOCUMENT_VERSION = 1;
export const REGISTRY_DOCUMENT_DOMAIN = "express-lane/registry-document/v1\n";
/** A document may name at most this many views, and be at most this large (provision frames are 1 MiB). */
export const MAX_REGISTRY_VIEWS = 256;
export const MAX_SIGNED_REGISTRY_BYTES = 768 * 1024;
/** Enclave and admin clocks may differ by this much (issued_at in the future). */
export const REGISTRY_CLOCK_SKEW_MS = 5 * 60 * 1000;
/**
 * Where the fleet-wide copy lives in the store. `_lane` is not a valid view name (names start with
 * a letter: wire/names.ts VIEW_NAME), so no feature object can ever be written here.
 */
export const REGISTRY_STORE_KEY = "_lane/registry.json";

/** One feature view as the document and the views file spell it (snake_case, max age in seconds). */
export interface FeatureDocument {
  readonly name: string;
  readonly type: FeatureType;
  readonly length?: number;
  readonly description?: string;
}

export interface ViewDocument {
  readonly name: string;
  readonly entity_key: string;
  readonly max_age_seconds: number;
  /** docs/trust.md P8; absent = the default (60 s). Omitted when absent, so older documents keep their digests. */
  readonly max_staleness_seconds?: number;
  readonly owner: string;
  readonly description: string;
  readonly features: readonly FeatureDocument[];
}

export interface RegistryDocument {
  readonly lane: string;
  /** ≥ 1; only moves forward in an enclave (0 is the image default). */
  readonly version: number;
  /** ms since epoch. */
  readonly issued_at: number;
  readonly views: readonly ViewDocument[];
}

export interface SignedRegistryDocument {
  readonly v: typeof REGISTRY_DOCUMENT_VERSION;
  readonly payload: string;
  readonly signer: string;
  readonly signature: string;
}

/** What an answer names: the registry the enclave used for it. */
export interface RegistryRef {
  readonly version: number;
  readonly digest: string;
}

export class RegistryDocumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RegistryDocumentError";
  }
}

const bad = (message: string): never => {
  throw new RegistryDocumentError(message);
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Sorted keys at every level; arrays keep their order. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) if (value[k] !== undefined) out[k] = sortKeys(value[k]);
    return out;
  }
  return value;
}

/** The canonical bytes of a JSON value (sorted keys, no whitespace). */
export function canonicalJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(sortKeys(value)), "utf8");
}

export function registryDigest(canonicalBytes: Uint8Array): string {
  return createHash("sha256").update(canonicalBytes).digest("base64url");
}

export function registrySigningInput(payload: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(REGISTRY_DOCUMENT_DOMAIN, "utf8"), createHash("sha256").update(payload).digest()]);
}

// ---------------------------------------------------------------------------------------------
// Views: document form ↔ ViewSpec (wire/registry.ts validates the semantics).

export function viewSpecFromDocument(v: ViewDocument): ViewSpec {
  return {
    name: v.name,
    entityKey: v.entity_key,
    ttlSeconds: v.max_age_seconds,
    ...(v.max_staleness_seconds !== undefined ? { maxStalenessSeconds: v.max_staleness_seconds } : {}),
    owner: v.owner,
    description: v.description,
    features: v.features.map((f): FeatureSpec => ({
      name: f.name,
      type: f.type,
      ...(f.length !== undefined ? { length: f.length } : {}),
      ...(f.description !== undefined ? { description: f.description } : {}),
    })),
  };
}

export function viewDocumentFromSpec(v: ViewSpec): ViewDocument {
  return {
    name: v.name,
    entity_key: v.entityKey,
    max_age_seconds: v.ttlSeconds,
    ...(v.maxStalenessSeconds !== undefined ? { max_staleness_seconds: v.maxStalenessSeconds } : {}),
    owner: v.owner,
    description: v.description,
    features: v.features.map((f): FeatureDocument => ({
      name: f.name,
      type: f.type,
      ...(f.length !== undefined ? { length: f.length } : {}),
      ...(f.description !== undefined ? { description: f.description } : {}),
    })),
  };
}

function onlyFields(o: Record<string, unknown>, allowed: readonly string[], where: string, problems: string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) problems.push(`${where}: unknown field ${JSON.stringify(k.slice(0, 64))}`);
}

/** Shape check of one view in document form; semantic checks are defineRegistry's. */
function viewShape(raw: unknown, where: string, problems: string[]): ViewDocument | null {
  if (!isRecord(raw)) {
    problems.push(`${where}: must be an object`);
    return null;
  }
  onlyFields(raw, ["name", "entity_key", "max_age_seconds", "max_staleness_seconds", "owner", "description", "features"], where, problems);
  const str = (field: string): string => {
    if (typeof raw[field] !== "string") problems.push(`${where}: ${field} must be a string`);
    return String(raw[field] ?? "");
  };
  const name = str("name");
  const entity_key = str("entity_key");
  const owner = str("owner");
  const description = str("description");
  const maxAge = raw.max_age_seconds;
  if (typeof maxAge !== "number" || !Number.isSafeInteger(maxAge)) problems.push(`${where}: max_age_seconds must be an integer`);
  const maxStaleness = raw.max_staleness_seconds;
  if (maxStaleness !== undefined && (typeof maxStaleness !== "number" || !Number.isSafeInteger(maxStaleness))) problems.push(`${where}: max_staleness_seconds must be an integer`);
  if (!Array.isArray(raw.features)) {
    problems.push(`${where}: features must be an array`);
    return null;
  }
  const features = (raw.features as unknown[]).map((f, i): FeatureDocument => {
    const fw = `${where}.features[${i}]`;
    if (!isRecord(f)) {
      problems.push(`${fw}: must be an object`);
      return { name: "", type: "int" };
    }
    onlyFields(f, ["name", "type", "length", "description"], fw, problems);
    if (typeof f.name !== "string") problems.push(`${fw}: name must be a string`);
    if (typeof f.type !== "string" || !(FEATURE_TYPES as readonly string[]).includes(f.type)) problems.push(`${fw}: type must be one of ${FEATURE_TYPES.join(", ")}`);
    if (f.length !== undefined && typeof f.length !== "number") problems.push(`${fw}: length must be an integer`);
    if (f.description !== undefined && typeof f.description !== "string") problems.push(`${fw}: description must be a string`);
    return {
      name: String(f.name),
      type: f.type as FeatureType,
      ...(f.length !== undefined ? { length: f.length as number } : {}),
      ...(f.description !== undefined ? { description: f.description as string } : {}),
    };
  });
  return { name, entity_key, max_age_seconds: maxAge as number, ...(maxStaleness !== undefined ? { max_staleness_seconds: maxStaleness as number } : {}), owner, description, features };
}

/** Views in document form → a validated Registry (every problem at once). */
export function registryFromViews(views: readonly ViewDocument[]): Registry {
  return defineRegistry(views.map(viewSpecFromDocument));
}

/** Validate a document value (already parsed JSON). Throws RegistryDocumentError listing problems. */
export function checkRegistryDocument(raw: unknown): { document: RegistryDocument; registry: Registry } {
  if (!isRecord(raw)) return bad("registry document must be an object");
  const problems: string[] = [];
  onlyFields(raw, ["lane", "version", "issued_at", "views"], "registry document", problems);
  if (typeof raw.lane !== "string" || !LANE_NAME.test(raw.lane)) problems.push(`lane must match ${LANE_NAME.source}`);
  if (typeof raw.version !== "number" || !Number.isSafeInteger(raw.version) || raw.version < 1) problems.push("version must be an integer ≥ 1");
  if (typeof raw.issued_at !== "number" || !Number.isSafeInteger(raw.issued_at) || raw.issued_at <= 0) problems.push("issued_at must be a positive integer (ms since epoch)");
  if (!Array.isArray(raw.views) || raw.views.length > MAX_REGISTRY_VIEWS)
    return bad(`views must be an array of at most ${MAX_REGISTRY_VIEWS}${problems.length ? `; ${problems.join("; ")}` : ""}`);
  const views = (raw.views as unknown[]).map((v, i) => viewShape(v, `views[${i}]`, problems));
  if (problems.length > 0) return bad(problems.join("; "));
  let registry: Registry;
  try {
    registry = registryFromViews(views as ViewDocument[]);
  } catch (err) {
    if (err instanceof RegistryError) return bad(err.problems.join("; "));
    throw err;
  }
  return { document: { lane: raw.lane as string, version: raw.version as number, issued_at: raw.issued_at as number, views: views as ViewDocument[] }, registry };
}

export interface ParsedSignedRegistry {
  readonly envelope: SignedRegistryDocument;
  readonly payload: Buffer;
  readonly document: RegistryDocument;
  readonly registry: Registry;
  readonly digest: string;
}

/** Parse the signed envelope and its document (no signature check: that needs the pinned admin keys). */
export function parseSignedRegistryDocument(bytes: Uint8Array): ParsedSignedRegistry {
  if (bytes.length === 0 || bytes.length > MAX_SIGNED_REGISTRY_BYTES) bad(`signed registry document must be 1..${MAX_SIGNED_REGISTRY_BYTES} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    return bad("signed registry document is not JSON");
  }
  if (!isRecord(raw)) return bad("signed registry document must be an object");
  const problems: string[] = [];
  onlyFields(raw, ["v", "payload", "signer", "signature"], "signed registry document", problems);
  if (problems.length) bad(problems.join("; "));
  if (raw.v !== REGISTRY_DOCUMENT_VERSION) bad(`signed registry document v must be ${REGISTRY_DOCUMENT_VERSION}`);
  if (typeof raw.signer !== "string" || !ADMIN_KID.test(raw.signer)) bad(`signer must match ${ADMIN_KID.source}`);
  if (typeof raw.payload !== "string" || typeof raw.signature !== "string") bad("payload and signature must be base64 strings");
  const payload = Buffer.from(raw.payload as string, "base64");
  const signature = Buffer.from(raw.signature as string, "base64");
  if (signature.length !== 64) bad("signature must be 64 bytes (Ed25519)");
  let value: unknown;
  try {
    value = JSON.parse(payload.toString("utf8"));
  } catch {
    return bad("registry document payload is not JSON");
  }
  // One registry, one digest: the payload must be exactly the canonical bytes of what it says.
  if (!canonicalJson(value).equals(payload)) bad("registry document payload is not canonical JSON (sorted keys, no whitespace)");
  const { document, registry } = checkRegistryDocument(value);
  return {
    envelope: { v: REGISTRY_DOCUMENT_VERSION, payload: raw.payload as string, signer: raw.signer as string, signature: raw.signature as string },
    payload,
    document,
    registry,
    digest: registryDigest(payload),
  };
}

/** Check the signature against the pinned admin keys; returns what it vouches for. */
export function verifySignedRegistryDocument(bytes: Uint8Array, adminKeys: ReadonlyMap<string, KeyObject>): ParsedSignedRegistry {
  const parsed = parseSignedRegistryDocument(bytes);
  const key = adminKeys.get(parsed.envelope.signer);
  if (!key) bad(`registry document signed by ${parsed.envelope.signer}, which is not an admin key pinned in this image`);
  if (!edVerify(null, registrySigningInput(parsed.payload), key!, Buffer.from(parsed.envelope.signature, "base64"))) bad("registry document signature does not verify");
  return parsed;
}

/** Admin side: sign a document (a local Ed25519 key, or KMS Sign). Refuses what an enclave would refuse. */
export async function signRegistryDocument(document: RegistryDocument, signer: string, sign: (input: Buffer) => Promise<Uint8Array> | Uint8Array): Promise<string> {
  const payload = canonicalJson(document);
  checkRegistryDocument(JSON.parse(payload.toString("utf8")));
  if (!ADMIN_KID.test(signer)) bad(`signer must match ${ADMIN_KID.source}`);
  const signature = Buffer.from(await sign(registrySigningInput(payload)));
  const envelope: SignedRegistryDocument = { v: REGISTRY_DOCUMENT_VERSION, payload: payload.toString("base64"), signer, signature: signature.toString("base64") };
  const text = `${JSON.stringify(envelope, null, 2)}\n`;
  if (Buffer.byteLength(text) > MAX_SIGNED_REGISTRY_BYTES) bad(`signed registry document would be ${Buffer.byteLength(text)} bytes; at most ${MAX_SIGNED_REGISTRY_BYTES}`);
  return text;
}

/** The image default (version 0): its digest covers exactly the bundled views. */
export function defaultRegistryRef(views: readonly ViewDocument[]): RegistryRef {
  return { version: 0, digest: registryDigest(canonicalJson({ lane: "", version: 0, issued_at: 0, views })) };
}
