/**
 * Turns stored objects into the response body, on the fly: verify the object's seal and that it is
 * the object the request names (enclave/seal.ts), project the requested features as the registry
 * defines them, apply the view's max age against the signed read time, encode JSON or MessagePack.
 * There is no second "clean" copy of the data anywhere; this is the only transformation.
 */
import { Packr } from "msgpackr";
import { KeySelector, isFeatureValue, ObjectFormatError, type FeatureObject, type FeatureValue } from "../wire/object";
import type { FeatureSpec, Registry, ViewDef } from "../wire/registry";
import { lookupView, type ReadRequest } from "../wire/request";
import { entityMessage, LaneError } from "../wire/errors";
import { FEAST_EPOCH, feastFeatureName, type FeastRequest, type FeastStatus } from "../wire/feast";
import { SEAL_FAILURE_MESSAGES, type SealKeyring } from "./seal";
import type { ServedEntity } from "../wire/frames";
import type { RegistryRef } from "../wire/registry-document";
import { maxStalenessOf } from "../wire/registry";
import { fromWireProof, type WireProof } from "../wire/checkpoint";
import { FRESHNESS_MESSAGES, freshnessVerdict, UNPROVEN, VerifiedLookups, type CheckpointLookup, type Freshness, type ServedObject } from "./checkpoint-state";

/**
 * Per-feature status, Feast style. OUTSIDE_MAX_AGE: the object's event_time is older than the
 * view's ttlSeconds at the signed read time (the signature's `created`); the value is withheld.
 */
export type FeatureStatus = "PRESENT" | "NULL_VALUE" | "NOT_FOUND" | "OUTSIDE_MAX_AGE" | "TYPE_MISMATCH";

/**
 * Whether a stored value has the type the registry defines *now*. After a type change (docs/views.md)
 * objects written under the old type still hold old-typed values: they read as TYPE_MISMATCH with a
 * null value, never mis-typed. A float may be stored as an integral number (MessagePack keeps 3.0 as
 * 3), so float accepts any number; an int must be a safe integer.
 */
export function valueMatchesType(spec: FeatureSpec, value: FeatureValue): boolean {
  switch (spec.type) {
    case "int":
      return typeof value === "number" && Number.isSafeInteger(value);
    case "float":
      return typeof value === "number";
    case "string":
      return typeof value === "string";
    case "bool":
      return typeof value === "boolean";
    case "timestamp":
      return value instanceof Date;
    case "float_array":
      return Array.isArray(value) && (spec.length === undefined || value.length === spec.length);
  }
}

/**
 * A last check on a verified object before its values are used (the signer's P2 high-water mark):
 * null = serve it, else the refusal (code and fixed message) that goes into the signed answer.
 */
export type EntityGuard = (view: string, entity: string, eventTime: number) => { readonly code: string; readonly message: string } | null;

export interface RenderContext {
  /** Seal keys to verify with; null = none loaded, every stored object is refused. */
  readonly seals: SealKeyring | null;
  /** The signed read time in ms (signature `created` × 1000): max age is enforced against it. */
  readonly readTimeMs: number;
  /** Feature views (the composition root passes the bundled registry/views.ts). */
  readonly registry: Registry;
  /** @default none */
  readonly guard?: EntityGuard;
  /** The registry the answer names (registry_version, registry_digest); absent = not named (unit tests). */
  readonly registryRef?: RegistryRef;
  /** The writer checkpoints held (P8); absent = none, every entity's fresh_as_of is null. */
  readonly checkpoints?: CheckpointLookup;
  /** Proof outcomes already verified by this thread (one per Signer or worker, outliving checkpoint tables); absent = every proof is checked. */
  readonly verifiedLookups?: VerifiedLookups;
}

/** The answer's registry fields: which registry the signer validated and projected with. */
function registryFields(ref: RegistryRef | undefined): { registry_version?: number; registry_digest?: string } {
  return ref ? { registry_version: ref.version, registry_digest: ref.digest } : {};
}

/**
 * Times in an answer: Date objects for MessagePack (the timestamp extension), their JSON text for
 * JSON. Converting before JSON.stringify rather than letting it call Date#toJSON keeps V8's
 * fast serializer: a 100-entity batch encodes in ≈ 150 µs instead of ≈ 400 µs (measured,
 * docs/performance.md); the bytes are the same (test/enclave/render.test.ts).
 */
