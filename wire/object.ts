/**
 * The stored object: one MessagePack map per (view, entity), the only copy of the data.
 *
 * Layout v1 (docs/object-layout.md):
 *   { v: 1, view: str, entity: str, event_time: int ms, written_time: int ms,
 *     features: { <feature name>: value } }
 * Values are msgpack nil, bool, int, float, str, array of numbers (float vectors), or the msgpack
 * timestamp extension (-1) for timestamp features.
 *
 * Layout v2 (sealed; what writers produce and the signer accepts) is defined at the end of this
 * file: `{ v: 2, body: <msgpack of the v1 fields>, seal: { kid, mac } }`.
 *
 * Object key: `{prefix}{view}/{base64url(utf8(entity))}`. Base64url has no `/`, `.` or `%`, so no
 * entity id can name a key outside its view's key space, and the mapping is one-to-one.
 */
import { Packr, Unpackr } from "msgpackr";
import { checkEntity, checkFeature, checkView } from "./names";

export const OBJECT_LAYOUT_VERSION = 1;
/** Stored objects above this size are refused by the signer (and the store client). */
export const MAX_OBJECT_BYTES = 1024 * 1024;

export type FeatureValue = null | boolean | number | string | Date | number[];

export interface FeatureObject {
  readonly v: number;
  readonly view: string;
  readonly entity: string;
  /** When the features were true in the world (ms since epoch). */
  readonly event_time: number;
  /** When the writer stored this object (ms since epoch). */
  readonly written_time: number;
  readonly features: Readonly<Record<string, FeatureValue>>;
}

// Plain msgpack maps, no msgpackr "records" extension: objects must be readable by any msgpack
// implementation (Python writers, Go readers), not only by msgpackr.
const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

export function objectKey(view: string, entity: string, prefix = ""): string {
  return `${prefix}${checkView(view)}/${Buffer.from(checkEntity(entity), "utf8").toString("base64url")}`;
}

export function encodeObject(object: FeatureObject): Buffer {
  return packr.pack(object);
}

export class ObjectFormatError extends Error {
  readonly code = "corrupt_object";
  constructor(message: string) {
    super(message);
    this.name = "ObjectFormatError";
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date) && !Buffer.isBuffer(value);
}

export function isFeatureValue(value: unknown): value is FeatureValue {
  switch (typeof value) {
    case "boolean":
    case "string":
      return true;
    case "number":
      return Number.isFinite(value) || Number.isNaN(value);
    case "object":
      if (value === null || value instanceof Date) return true;
      if (Array.isArray(value)) return value.every((x) => typeof x === "number");
      return false;
    default:
      return false;
  }
}

/** Untrusted stored bytes → a MessagePack map, or ObjectFormatError (never another exception). */
function unpackStoredMap(bytes: Uint8Array): Record<string, unknown> {
  if (bytes.length > MAX_OBJECT_BYTES) throw new ObjectFormatError(`object larger than ${MAX_OBJECT_BYTES} bytes`);
  let raw: unknown;
  try {
    raw = unpackr.unpack(bytes);
  } catch (err) {
    throw new ObjectFormatError(`not MessagePack: ${(err as Error).message}`);
  }
  if (!isPlainObject(raw)) throw new ObjectFormatError("object is not a map");
  return raw;
}

/**
 * Decode and validate a stored object. The bytes come from the host (untrusted): anything that is
 * not exactly layout v1 is an ObjectFormatError, never an exception of another kind.
 */
export function decodeObject(bytes: Uint8Array): FeatureObject {
  const raw = unpackStoredMap(bytes);
  if (raw.v !== OBJECT_LAYOUT_VERSION) throw new ObjectFormatError(`unsupported layout version ${String(raw.v)}`);
  return checkObjectFields(raw);
}

/**
 * The fields every layout shares (v1 top level, v2 body). `checkFeatures: false` skips the
 * per-feature name and value checks: the signer's read path uses it on bodies whose seal verified,
 * and checks each value it actually outputs instead (enclave/render.ts) — names it outputs come
 * from the registry, never from the object. That halves decode-side CPU on a 60-feature object.
 */
function checkObjectFields(raw: Record<string, unknown>, checkFeatures = true): FeatureObject {
  if (typeof raw.view !== "string" || typeof raw.entity !== "string") throw new ObjectFormatError("view/entity missing");
  if (!Number.isSafeInteger(raw.event_time) || !Number.isSafeInteger(raw.written_time)) {
    throw new ObjectFormatError("event_time/written_time must be integer milliseconds");
  }
  const features = raw.features;
  if (!isPlainObject(features)) throw new ObjectFormatError("features is not a map");
  if (!checkFeatures) return raw as unknown as FeatureObject;
  for (const name in features) {
    try {
      checkFeature(name);
    } catch {
      throw new ObjectFormatError(`invalid feature name in object`);
    }
    if (!isFeatureValue(features[name])) throw new ObjectFormatError(`feature ${name} has an unsupported value type`);
  }
  return raw as unknown as FeatureObject;
}

