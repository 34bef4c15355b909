/**
 * The stored object's layout: one MessagePack map per (view, entity), the only copy of the data.
 * This module defines the bytes; wire/msgpack-scan.ts walks them without decoding what a read
 * does not need; enclave/seal.ts holds the keyed operations (docs/object-layout.md).
 *
 * Layout v2 (sealed; what writers produce and the only layout the signer serves):
 *   `{ v: 2, body: <msgpack of { v: 2, view, entity, event_time, written_time, features }>, seal: { kid, mac } }`
 * Values are msgpack nil, bool, int, float, str, array of numbers (float vectors), or the msgpack
 * timestamp extension (-1) for timestamp features.
 *
 * Layout v1 (the same fields, unsealed, at the top level) is still recognised so that the signer
 * can refuse it as `seal_missing`; its encoder remains for benchmarks of the store path alone and
 * for refusal tests — no writer produces it.
 *
 * Object key: `{prefix}{view}/{base64url(utf8(entity))}`. Base64url has no `/`, `.` or `%`, so no
 * entity id can name a key outside its view's key space, and the mapping is one-to-one.
 */
import { Packr, Unpackr } from "msgpackr";
import { checkEntity, checkFeature, checkView } from "./names";
import { asBuffer, binAt, isAscii, KeySelector, mapHeader, MsgpackScanError, readItem, selectKey, skipItem, strAt, unpackItem } from "./msgpack-scan";

export { KeySelector } from "./msgpack-scan";

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
  /**
   * Layout v2 addition (docs/object-layout.md, "merged objects"): per-feature event times, only for
   * features whose time differs from `event_time` (a merge kept an older value). Absent = every
   * feature is as old as `event_time`. Readers apply max age per feature with it.
   */
  readonly feature_times?: Readonly<Record<string, number>>;
  /** Layout v2 addition: a tombstone (entity deleted at `event_time`); `features` is empty. */
  readonly deleted?: true;
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
  checkOptionalFields(raw);
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