export type AnswerTime = Date | string | null;

export interface EntityFound {
  readonly entity: string;
  readonly found: true;
  readonly event_time: AnswerTime;
  readonly written_time: AnswerTime;
  /** The writer whose key sealed the object (the key directory names it). */
  readonly written_by: string;
  /** P8: no newer version of the entity existed at this time, per the view's checkpoint; null = unproven. */
  readonly fresh_as_of: AnswerTime;
  /** The checkpoint fresh_as_of comes from (absent when fresh_as_of is null). */
  readonly checkpoint_seq?: number;
  readonly features: Record<string, FeatureValue>;
  readonly status: Record<string, FeatureStatus>;
}

export interface EntityError {
  readonly entity: string;
  readonly found: false;
  readonly error: { readonly code: string; readonly message: string };
  /** not_found (and a tombstone): the entity had no object at this time, per the view's checkpoint; null = unproven or refused. */
  readonly fresh_as_of: AnswerTime;
  readonly checkpoint_seq?: number;
}

export type EntityResult = EntityFound | EntityError;

export interface RenderedBody {
  readonly status: number;
  readonly contentType: string;
  readonly body: Buffer;
  /** Codes of entities refused (not counting not_found), for metrics. */
  readonly entityErrors: string[];
  /** Per object the host sent, in order: status and age (metrics only; wire/frames ServedEntity). */
  readonly served: ServedEntity[];
}

const packr = new Packr({ useRecords: false });

/** What the answer's encoding needs for a time in ms: a Date for MessagePack, JSON's text for JSON. */
function timeFor(format: ReadRequest["format"], ms: number): AnswerTime {
  return format === "msgpack" ? new Date(ms) : isoTime(ms);
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : `${n}`);
const YEAR_10000_MS = 253_402_300_800_000;

/**
 * Exactly what `new Date(ms).toJSON()` returns (null for a time outside Date's range). Written
 * out for years 1970–9999 because V8's Date#toISOString costs ≈ 0.7 µs here against ≈ 0.2 µs for
 * this, and a 100-entity batch formats ≈ 300 times (docs/performance.md); other years use
 * toISOString. Property-tested against it in test/enclave/render.test.ts.
 */
export function isoTime(ms: number): string | null {
  // The same times render again and again (a hot entity's event_time, a writer run's written_time):
  // a small direct-mapped cache of the last texts made, keyed by the exact ms value.
  const slot = ms & (ISO_CACHE_SIZE - 1);
  if (isoCacheKeys[slot] === ms) return isoCacheTexts[slot];
  const text = formatIsoTime(ms);
  isoCacheKeys[slot] = ms;
  isoCacheTexts[slot] = text;
  return text;
}

const ISO_CACHE_SIZE = 512;
/** NaN never equals a key: empty slots never hit. */
const isoCacheKeys = new Float64Array(ISO_CACHE_SIZE).fill(NaN);
const isoCacheTexts: Array<string | null> = new Array<string | null>(ISO_CACHE_SIZE).fill(null);

