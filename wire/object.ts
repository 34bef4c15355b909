/**
 * The stored object: one MessagePack map per (view, entity), the only copy of the data.
 *
 * Layout v1 (docs/object-layout.md):
 *   { v: 1, view: str, entity: str, event_time: int ms, written_time: int ms,
 *     features: { <feature name>: value } }
 * Values are msgpack nil, bool, int, float, str, array of numbers (float vectors), or the msgpack
 * timestamp extension (-1) for timestamp features.
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

function isFeatureValue(value: unknown): value is FeatureValue {
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

/**
 * Decode and validate a stored object. The bytes come from the host (untrusted): anything that is
 * not exactly layout v1 is an ObjectFormatError, never an exception of another kind.
 */
export function decodeObject(bytes: Uint8Array): FeatureObject {
  if (bytes.length > MAX_OBJECT_BYTES) throw new ObjectFormatError(`object larger than ${MAX_OBJECT_BYTES} bytes`);
  let raw: unknown;
  try {
    raw = unpackr.unpack(bytes);
  } catch (err) {
    throw new ObjectFormatError(`not MessagePack: ${(err as Error).message}`);
  }
  if (!isPlainObject(raw)) throw new ObjectFormatError("object is not a map");
  if (raw.v !== OBJECT_LAYOUT_VERSION) throw new ObjectFormatError(`unsupported layout version ${String(raw.v)}`);
  if (typeof raw.view !== "string" || typeof raw.entity !== "string") throw new ObjectFormatError("view/entity missing");
  if (!Number.isSafeInteger(raw.event_time) || !Number.isSafeInteger(raw.written_time)) {
    throw new ObjectFormatError("event_time/written_time must be integer milliseconds");
  }
  const features = raw.features;
  if (!isPlainObject(features)) throw new ObjectFormatError("features is not a map");
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
