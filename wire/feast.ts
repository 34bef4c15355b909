/**
 * The Feast-compatible read: `POST /get-online-features` with Feast's feature server request and
 * response shapes, so a Feast project can point `online_store: {type: remote, path: <lane url>}`
 * at a lane (docs/feast.md). Shared by the runtime (what to fetch) and the signer (which re-parses
 * the exact body it signs and builds the answer).
 *
 * Shapes taken from Feast's own source (feast-dev/feast):
 *   - sdk/python/feast/feature_server.py: `GetOnlineFeaturesRequest` {entities: Dict[str, List[Any]],
 *     feature_service?, features?: List[str], full_feature_names: bool = False}; the answer is
 *     `MessageToDict(GetOnlineFeaturesResponse, preserving_proto_field_name=True)`:
 *     {metadata: {feature_names: [...]}, results: [{values, statuses, event_timestamps}, ...]},
 *     the join key first (its values as sent, PRESENT, epoch timestamps), then one result per feature.
 *   - sdk/python/feast/infra/online_stores/remote.py: the `remote` online store posts
 *     `json.dumps({"features": ["view:feature", ...], "entities": {join_key: [values]}})` with no
 *     Content-Type header, reads `metadata.feature_names`, `results[i].statuses[j] == "PRESENT"`
 *     and `results[1].event_timestamps[0]`.
 * Feature references are `view:feature`; with full_feature_names the answer names them
 * `view__feature` (Feast's convention). Statuses are Feast's FieldStatus names; a refused object
 * (failed seal, rollback, …) is `INVALID` with a null value, and `errors` says why — never PRESENT.
 */
import { canonicalEntity, checkFeature, checkView, MAX_BATCH_ENTITIES } from "./names";
import type { Registry, ViewDef } from "./registry";
import { jsonObjectBody, named, lookupView, parseAcceptSignature, type RawReadRequest } from "./request";
import { LaneError } from "./errors";
import { parseQuery } from "./query";

export const FEAST_PATH = "/get-online-features";
/** Distinct views one Feast request may read, and (view, entity) lookups in all. */
export const MAX_FEAST_VIEWS = 8;
export const MAX_FEAST_LOOKUPS = 400;
export const MAX_FEAST_BODY_BYTES = 256 * 1024;

export interface FeastViewRead {
  readonly def: ViewDef;
  /** Requested features of this view, in request order. */
  readonly features: readonly string[];
}

export interface FeastRequest {
  readonly kind: "feast";
  /** The join key the entities came under (every view read must use it). */
  readonly joinKey: string;
  /** Entity values as sent (numbers stay numbers in the answer), and as entity ids. */
  readonly entityValues: readonly (string | number)[];
  readonly entities: readonly string[];
  readonly views: readonly FeastViewRead[];
  /** Output order: [view index, feature] per requested reference. */
  readonly references: readonly { readonly view: number; readonly feature: string }[];
  readonly fullFeatureNames: boolean;
  readonly signature: { readonly label: string; readonly nonce?: string };
}

/** Objects the runtime fetches, in this order: for each view, each entity. */
export function feastLookups(request: FeastRequest): { view: string; entity: string }[] {
  return request.views.flatMap((v) => request.entities.map((entity) => ({ view: v.def.name, entity })));
}

const bad = (message: string): never => {
  throw new LaneError("bad_body", message);
};

// One entity-key rule: ids are strings; Feast's typed integer keys are their decimal text.
const entityId = (value: unknown): string => named(() => canonicalEntity(value));

export function isFeastRequest(method: string, path: string): boolean {
  return method === "POST" && path === FEAST_PATH;
}