function formatIsoTime(ms: number): string | null {
  if (Number.isInteger(ms) && ms >= 0 && ms < YEAR_10000_MS) {
    // Days → civil date: H. Hinnant's days_from_civil inverse (proleptic Gregorian, as Date).
    const days = Math.floor(ms / 86_400_000);
    let rest = ms - days * 86_400_000;
    const z = days + 719_468;
    const era = Math.floor(z / 146_097);
    const dayOfEra = z - era * 146_097;
    const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
    const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
    const mp = Math.floor((5 * dayOfYear + 2) / 153);
    const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
    const month = mp < 10 ? mp + 3 : mp - 9;
    const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
    const hours = Math.floor(rest / 3_600_000);
    rest -= hours * 3_600_000;
    const minutes = Math.floor(rest / 60_000);
    rest -= minutes * 60_000;
    const seconds = Math.floor(rest / 1000);
    const millis = rest - seconds * 1000;
    return `${year}-${pad2(month)}-${pad2(day)}T${pad2(hours)}:${pad2(minutes)}:${pad2(seconds)}.${millis < 10 ? "00" : millis < 100 ? "0" : ""}${millis}Z`;
  }
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** What project() needs per (view, selector), looked up once per request rather than per entity. */
interface ProjectionPlan {
  readonly def: ViewDef;
  readonly wanted: KeySelector | null;
  /** The answer's feature names, in answer order. */
  readonly names: readonly string[];
  /** Their registry specs, by index (undefined only for a name the view lacks, which parsers refuse). */
  readonly specs: ReadonlyArray<FeatureSpec | undefined>;
  /**
   * An object with every name, in answer order (null values): each entity's features and status
   * objects start as copies of it. project() sets every name, so the copy has the shape the answer
   * gets — same keys, same order, same JSON — and each store overwrites a property instead of adding
   * one (a map transition per property, through a megamorphic store: the hottest lines of project()
   * in a batch's profile). Null when a name is "__proto__", whose assignment sets the prototype: such
   * a plan builds its objects property by property, as before.
   */
  readonly template: Readonly<Record<string, null>> | null;
}

function templateOf(names: readonly string[]): Record<string, null> | null {
  if (names.includes("__proto__")) return null;
  const template: Record<string, null> = {};
  for (const name of names) template[name] = null;
  return template;
}

/**
 * The last plan made: a batch (and the entities of a Feast view) reuses it for every entity, full
 * reads of one view for every request. Keyed by identity: a new registry makes new ViewDefs, and a
 * request's selector is made per request (renderRead). Module state is per thread, as each worker
 * signer runs its own copy.
 */
let lastPlan: ProjectionPlan | null = null;

function planFor(def: ViewDef, wanted: KeySelector | null): ProjectionPlan {
  const plan = lastPlan;
  if (plan !== null && plan.def === def && plan.wanted === wanted) return plan;
  // Full reads return the view's features as the registry defines them now (not whatever else an
  // older object may carry); explicit projections were checked against the view by the parser.
  const names = wanted?.names ?? def.featureNames;
  lastPlan = { def, wanted, names, specs: names.map((name) => def.featureIndex.get(name)), template: templateOf(names) };
  return lastPlan;
}

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * A Date or an array value as the JSON answer holds it: a Date as its JSON text (see AnswerTime);
 * an array copied into a packed one. msgpackr decodes arrays into holey arrays (`new Array(n)`, then
 * filled), which V8's JSON.stringify serializes element by element through its slow path; the copy
 * (≈ free) halves an embedding's encoding (bench/micro/signer-render.ts). Same elements, same text.
 */
function jsonReady(value: Date | number[]): FeatureValue {
  if (value instanceof Date) return isoTime(value.getTime()) as FeatureValue;
  const packed: number[] = [];
  for (let i = 0; i < value.length; i++) packed.push(value[i]);
  return packed;
}

function project(object: FeatureObject, def: ViewDef, wanted: KeySelector | null, readTimeMs: number, format: ReadRequest["format"]): Pick<EntityFound, "features" | "status"> {
  const { names, specs, template } = planFor(def, wanted);
  const features: Record<string, FeatureValue> = template === null ? {} : { ...template };
  const status = (template === null ? {} : { ...template }) as unknown as Record<string, FeatureStatus>;
  const maxAgeMs = def.ttlSeconds * 1000;
  const objectTooOld = readTimeMs - object.event_time > maxAgeMs;
  // A merged object keeps older features' own event times (wire/merge.ts): max age is per feature.
  const times = object.feature_times;
  const stored = object.features;
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const value = hasOwn.call(stored, name) ? stored[name] : undefined;
    // The body was decoded without per-feature checks (wire/object.ts): check what we output.
    if (value !== undefined && !isFeatureValue(value)) throw new ObjectFormatError(`feature ${name} has an unsupported value type`);
    const own = times !== undefined && hasOwn.call(times, name) ? times[name] : undefined;
    if (objectTooOld || (own !== undefined && readTimeMs - own > maxAgeMs)) {
      features[name] = null;
      status[name] = "OUTSIDE_MAX_AGE";
    } else if (value === undefined) {
      features[name] = null;
      status[name] = "NOT_FOUND";
    } else if (value !== null && !valueMatchesType(specs[i]!, value)) {
      features[name] = null;
      status[name] = "TYPE_MISMATCH";
    } else {
      features[name] = format === "json" && value !== null && typeof value === "object" ? jsonReady(value) : value;
      status[name] = value === null ? "NULL_VALUE" : "PRESENT";
    }
  }
  return { features, status };
}