/** feature_times (map of integer ms) and deleted (true) are optional; absent and undefined are the same. */
function checkOptionalFields(raw: Record<string, unknown>): void {
  if (raw.deleted !== undefined && raw.deleted !== true) throw new ObjectFormatError("deleted must be true when present");
  if (raw.deleted === undefined) delete raw.deleted;
  const times = raw.feature_times;
  if (times === undefined) {
    delete raw.feature_times;
    return;
  }
  if (!isPlainObject(times)) throw new ObjectFormatError("feature_times is not a map");
  for (const name in times) if (!Number.isSafeInteger(times[name])) throw new ObjectFormatError("feature_times values must be integer milliseconds");
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
  const body: Record<string, unknown> = {
    v: OBJECT_LAYOUT_V2,
    view: object.view,
    entity: object.entity,
    event_time: object.event_time,
    written_time: object.written_time,
    features: object.features,
  };
  // Optional fields only when they say something: an object without them is byte-for-byte what
  // writers produced before they existed (conformance vectors unchanged).
  if (object.feature_times !== undefined && Object.keys(object.feature_times).length > 0) body.feature_times = object.feature_times;
  if (object.deleted === true) body.deleted = true;
  return packr.pack(body);
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

/** Parse the outer layer of stored bytes (untrusted). Throws ObjectFormatError. */
export function decodeStoredObject(bytes: Uint8Array): StoredObject {
  if (bytes.length <= MAX_OBJECT_BYTES) {
    const fast = sealedEnvelopeFast(asBuffer(bytes));
    if (fast !== null) return fast;
  }
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

// ---------------------------------------------------------------------------------------------
// Projected decoding of a v2 body: the hot path of projected and batch reads.
//
// A 10-of-60-feature read used to materialise the whole body (≈ 300 embedding floats and 60 key
// strings) and keep 10 values. decodeObjectBodyProjected walks the same bytes by their MessagePack
// framing: keys are compared as bytes against the wanted names (no strings made), values that are
// not wanted are skipped by length, wanted values and the top-level fields are decoded by msgpackr
// itself, so every value it returns is exactly what decodeObjectBody would return
// (property-tested against it in test/wire/object.test.ts). The framing itself is wire/msgpack-scan.ts. Measured in
// bench/micro/signer.ts and docs/performance.md.
//
// Differences from a full decode, by design: values that are not output are checked for framing
// only (a sealed body whose skipped feature holds, say, an unknown extension type is still served
// for the features it does hold validly). The seal has already proven that a writer made the bytes.

const BODY_FIELDS = new KeySelector(["v", "view", "entity", "event_time", "written_time", "features", "feature_times", "deleted"]);
const ENVELOPE_FIELDS = new KeySelector(["v", "body", "seal"]);
const SEAL_FIELDS = new KeySelector(["kid", "mac"]);

/**
 * The sealed envelope exactly as writers produce it — a 3-entry map v: 2, body: bin, seal: a
 * 2-entry map kid: ASCII str, mac: 32-byte bin, in any order, nothing before or after — read in
 * place. Anything else (another shape, a duplicate key, other encodings) returns null and goes
 * through msgpackr in decodeStoredObject, so this never decides an outcome the general path would
 * decide differently (property-tested in test/wire/object.test.ts). Saves ≈ 1.5 µs per entity.
 */
function sealedEnvelopeFast(src: Buffer): SealedEnvelope | null {
  if (src.length === 0 || src[0] !== 0x83) return null;
  let pos = 1;
  let version = false;
  let body: Buffer | null = null;
  let seal: { kid: string; mac: Buffer } | null = null;
  for (let i = 0; i < 3; i++) {
    const key = strAt(src, pos);
    const name = key === null ? null : ENVELOPE_FIELDS.matchBytes(src, key[0], key[1]);
    if (key === null || name === null) return null;
    pos = key[0] + key[1];
    if (name === "v") {
      if (version || src[pos] !== OBJECT_LAYOUT_V2) return null;
      version = true;
      pos += 1;
    } else if (name === "body") {
      const bin = body === null ? binAt(src, pos) : null;
      if (bin === null) return null;
      body = src.subarray(bin[0], bin[0] + bin[1]);
      pos = bin[0] + bin[1];
    } else {
      if (seal !== null || src[pos] !== 0x82) return null;
      pos += 1;
      let kid: string | null = null;
      let mac: Buffer | null = null;
      for (let j = 0; j < 2; j++) {
        const sealKey = strAt(src, pos);
        const field = sealKey === null ? null : SEAL_FIELDS.matchBytes(src, sealKey[0], sealKey[1]);
        if (sealKey === null || field === null) return null;
        pos = sealKey[0] + sealKey[1];
        if (field === "kid") {
          const str = kid === null ? strAt(src, pos) : null;
          if (str === null || str[0] + str[1] > src.length) return null;
          kid = sealKidAt(src, str[0], str[1]);
          if (kid === null) return null;
          pos = str[0] + str[1];
        } else {
          const bin = mac === null ? binAt(src, pos) : null;
          if (bin === null || bin[1] !== SEAL_MAC_BYTES) return null;
          mac = src.subarray(bin[0], bin[0] + bin[1]);
          pos = bin[0] + bin[1];
        }
      }
      if (kid === null || mac === null) return null;
      seal = { kid, mac };
    }
  }
  if (pos !== src.length || !version || body === null || seal === null) return null;
  return { v: OBJECT_LAYOUT_V2, body, seal };
}

/**
 * The kid spelled by src[start, start + length) if it is a valid one (ASCII, SEAL_KID), else null.
 * A store holds few kids and a batch's objects mostly share one: the last valid kid is kept with
 * its bytes, and a kid equal to it byte for byte is that string (no string made, no regex run).
 */
function sealKidAt(src: Buffer, start: number, length: number): string | null {
  const last = lastKid;
  if (last !== null && last.length === length) {
    let i = 0;
    while (i < length && src[start + i] === last.charCodeAt(i)) i++;
    if (i === length) return last;
  }
  if (!isAscii(src, start, length)) return null;
  const kid = src.toString("latin1", start, start + length);
  if (!SEAL_KID.test(kid)) return null;
  lastKid = kid;
  return kid;
}

/** The last valid kid sealKidAt read (ASCII: its char codes are its bytes). */
let lastKid: string | null = null;

/**
 * Decode a v2 body keeping only the `wanted` features. Same contract as decodeObjectBody with
 * `checkFeatures: false`: call it only on a body whose seal verified; malformed framing is an
 * ObjectFormatError. The returned `features` has a null prototype and only wanted names present
 * in the body.
 */
export function decodeObjectBodyProjected(body: Uint8Array, wanted: KeySelector): FeatureObject {
  const src = asBuffer(body);
  let raw: Record<string, unknown>;
  try {
    raw = scanBody(src, wanted);
  } catch (err) {
    if (err instanceof MsgpackScanError) throw new ObjectFormatError(`body is not MessagePack: ${err.message}`);
    throw err;
  }
  if (raw.v !== OBJECT_LAYOUT_V2) throw new ObjectFormatError(`body layout version ${String(raw.v)} is not 2`);
  return checkObjectFields(raw, false);
}

/** The body's top-level fields, with `features` projected to `wanted`. Throws MsgpackScanError or ObjectFormatError. */
function scanBody(src: Buffer, wanted: KeySelector): Record<string, unknown> {
  const header = src.length > 0 ? mapHeader(src, 0) : null;
  if (header === null) {
    if (src.length === 0) throw new MsgpackScanError("truncated");
    skipItem(src, 0); // a complete item that is not a map, or truncated
    throw new ObjectFormatError("body is not a map");
  }
  const raw: Record<string, unknown> = {};
  let [count, pos] = header;
  for (; count > 0; count--) {
    if (pos >= src.length) throw new MsgpackScanError("truncated");
    const t = src[pos];
    let key: string | null;
    let keyEnd: number;
    if (t >= 0xa0 && t <= 0xbf) {
      // fixstr (every field name a writer produces): matched in place, as in projectFeatures.
      keyEnd = pos + 1 + (t & 0x1f);
      if (keyEnd > src.length) throw new MsgpackScanError("truncated");
      key = BODY_FIELDS.matchBytes(src, pos + 1, t & 0x1f);
    } else {
      keyEnd = skipItem(src, pos);
      key = selectKey(src, pos, keyEnd, BODY_FIELDS);
    }
    if (key === "features") {
      // One walk of the features map, not a skipItem over it and then a second walk.
      pos = projectFeatures(src, keyEnd, wanted, raw);
      continue;
    }
    const valueEnd = skipItem(src, keyEnd);
    if (key !== null) raw[key] = readItem(src, keyEnd, valueEnd);
    pos = valueEnd;
  }
  if (pos !== src.length) throw new MsgpackScanError("data after the end of the map");
  return raw;
}

/**
 * Sets `raw.features` to the wanted entries of the features map starting at `start` (a non-map
 * value as-is, refused by the caller) and returns the position after the map.
 */
function projectFeatures(src: Buffer, start: number, wanted: KeySelector, raw: Record<string, unknown>): number {
  const header = mapHeader(src, start);
  if (header === null) {
    const end = skipItem(src, start);
    raw.features = unpackItem(src, start, end);
    return end;
  }
  // Only wanted names are ever stored, so a plain object is safe unless one of them is
  // "__proto__" (its assignment would set the prototype); V8 keeps a plain object's properties in
  // fast mode, where a null-prototype object starts as a dictionary (slower to fill and to read).
  const features: Record<string, FeatureValue> = wanted.plainObjectSafe ? {} : Object.create(null);
  let [count, pos] = header;
  for (; count > 0; count--) {
    // Feature names are short str keys (fixstr: one header byte): matched in place, no skipItem.
    const t = src[pos];
    let name: string | null;
    let keyEnd: number;
    if (t >= 0xa0 && t <= 0xbf) {
      keyEnd = pos + 1 + (t & 0x1f);
      if (keyEnd > src.length) throw new MsgpackScanError("truncated");
      name = wanted.matchBytes(src, pos + 1, t & 0x1f);
    } else {
      keyEnd = skipItem(src, pos);
      name = selectKey(src, pos, keyEnd, wanted);
    }
    const valueEnd = scalarEnd(src, keyEnd);
    if (name !== null) features[name] = readItem(src, keyEnd, valueEnd) as FeatureValue;
    pos = valueEnd;
  }
  raw.features = features;
  return pos;
}

/**
 * skipItem(src, pos) with the values most features hold — small ints, nil, bools, float64, short
 * strings — measured inline: a call into skipItem per value was ≈ 10 % of a batch's signer CPU.
 * Everything else (and anything running past the end) is skipItem's, so errors are its own.
 */
function scalarEnd(src: Buffer, pos: number): number {
  const t = src[pos];
  let end = -1;
  if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) end = pos + 1;
  else if (t === 0xcb) end = pos + 9;
  else if (t >= 0xa0 && t <= 0xbf) end = pos + 1 + (t & 0x1f);
  return end > 0 && end <= src.length ? end : skipItem(src, pos);
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
