/**
 * Names that cross a trust boundary: feature views, features and entity ids.
 *
 * The runtime validates them to answer 400 early; the signer validates them again because it
 * trusts nothing from the host. Both use these functions so the two can never disagree.
 */

/** Feature view: lowercase identifier; it is also an S3 key segment, so keep it boring. */
export const VIEW_NAME = /^[a-z][a-z0-9_]{0,62}$/;
/** Feature name: identifier as most ML code spells them. */
export const FEATURE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Entity ids are arbitrary UTF-8 (user ids, emails, composite keys) up to this many bytes. */
export const MAX_ENTITY_BYTES = 256;
/** At most this many features may be named in one projection. */
export const MAX_PROJECTED_FEATURES = 256;
/** At most this many entities in one batch read. */
export const MAX_BATCH_ENTITIES = 100;

// C0 controls, DEL and C1 controls never belong in an id and are a classic log-injection vector.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

export class NameError extends Error {
  constructor(
    readonly code: "bad_view" | "bad_entity" | "bad_feature",
    message: string,
  ) {
    super(message);
    this.name = "NameError";
  }
}

export function checkView(view: string): string {
  if (!VIEW_NAME.test(view)) {
    throw new NameError("bad_view", `view name must match ${VIEW_NAME.source}`);
  }
  return view;
}

export function checkFeature(feature: string): string {
  if (!FEATURE_NAME.test(feature)) {
    throw new NameError("bad_feature", `feature name ${JSON.stringify(feature.slice(0, 64))} must match ${FEATURE_NAME.source}`);
  }
  return feature;
}

export function checkEntity(entity: unknown): string {
  if (typeof entity !== "string" || entity.length === 0) {
    throw new NameError("bad_entity", "entity id must be a non-empty string");
  }
  if (Buffer.byteLength(entity, "utf8") > MAX_ENTITY_BYTES) {
    throw new NameError("bad_entity", `entity id longer than ${MAX_ENTITY_BYTES} bytes`);
  }
  if (CONTROL_CHARS.test(entity)) {
    throw new NameError("bad_entity", "entity id contains control characters");
  }
  if (entity.isWellFormed && !entity.isWellFormed()) {
    throw new NameError("bad_entity", "entity id is not well-formed UTF-16 (lone surrogate)");
  }
  return entity;
}

/**
 * The one entity-key rule, for every path that takes an id from JSON or a source file (GET paths
 * are text already): strings are checked as they are; integers (JSON numbers, Parquet/CSV ints,
 * BigInt) become their decimal text, so `42` and `"42"` name the same object everywhere. Anything
 * else — fractions, NaN, infinities, booleans, null, objects — is refused with one error.
 */
export function canonicalEntity(value: unknown): string {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new NameError("bad_entity", ENTITY_TYPE_MESSAGE);
    return checkEntity(String(value));
  }
  if (typeof value === "bigint") return checkEntity(value.toString());
  if (typeof value !== "string") throw new NameError("bad_entity", ENTITY_TYPE_MESSAGE);
  return checkEntity(value);
}

export const ENTITY_TYPE_MESSAGE = "entity id must be a non-empty string or an integer (|n| < 2^53)";
