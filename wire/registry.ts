/**
 * The feature registry's schema: what a feature view is, how it is validated, and how a row of
 * feature values is checked against it. Shared by every party that touches feature data:
 *
 *   - the signer (enclave) re-checks every read and seals every pushed row against it;
 *   - the runtime answers unknown views/features early (wire/request.ts);
 *   - writers (`express-lane load`, the push API) validate rows before sealing.
 *
 * The definitions themselves live in registry/views.ts ("registry as code"). The signer gets them
 * by being built with them: esbuild bundles registry/views.ts into dist/signer.js, so the views
 * are part of the enclave image and covered by its measurement (PCR0/PCR2) — the host cannot feed
 * the enclave a different registry without changing what the attestation document says.
 */
import { canonicalEntity, FEATURE_NAME, NameError, VIEW_NAME } from "./names";
import type { FeatureValue } from "./object";

export const FEATURE_TYPES = ["int", "float", "string", "bool", "float_array", "timestamp"] as const;
export type FeatureType = (typeof FEATURE_TYPES)[number];

export interface FeatureSpec {
  readonly name: string;
  readonly type: FeatureType;
  /** float_array only: exact length every value must have. */
  readonly length?: number;
  readonly description?: string;
}

export interface ViewSpec {
  readonly name: string;
  /** Name of the entity key column in source files (e.g. "user_id"). */
  readonly entityKey: string;
  readonly features: readonly FeatureSpec[];
  /** Max age: reads report OUTSIDE_MAX_AGE when the signed read time is past event_time + ttl. */
  readonly ttlSeconds: number;
  /**
   * Max staleness (docs/trust.md P8): the bound consumers enforce by default on each entity's
   * signed fresh_as_of (now − fresh_as_of); signed into every read answer. @default 60 s
   */
  readonly maxStalenessSeconds?: number;
  readonly owner: string;
  readonly description: string;
}

/** A validated view, with lookups. */
export interface ViewDef extends ViewSpec {
  readonly featureNames: readonly string[];
  readonly featureIndex: ReadonlyMap<string, FeatureSpec>;
}

/** The column that carries a row's event time in source files. */
export const EVENT_TIME_COLUMN = "event_time";
/** A float_array may not be longer than this (keeps objects well under MAX_OBJECT_BYTES). */
export const MAX_FLOAT_ARRAY_LENGTH = 16_384;
/** Writes with an event time further than this in the future are refused (they would pin the object). */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;
const MAX_TTL_SECONDS = 10 * 365 * 86_400;
/** A view's max staleness when the registry names none (docs/trust.md P8). */
export const DEFAULT_MAX_STALENESS_SECONDS = 60;
const MAX_STALENESS_SECONDS = 365 * 86_400;

/** The bound answers carry for a view (the registry's, or the default). */
export function maxStalenessOf(spec: ViewSpec): number {
  return spec.maxStalenessSeconds ?? DEFAULT_MAX_STALENESS_SECONDS;
}