export function parseFeastRequest(raw: RawReadRequest, registry: Registry): FeastRequest {
  if (raw.path !== FEAST_PATH) throw new LaneError("not_found_route", "no such route");
  if (raw.method !== "POST") throw new LaneError("method_not_allowed", "get-online-features uses POST");
  parseQuery(raw.query, []);
  // Feast's remote store sends no Content-Type (requests' data=<str>); JSON is all it ever sends.
  const types = ["", "application/json", "text/plain"];
  const { entities, features, feature_service, full_feature_names, ...rest } = jsonObjectBody(raw, { what: "body", maxBytes: MAX_FEAST_BODY_BYTES, types });
  const extra = Object.keys(rest);
  if (extra.length > 0) bad(`unknown field ${JSON.stringify(extra[0]!.slice(0, 64))} (expected entities, features, full_feature_names)`);
  if (feature_service !== undefined && feature_service !== null) bad("feature_service is not supported: list the features as view:feature references");
  if (full_feature_names !== undefined && typeof full_feature_names !== "boolean") bad("full_feature_names must be a boolean");
  if (typeof entities !== "object" || entities === null || Array.isArray(entities)) return bad('entities must be an object {"<join key>": [values]}');
  const keys = Object.keys(entities);
  if (keys.length !== 1) bad("entities must name exactly one join key (every view of a lane request shares it)");
  const joinKey = keys[0]!;
  const values = (entities as Record<string, unknown>)[joinKey];
  if (!Array.isArray(values) || values.length === 0) return bad(`entities.${joinKey.slice(0, 64)} must be a non-empty array`);
  if (values.length > MAX_BATCH_ENTITIES) throw new LaneError("batch_too_large", `at most ${MAX_BATCH_ENTITIES} entities per request`);
  const entityValues = values.map((v) => (typeof v === "number" || typeof v === "string" ? v : entityId(v)));
  const ids = entityValues.map(entityId);
  if (!Array.isArray(features) || features.length === 0) return bad("features must be a non-empty array of view:feature references");
  const views: { def: ViewDef; features: string[] }[] = [];
  const references: { view: number; feature: string }[] = [];
  const seen = new Set<string>();
  for (const ref of features) {
    if (typeof ref !== "string") bad("feature references must be strings");
    const colon = (ref as string).indexOf(":");
    if (colon <= 0) bad(`feature reference ${JSON.stringify((ref as string).slice(0, 128))} must be view:feature`);
    const viewName = (ref as string).slice(0, colon);
    const feature = (ref as string).slice(colon + 1);
    named(() => checkView(viewName));
    named(() => checkFeature(feature));
    if (seen.has(ref as string)) continue;
    seen.add(ref as string);
    let index = views.findIndex((v) => v.def.name === viewName);
    if (index < 0) {
      const def = lookupView(viewName, registry);
      if (def.entityKey !== joinKey) bad(`view ${viewName} is keyed by ${def.entityKey}, the request by ${joinKey.slice(0, 64)}`);
      if (views.length >= MAX_FEAST_VIEWS) throw new LaneError("batch_too_large", `at most ${MAX_FEAST_VIEWS} views per request`);
      views.push({ def, features: [] });
      index = views.length - 1;
    }
    const view = views[index]!;
    if (!view.def.featureIndex.has(feature)) throw new LaneError("unknown_feature", `view ${viewName} has no feature ${JSON.stringify(feature)}`);
    view.features.push(feature);
    references.push({ view: index, feature });
  }
  if (views.length * ids.length > MAX_FEAST_LOOKUPS) throw new LaneError("batch_too_large", `at most ${MAX_FEAST_LOOKUPS} (view, entity) lookups per request`);
  const fullFeatureNames = full_feature_names === true;
  if (!fullFeatureNames) {
    const names = new Set<string>();
    for (const r of references) {
      if (names.has(r.feature)) bad(`feature ${r.feature} is requested from two views: set full_feature_names`);
      names.add(r.feature);
    }
  }
  return { kind: "feast", joinKey, entityValues, entities: ids, views, references, fullFeatureNames, signature: parseAcceptSignature(raw.acceptSignature) };
}

/** What the answer calls a requested feature. */
export function feastFeatureName(request: FeastRequest, reference: { view: number; feature: string }): string {
  return request.fullFeatureNames ? `${request.views[reference.view]!.def.name}__${reference.feature}` : reference.feature;
}

/** Feast's FieldStatus names (feast/protos/feast/serving/ServingService.proto). */
export type FeastStatus = "INVALID" | "PRESENT" | "NULL_VALUE" | "NOT_FOUND" | "OUTSIDE_MAX_AGE";
/** The event timestamp Feast reports for a value it does not have (the protobuf Timestamp default). */
export const FEAST_EPOCH = "1970-01-01T00:00:00Z";