/**
 * One entity: found and projected, missing, or refused. Refusals (per-entity error codes):
 * corrupt_object, seal_missing, seal_unknown_key, seal_invalid, object_mismatch,
 * seal_key_unavailable — none of them ever carries a feature value.
 */
export function renderEntity(
  def: ViewDef,
  entity: string,
  bytes: Uint8Array | null,
  wanted: KeySelector | null,
  ctx: RenderContext,
  format: ReadRequest["format"] = "json",
  served?: ServedEntity[],
  proof?: WireProof | null,
): EntityResult {
  const result = renderEntityOnce(def, entity, bytes, wanted, ctx, format, proof ?? null);
  if (served) served.push(servedOf(result.result, result.eventTimeMs, ctx.readTimeMs));
  return result.result;
}

/** What the metrics say about one rendered entity: found (fresh or outside max age), missing, refused. */
function servedOf(result: EntityResult, eventTimeMs: number | undefined, readTimeMs: number): ServedEntity {
  if (!result.found) return { status: result.error.code === "not_found" ? "not_found" : "refused" };
  const ageSeconds = Math.max(0, (readTimeMs - (eventTimeMs ?? readTimeMs)) / 1000);
  // A loop, not Object.values(…).some: no array per entity read.
  for (const name in result.status) if (result.status[name] === "OUTSIDE_MAX_AGE") return { status: "outside_max_age", ageSeconds };
  return { status: "found", ageSeconds };
}

/** A context without remembered lookups (unit tests) checks every proof: a VerifiedLookups that keeps nothing. */
const CHECK_EVERY_PROOF = new VerifiedLookups(0);

/**
 * P8 for one entity: the contract's table (enclave/checkpoint-state.ts freshnessOf) against the
 * held checkpoint the host's proof names. No proof, an unknown seq or a malformed proof: unproven.
 */
function freshnessFor(def: ViewDef, entity: string, proof: WireProof | null, ctx: RenderContext, served: ServedObject | null): Freshness {
  if (proof === null || ctx.checkpoints === undefined) return UNPROVEN;
  const checkpoint = ctx.checkpoints.get(def.name, proof.seq);
  // The host proves against a checkpoint it handed this signer; one it does not hold means this
  // signer restarted (or the host lost track): refuse the whole read, unsigned and retryable, so
  // the host hands it the checkpoint again — an unproven 200 would only be rejected by verifiers.
  if (checkpoint === undefined) throw new LaneError("checkpoint_unheld", `this signer holds no checkpoint ${proof.seq} of view ${def.name}`);
  const lookups = ctx.verifiedLookups ?? CHECK_EVERY_PROOF;
  return freshnessVerdict(
    checkpoint,
    lookups.checkEntity(checkpoint.root, def.name, entity, () => fromWireProof(proof)),
    served,
    lookups,
  );
}

/** The answer fields of a freshness verdict that serves (fresh or unproven). */
function freshFields(f: Freshness, format: ReadRequest["format"]): { fresh_as_of: AnswerTime; checkpoint_seq?: number } {
  return f.kind === "fresh" ? { fresh_as_of: timeFor(format, f.asOf), checkpoint_seq: f.seq } : { fresh_as_of: null };
}

const UNPROVEN_FIELDS = { fresh_as_of: null } as const;