export class RegistryError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid feature registry:\n  - ${problems.join("\n  - ")}`);
    this.name = "RegistryError";
  }
}

function validateView(spec: ViewSpec, problems: string[]): ViewDef | null {
  const where = `view ${JSON.stringify(spec?.name)}`;
  const before = problems.length;
  if (typeof spec !== "object" || spec === null) {
    problems.push("a view definition must be an object");
    return null;
  }
  if (typeof spec.name !== "string" || !VIEW_NAME.test(spec.name)) problems.push(`${where}: name must match ${VIEW_NAME.source}`);
  if (typeof spec.entityKey !== "string" || !FEATURE_NAME.test(spec.entityKey)) problems.push(`${where}: entityKey must match ${FEATURE_NAME.source}`);
  if (spec.entityKey === EVENT_TIME_COLUMN) problems.push(`${where}: entityKey may not be "${EVENT_TIME_COLUMN}"`);
  if (!Number.isInteger(spec.ttlSeconds) || spec.ttlSeconds < 1 || spec.ttlSeconds > MAX_TTL_SECONDS) {
    problems.push(`${where}: ttlSeconds must be an integer in 1..${MAX_TTL_SECONDS}`);
  }
  if (spec.maxStalenessSeconds !== undefined && (!Number.isInteger(spec.maxStalenessSeconds) || spec.maxStalenessSeconds < 1 || spec.maxStalenessSeconds > MAX_STALENESS_SECONDS)) {
    problems.push(`${where}: maxStalenessSeconds must be an integer in 1..${MAX_STALENESS_SECONDS}`);
  }
  if (typeof spec.owner !== "string" || spec.owner.trim() === "") problems.push(`${where}: owner is required`);
  if (typeof spec.description !== "string" || spec.description.trim() === "") problems.push(`${where}: description is required`);
  if (!Array.isArray(spec.features) || spec.features.length === 0) {
    problems.push(`${where}: features must be a non-empty array`);
    return null;
  }
  const index = new Map<string, FeatureSpec>();
  for (const f of spec.features) {
    const fw = `${where} feature ${JSON.stringify(f?.name)}`;
    if (typeof f?.name !== "string" || !FEATURE_NAME.test(f.name)) {
      problems.push(`${fw}: name must match ${FEATURE_NAME.source}`);
      continue;
    }
    if (f.name === spec.entityKey || f.name === EVENT_TIME_COLUMN) problems.push(`${fw}: collides with the entity key or "${EVENT_TIME_COLUMN}" column`);
    if (index.has(f.name)) problems.push(`${fw}: defined twice`);
    if (!(FEATURE_TYPES as readonly string[]).includes(f.type)) problems.push(`${fw}: type must be one of ${FEATURE_TYPES.join(", ")}`);
    if (f.length !== undefined) {
      if (f.type !== "float_array") problems.push(`${fw}: length applies to float_array only`);
      else if (!Number.isInteger(f.length) || f.length < 1 || f.length > MAX_FLOAT_ARRAY_LENGTH) {
        problems.push(`${fw}: length must be an integer in 1..${MAX_FLOAT_ARRAY_LENGTH}`);
      }
    }
    index.set(f.name, f);
  }
  if (problems.length > before) return null;
  return { ...spec, featureNames: spec.features.map((f) => f.name), featureIndex: index };
}

export class Registry {
  private readonly views: ReadonlyMap<string, ViewDef>;

  constructor(views: readonly ViewDef[]) {
    this.views = new Map(views.map((v) => [v.name, v]));
  }

  get(view: string): ViewDef | undefined {
    return this.views.get(view);
  }

  get names(): string[] {
    return [...this.views.keys()];
  }

  get all(): ViewDef[] {
    return [...this.views.values()];
  }
}

/** Validate view specs (all problems reported at once) and build the registry. */
export function defineRegistry(specs: readonly ViewSpec[]): Registry {
  const problems: string[] = [];
  const defs: ViewDef[] = [];
  const seen = new Set<string>();
  for (const spec of specs) {
    const def = validateView(spec, problems);
    if (!def) continue;
    if (seen.has(def.name)) problems.push(`view ${JSON.stringify(def.name)}: defined twice`);
    seen.add(def.name);
    defs.push(def);
  }
  if (problems.length > 0) throw new RegistryError(problems);
  return new Registry(defs);
}

// ---------------------------------------------------------------------------------------------
// Rows: one entity's feature values at one event time, validated against a view.

export type RowErrorCode =
  | "missing_entity"
  | "bad_entity"
  | "missing_event_time"
  | "bad_event_time"
  | "future_event_time"
  | "implausible_event_time"
  | "unknown_feature"
  | "bad_value"
  | "bad_row"
  // Decided by the signer against the entity's current object (docs/push-api.md):
  | "older_than_stored"
  | "duplicate_entity"
  | "current_object_invalid"
  | "current_object_missing"
  | "rolled_back"
  | "high_water_full";

export class RowError extends Error {
  constructor(
    readonly code: RowErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "RowError";
  }
}

export interface ValidRow {
  readonly entity: string;
  readonly event_time: number;
  /** Values in the view's feature order; features the row does not carry are absent. */
  readonly features: Record<string, FeatureValue>;
  /** A delete (tombstone at event_time); features is empty. */
  readonly deleted?: true;
}

/**
 * Units a numeric event time may be given in (`event_time_unit` in a push, `--event-time-unit` in
 * `load`). The default stays milliseconds; an ISO 8601 string needs no unit.
 */
export const EVENT_TIME_UNITS = ["s", "ms", "us", "ns"] as const;
export type EventTimeUnit = (typeof EVENT_TIME_UNITS)[number];

export function checkEventTimeUnit(value: unknown): EventTimeUnit {
  if (typeof value === "string" && (EVENT_TIME_UNITS as readonly string[]).includes(value)) return value as EventTimeUnit;
  throw new RowError("bad_event_time", `event_time_unit must be one of ${EVENT_TIME_UNITS.join(", ")}`);
}

/** A number (or digit string) in `unit` → integer ms, or null when it is not an integer count. */
function numericToMs(value: unknown, unit: EventTimeUnit): number | null {
  let n: bigint;
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) return null;
    if (unit === "s" && !Number.isInteger(value)) return Math.round(value * 1000); // fractional seconds are common (Python time.time())
    if (!Number.isSafeInteger(value)) return null;
    n = BigInt(value);
  } else if (typeof value === "bigint") {
    if (value < 0n) return null;
    n = value;
  } else if (typeof value === "string" && /^\d{1,20}$/.test(value.trim())) {
    n = BigInt(value.trim());
  } else return null;
  const ms = unit === "s" ? n * 1000n : unit === "ms" ? n : unit === "us" ? n / 1000n : n / 1_000_000n;
  return ms <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(ms) : null;
}

/** Where values come from: JSON keeps types; CSV cells are strings parsed per feature type. */
export type ValueSource = "json" | "text";

const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** Event times and timestamp values: integer ms since epoch, or ISO 8601 with an explicit zone. */
export function parseTime(value: unknown, what: string): number {
  if (value instanceof Date) {
    const t = value.getTime();
    if (Number.isSafeInteger(t)) return t;
  } else if (typeof value === "number") {
    if (Number.isSafeInteger(value) && value >= 0) return value;
  } else if (typeof value === "string") {
    const s = value.trim();
    if (/^\d{1,16}$/.test(s)) return Number(s);
    if (ISO_WITH_ZONE.test(s)) {
      const t = Date.parse(s.replace(" ", "T"));
      if (Number.isSafeInteger(t) && t >= 0) return t;
    }
  }
  throw new Error(`${what} must be integer milliseconds since the epoch or ISO 8601 with a zone (e.g. 2025-01-31T12:00:00Z)`);
}

function parseBool(value: unknown): boolean | undefined {
  if (typeof value === "boolean") return value;
  if (typeof value === "string") {
    const s = value.trim().toLowerCase();
    if (s === "true" || s === "1") return true;
    if (s === "false" || s === "0") return false;
  }
  return undefined;
}

/** One value, coerced to the feature's type. Empty CSV cells and JSON null are null (NULL_VALUE). */
export function coerceValue(spec: FeatureSpec, value: unknown, source: ValueSource): FeatureValue {
  if (value === null || value === undefined || (source === "text" && value === "")) return null;
  const fail = (expected: string): never => {
    const shown = typeof value === "string" ? JSON.stringify(value.slice(0, 40)) : typeof value === "object" ? "an object/array" : String(value);
    throw new RowError("bad_value", `feature ${spec.name}: expected ${expected}, got ${shown}`);
  };
  switch (spec.type) {
    case "int": {
      const n = typeof value === "string" && source === "text" && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
      if (typeof n !== "number" || !Number.isSafeInteger(n)) return fail("an integer (|n| < 2^53)");
      return n;
    }
    case "float": {
      const n = typeof value === "string" && source === "text" && value.trim() !== "" ? Number(value) : value;
      if (typeof n !== "number" || !Number.isFinite(n)) return fail("a finite number");
      return n;
    }
    case "string":
      if (typeof value !== "string") return fail("a string");
      if (Buffer.byteLength(value, "utf8") > 65_536) return fail("a string of at most 64 KiB");
      return value;
    case "bool": {
      const b = parseBool(source === "text" || typeof value === "boolean" ? value : undefined);
      if (b === undefined) return fail("true or false");
      return b;
    }
    case "float_array": {
      let arr: unknown = value;
      if (typeof value === "string" && source === "text") {
        try {
          arr = JSON.parse(value);
        } catch {
          return fail("a JSON array of numbers, e.g. [0.1,0.2]");
        }
      }
      if (!Array.isArray(arr) || !arr.every((x) => typeof x === "number" && Number.isFinite(x))) return fail("an array of finite numbers");
      const len = (arr as number[]).length;
      if (spec.length !== undefined && len !== spec.length) return fail(`an array of exactly ${spec.length} numbers (got ${len})`);
      if (len > MAX_FLOAT_ARRAY_LENGTH) return fail(`at most ${MAX_FLOAT_ARRAY_LENGTH} numbers`);
      return arr as number[];
    }
    case "timestamp":
      try {
        return new Date(parseTime(value, `feature ${spec.name}`));
      } catch (err) {
        throw new RowError("bad_value", (err as Error).message);
      }
  }
}

function checkRowEntity(entity: unknown, key: string): string {
  if (entity === undefined || entity === null || entity === "") throw new RowError("missing_entity", `entity key ${key} is missing`);
  try {
    return canonicalEntity(entity);
  } catch (err) {
    throw new RowError("bad_entity", err instanceof NameError ? err.message : "bad entity id");
  }
}

function checkEventTime(value: unknown, now: number, unit?: EventTimeUnit): number {
  if (value === undefined || value === null || value === "") throw new RowError("missing_event_time", `${EVENT_TIME_COLUMN} is missing`);
  let t: number;
  if (unit === undefined && typeof value === "bigint") unit = "ms"; // Parquet INT64 without a declared unit: milliseconds, as before
  const counted = unit === undefined || value instanceof Date || (typeof value === "string" && !/^\s*\d+\s*$/.test(value)) ? null : numericToMs(value, unit);
  if (counted !== null) t = counted;
  else if (unit !== undefined && (typeof value === "number" || typeof value === "bigint"))
    throw new RowError("bad_event_time", `${EVENT_TIME_COLUMN} must be a non-negative integer count of ${unit} (or ISO 8601 with a zone)`);
  else {
    try {
      t = parseTime(value, EVENT_TIME_COLUMN);
    } catch (err) {
      throw new RowError("bad_event_time", (err as Error).message);
    }
  }
  if (t > now + MAX_FUTURE_SKEW_MS) throw new RowError("future_event_time", `${EVENT_TIME_COLUMN} is more than ${MAX_FUTURE_SKEW_MS / 60000} minutes in the future`);
  // Epoch *seconds* read as milliseconds land in January 1970, and every read then says
  // OUTSIDE_MAX_AGE: refuse anything before 2000 and say what the number probably was.
  if (t < MIN_PLAUSIBLE_EVENT_TIME_MS) {
    const hint =
      unit === undefined && typeof value === "number" && value * 1000 >= MIN_PLAUSIBLE_EVENT_TIME_MS && value * 1000 <= now + MAX_FUTURE_SKEW_MS
        ? ` (${value} looks like seconds: say event_time_unit "s", or send milliseconds, ${value * 1000}, or an ISO 8601 time)`
        : "";
    throw new RowError("implausible_event_time", `${EVENT_TIME_COLUMN} ${new Date(t).toISOString()} is before 2000-01-01${hint}`);
  }
  return t;
}

/** Event times before this are refused (2000-01-01T00:00:00Z): they are almost always a unit mistake. */
export const MIN_PLAUSIBLE_EVENT_TIME_MS = 946_684_800_000;

function checkFeatures(view: ViewDef, values: Record<string, unknown>, source: ValueSource): Record<string, FeatureValue> {
  for (const name of Object.keys(values)) {
    if (!view.featureIndex.has(name)) throw new RowError("unknown_feature", `view ${view.name} has no feature ${JSON.stringify(name.slice(0, 64))}`);
  }
  const features: Record<string, FeatureValue> = {};
  for (const spec of view.features) {
    if (Object.prototype.hasOwnProperty.call(values, spec.name) && values[spec.name] !== undefined) {
      features[spec.name] = coerceValue(spec, values[spec.name], source);
    }
  }
  return features;
}

/** Feast's usual event-time column: accepted when the file has no `event_time`. */
export const FEAST_EVENT_TIME_COLUMN = "event_timestamp";
/** Feast's created-timestamp column: not a feature, dropped unless the view defines a feature of that name. */
export const FEAST_CREATED_COLUMN = "created";

export interface FlatRowOptions {
  /** The entity key column. @default the view's entityKey */
  readonly entityColumn?: string;
  /** The event time column. @default `event_time`, else Feast's `event_timestamp` */
  readonly eventTimeColumn?: string;
  /** Unit of numeric event times. @default ms */
  readonly eventTimeUnit?: EventTimeUnit;
}

/**
 * A flat source row (JSONL object or CSV record): the entity key column, `event_time`, and feature
 * columns. Anything else is an unknown_feature (strict: a typo must not load silently).
 */
export function validateFlatRow(view: ViewDef, row: Record<string, unknown>, source: ValueSource, now = Date.now(), options: FlatRowOptions = {}): ValidRow {
  if (typeof row !== "object" || row === null || Array.isArray(row)) throw new RowError("bad_row", "row must be an object");
  const entityColumn = options.entityColumn ?? view.entityKey;
  const timeColumn = options.eventTimeColumn ?? (!(EVENT_TIME_COLUMN in row) && FEAST_EVENT_TIME_COLUMN in row ? FEAST_EVENT_TIME_COLUMN : EVENT_TIME_COLUMN);
  const { [entityColumn]: entity, [timeColumn]: eventTime, ...values } = row;
  if (!view.featureIndex.has(FEAST_CREATED_COLUMN)) delete values[FEAST_CREATED_COLUMN];
  if (eventTime === undefined && options.eventTimeColumn === undefined) {
    throw new RowError("missing_event_time", `no ${EVENT_TIME_COLUMN} column (nor Feast's ${FEAST_EVENT_TIME_COLUMN}); name yours with --event-time-column`);
  }
  if (entity === undefined && options.entityColumn === undefined) {
    throw new RowError("missing_entity", `entity key ${entityColumn} is missing (view ${view.name}'s entity key; name another column with --entity-column)`);
  }
  return { entity: checkRowEntity(entity, entityColumn), event_time: checkEventTime(eventTime, now, options.eventTimeUnit), features: checkFeatures(view, values, source) };
}

/**
 * A push-API row: `{entity, event_time, features: {...}}` with JSON-typed values, or a delete
 * `{entity, event_time, delete: true}`. `unit` is the request's `event_time_unit`.
 */
export function validatePushRow(view: ViewDef, row: unknown, now = Date.now(), unit?: EventTimeUnit): ValidRow {
  if (typeof row !== "object" || row === null || Array.isArray(row)) throw new RowError("bad_row", "row must be a JSON object");
  const { entity, event_time, features, delete: del, ...rest } = row as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new RowError("bad_row", `unknown field ${JSON.stringify(extra[0].slice(0, 64))} (expected entity, event_time, features or delete)`);
  if (del !== undefined) {
    if (del !== true) throw new RowError("bad_row", "delete must be true when present");
    if (features !== undefined) throw new RowError("bad_row", "a delete row carries no features");
  } else if (typeof features !== "object" || features === null || Array.isArray(features)) throw new RowError("bad_row", "features must be an object");
  const checked = { entity: checkRowEntity(entity, "entity"), event_time: checkEventTime(event_time, now, unit) };
  return del ? { ...checked, features: {}, deleted: true } : { ...checked, features: checkFeatures(view, features as Record<string, unknown>, "json") };
}