// ---------------------------------------------------------------------------------------------
// Layout v2: the sealed object (docs/object-layout.md).
//
//   stored bytes = msgpack { v: 2, body: bin, seal: { kid: str, mac: bin } }
//   body         = msgpack { v: 2, view, entity, event_time, written_time, features }  (v1 fields)
//   mac          = HMAC-SHA256(seal key[kid], SEAL_DOMAIN || kid || 0x0a || body)
//
// The MAC covers the body's exact bytes as stored, so verification never re-encodes anything;
// view, entity and version (event_time) are inside the body, so they are sealed too. Sealing and
// verifying need the key and live in enclave/seal.ts; this module only defines the bytes.

export const OBJECT_LAYOUT_V2 = 2;
/** Domain separation: a seal MAC can never be confused with any other HMAC under the same key. */
export const SEAL_DOMAIN = "express-lane/seal/v2\n";
/** Seal key ids: short, printable, safe in logs and metrics. */
export const SEAL_KID = /^[A-Za-z0-9_.-]{1,64}$/;
export const SEAL_MAC_BYTES = 32;

export interface SealedEnvelope {
  readonly v: 2;
  readonly body: Buffer;
  /** null when the object carries no seal (stripped, or never sealed). */
  readonly seal: { readonly kid: string; readonly mac: Buffer } | null;
}

/** What a stored object is, before any key is involved: unsealed v1, or a v2 envelope. */
export type StoredObject = { readonly v: 1; readonly object: FeatureObject } | SealedEnvelope;

/** The body bytes of a v2 object (what the seal covers). Writers encode once and never again. */
export function encodeObjectBody(object: Omit<FeatureObject, "v">): Buffer {
  return packr.pack({ v: OBJECT_LAYOUT_V2, view: object.view, entity: object.entity, event_time: object.event_time, written_time: object.written_time, features: object.features });
}

/** What precedes the body in the MAC input: SEAL_DOMAIN || kid || 0x0a. */
export function sealPrefix(kid: string): Buffer {
  if (!SEAL_KID.test(kid)) throw new Error(`seal kid must match ${SEAL_KID.source}`);
  return Buffer.from(`${SEAL_DOMAIN}${kid}\n`, "utf8");
}

/** The exact bytes the seal MAC is computed over (MAC implementations may stream prefix then body). */
export function sealInput(kid: string, body: Uint8Array): Buffer {
  return Buffer.concat([sealPrefix(kid), body]);
}

export function encodeSealedObject(body: Buffer, kid: string, mac: Buffer): Buffer {
  return packr.pack({ v: OBJECT_LAYOUT_V2, body, seal: { kid, mac } });
}

function asBuffer(value: unknown): Buffer | null {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return null;
}

/** Parse the outer layer of stored bytes (untrusted). Throws ObjectFormatError. */
export function decodeStoredObject(bytes: Uint8Array): StoredObject {
  const raw = unpackStoredMap(bytes);
  if (raw.v === OBJECT_LAYOUT_VERSION) return { v: 1, object: decodeObject(bytes) };
  if (raw.v !== OBJECT_LAYOUT_V2) throw new ObjectFormatError(`unsupported layout version ${String(raw.v)}`);
  const body = asBuffer(raw.body);
  if (!body) throw new ObjectFormatError("v2 body must be binary");
  if (raw.seal === undefined || raw.seal === null) return { v: 2, body, seal: null };
  const seal = raw.seal;
  if (!isPlainObject(seal)) throw new ObjectFormatError("seal must be a map");
  const mac = asBuffer(seal.mac);
  if (typeof seal.kid !== "string" || !SEAL_KID.test(seal.kid) || !mac || mac.length !== SEAL_MAC_BYTES) {
    throw new ObjectFormatError("seal must be {kid, mac: 32 bytes}");
  }
  return { v: 2, body, seal: { kid: seal.kid, mac } };
}

/** Decode a v2 body. Only call on a body whose seal verified (or to inspect, knowing it is unverified). */
export function decodeObjectBody(body: Uint8Array, options: { readonly checkFeatures?: boolean } = {}): FeatureObject {
  let raw: unknown;
  try {
    raw = unpackr.unpack(body);
  } catch (err) {
    throw new ObjectFormatError(`body is not MessagePack: ${(err as Error).message}`);
  }
  if (!isPlainObject(raw)) throw new ObjectFormatError("body is not a map");
  if (raw.v !== OBJECT_LAYOUT_V2) throw new ObjectFormatError(`body layout version ${String(raw.v)} is not 2`);
  return checkObjectFields(raw, options.checkFeatures ?? true);
}

/**
 * A stable fingerprint of feature values (keys sorted, msgpack-encoded): two objects with the same
 * event time and fingerprint carry the same data, whatever their written_time. Writers use it to
 * report "unchanged" and keep re-loads idempotent.
 */
export function featuresFingerprint(features: Readonly<Record<string, FeatureValue>>): string {
  const sorted: Record<string, FeatureValue> = {};
  for (const k of Object.keys(features).sort()) sorted[k] = features[k];
  return packr.pack(sorted).toString("base64");
}