function renderEntityOnce(
  def: ViewDef,
  entity: string,
  bytes: Uint8Array | null,
  wanted: KeySelector | null,
  ctx: RenderContext,
  format: ReadRequest["format"],
  proof: WireProof | null,
): { result: EntityResult; eventTimeMs?: number } {
  const done = (result: EntityResult, eventTimeMs?: number) => ({ result, eventTimeMs });
  if (bytes === null) {
    // Not found is a claim too: only an absence proof makes it fresh; a presence proof means the host withheld the object.
    const f = freshnessFor(def, entity, proof, ctx, null);
    if (f.kind === "refused") return done({ entity, found: false, error: { code: f.code, message: FRESHNESS_MESSAGES[f.code] }, ...UNPROVEN_FIELDS });
    return done({ entity, found: false, error: { code: "not_found", message: entityMessage("not_found") }, ...freshFields(f, format) });
  }
  if (!ctx.seals) return done({ entity, found: false, error: { code: "seal_key_unavailable", message: entityMessage("seal_key_unavailable") }, ...UNPROVEN_FIELDS });
  // The host chose which bytes to send: the seal proves a writer made them, the identity check
  // that they are this entity's object in this view.
  const opened = ctx.seals.open(bytes, def.name, entity, wanted, ctx.readTimeMs);
  if (!opened.ok) return done({ entity, found: false, error: { code: opened.code, message: opened.message }, ...UNPROVEN_FIELDS });
  const object = opened.object;
  // P8: the view's checkpoint says whether this is the newest version (the seal only says a writer
  // made it). Before P2's guard, so an object the checkpoint refuses never raises a high-water mark.
  const f = freshnessFor(def, entity, proof, ctx, { eventTimeMs: object.event_time, writtenTimeMs: object.written_time, bytes, seal: opened.seal });
  if (f.kind === "refused") return done({ entity, found: false, error: { code: f.code, message: FRESHNESS_MESSAGES[f.code] }, ...UNPROVEN_FIELDS });
  const refused = ctx.guard?.(def.name, entity, object.event_time);
  if (refused) return done({ entity, found: false, error: refused, ...UNPROVEN_FIELDS });
  // A tombstone (a writer's delete, sealed like any write): the entity has no features.
  if (object.deleted === true) return done({ entity, found: false, error: { code: "not_found", message: DELETED_MESSAGE }, ...freshFields(f, format) });
  let projected: Pick<EntityFound, "features" | "status">;
  try {
    projected = project(object, def, wanted, ctx.readTimeMs, format);
  } catch (err) {
    // Fixed text: the decoder's own message may quote stored (host-chosen) bytes.
    if (err instanceof ObjectFormatError) return done({ entity, found: false, error: { code: err.code, message: SEAL_FAILURE_MESSAGES.corrupt_object }, ...UNPROVEN_FIELDS });
    throw err;
  }
  return done(
    {
      entity,
      found: true,
      event_time: timeFor(format, object.event_time),
      written_time: timeFor(format, object.written_time),
      written_by: opened.writer,
      ...freshFields(f, format),
      ...projected,
    },
    object.event_time,
  );
}

/** Signer-authored text of a read of a deleted entity (code not_found, like an entity never written). */
export const DELETED_MESSAGE = "this entity was deleted (a writer stored a tombstone)";

function refusals(results: readonly EntityResult[]): string[] {
  const codes: string[] = [];
  for (const r of results) if (!r.found && r.error.code !== "not_found") codes.push(r.error.code);
  return codes;
}

function statusOf(result: EntityResult): number {
  if (result.found) return 200;
  return result.error.code === "not_found" ? 404 : 502;
}

export function encodeBody(format: ReadRequest["format"], value: unknown): { contentType: string; body: Buffer } {
  if (format === "msgpack") return { contentType: "application/msgpack", body: packr.pack(value) };
  return { contentType: "application/json", body: Buffer.from(JSON.stringify(value), "utf8") };
}

/** The whole answer for a parsed request and the objects the host fetched, in request order. */
export function renderRead(request: ReadRequest, objects: ReadonlyArray<Uint8Array | null>, ctx: RenderContext, proofs?: ReadonlyArray<WireProof | null>): RenderedBody {
  if (objects.length !== request.entities.length) {
    throw new LaneError("bad_body", `expected ${request.entities.length} objects, host sent ${objects.length}`);
  }
  const def = lookupView(request.view, ctx.registry);
  // Prepared once per request: a batch matches every entity's keys against the same byte strings.
  const wanted = request.features ? new KeySelector(request.features) : null;
  if (request.kind === "single") {
    const served: ServedEntity[] = [];
    const result = renderEntity(def, request.entities[0], objects[0], wanted, ctx, request.format, served, proofs?.[0]);
    return {
      status: statusOf(result),
      ...encodeBody(request.format, { view: request.view, ...registryFields(ctx.registryRef), max_staleness: maxStalenessOf(def), ...result }),
      entityErrors: refusals([result]),
      served,
    };
  }
  const served: ServedEntity[] = [];
  const results = request.entities.map((entity, i) => renderEntity(def, entity, objects[i], wanted, ctx, request.format, served, proofs?.[i]));
  return {
    status: 200,
    ...encodeBody(request.format, { view: request.view, ...registryFields(ctx.registryRef), max_staleness: maxStalenessOf(def), results }),
    entityErrors: refusals(results),
    served,
  };
}

/**
 * The Feast-shaped answer (wire/feast.ts): the join key column, then one column per requested
 * feature with values, statuses and event timestamps per entity. Each object is checked exactly
 * as for our own reads (seal, identity, P2 guard, max age); a refused one is INVALID with a null
 * value and a line in `errors` — never PRESENT.
 */
export function renderFeast(request: FeastRequest, objects: ReadonlyArray<Uint8Array | null>, ctx: RenderContext, proofs?: ReadonlyArray<WireProof | null>): RenderedBody {
  const n = request.entities.length;
  if (objects.length !== request.views.length * n) throw new LaneError("bad_body", `expected ${request.views.length * n} objects, host sent ${objects.length}`);
  const columns = new Map<string, { values: unknown[]; statuses: FeastStatus[]; event_timestamps: string[] }>();
  const errors: { view: string; entity: string; code: string; message: string }[] = [];
  // In object order (view-major), as the host sent them.
  const served: ServedEntity[] = [];
  // P8 per view: fresh_as_of / checkpoint_seq per entity (request order), and the view's bound.
  const freshness: Array<{ view: string; max_staleness: number; fresh_as_of: AnswerTime[]; checkpoint_seq: Array<number | null> }> = [];
  request.views.forEach((view, v) => {
    const wanted = new KeySelector(view.features);
    const fresh = { view: view.def.name, max_staleness: maxStalenessOf(view.def), fresh_as_of: [] as AnswerTime[], checkpoint_seq: [] as Array<number | null> };
    freshness.push(fresh);
    for (const feature of view.features) columns.set(`${v}\u0000${feature}`, { values: [], statuses: [], event_timestamps: [] });
    for (let i = 0; i < n; i++) {
      const result = renderEntity(view.def, request.entities[i]!, objects[v * n + i] ?? null, wanted, ctx, "json", served, proofs?.[v * n + i]);
      fresh.fresh_as_of.push(result.fresh_as_of);
      fresh.checkpoint_seq.push(result.checkpoint_seq ?? null);
      if (!result.found && result.error.code !== "not_found")
        errors.push({ view: view.def.name, entity: request.entities[i]!, code: result.error.code, message: result.error.message });
      for (const feature of view.features) {
        const column = columns.get(`${v}\u0000${feature}`)!;
        if (result.found) {
          column.values.push(result.features[feature] ?? null);
          const status = result.status[feature]!;
          column.statuses.push(status === "TYPE_MISMATCH" ? "INVALID" : status);
          column.event_timestamps.push(String(result.event_time));
        } else {
          column.values.push(null);
          column.statuses.push(result.error.code === "not_found" ? "NOT_FOUND" : "INVALID");
          column.event_timestamps.push(FEAST_EPOCH);
        }
      }
    }
  });
  const results = [
    { values: request.entityValues, statuses: request.entityValues.map((): FeastStatus => "PRESENT"), event_timestamps: request.entityValues.map(() => FEAST_EPOCH) },
    ...request.references.map((r) => columns.get(`${r.view}\u0000${r.feature}`)!),
  ];
  const answer = {
    metadata: { feature_names: [request.joinKey, ...request.references.map((r) => feastFeatureName(request, r))] },
    ...registryFields(ctx.registryRef),
    results,
    freshness,
    ...(errors.length > 0 ? { errors } : {}),
  };
  return { status: 200, ...encodeBody("json", answer), entityErrors: errors.map((e) => e.code), served };
}
