/**
 * Write semantics (docs/push-api.md): how one validated push row and the entity's current object
 * (already verified by the caller — in the lane, the enclave) become the object to seal.
 *
 *   mode "merge" (default): the row's features are laid over the current object's; features the
 *     row does not carry keep their values and their own event times (`feature_times`).
 *   mode "replace": the row is the whole object; features it does not carry are gone.
 *   a delete row: a tombstone at the row's event time (no features); reads answer NOT_FOUND.
 *
 * Newer wins, per row: a row older than the current object (a value or a tombstone) is refused
 * with `older_than_stored`; equal times are a tie the row wins (last writer). A row that would
 * change nothing is `unchanged` (nothing to store: re-loads stay idempotent).
 *
 * Pure: no keys, no I/O. Shared by the signer (push API) and by writers that seal themselves.
 */
import type { FeatureObject, FeatureValue } from "./object";
import { featuresFingerprint } from "./object";
import type { ValidRow } from "./registry";

export const WRITE_MODES = ["merge", "replace"] as const;
export type WriteMode = (typeof WRITE_MODES)[number];

/** What to seal: the object's fields except `v` and `written_time` (the sealer stamps that). */
export type MergedObject = Omit<FeatureObject, "v" | "written_time">;

export type MergeResult =
  | { readonly ok: true; readonly unchanged: false; readonly object: MergedObject }
  | { readonly ok: true; readonly unchanged: true }
  | { readonly ok: false; readonly code: "older_than_stored"; readonly message: string };

/** The event time of each feature the object holds (its own time, or the object's). */
export function featureTime(object: Pick<FeatureObject, "event_time" | "feature_times">, feature: string): number {
  const t = object.feature_times?.[feature];
  return t === undefined ? object.event_time : t;
}

function sameContent(a: MergedObject, b: MergedObject): boolean {
  if (a.event_time !== b.event_time || (a.deleted === true) !== (b.deleted === true)) return false;
  if (featuresFingerprint(a.features) !== featuresFingerprint(b.features)) return false;
  const ta = a.feature_times ?? {};
  const tb = b.feature_times ?? {};
  const ka = Object.keys(ta);
  return ka.length === Object.keys(tb).length && ka.every((k) => ta[k] === tb[k]);
}

/**
 * @param view the view the row was pushed to
 * @param current the entity's current object, verified (seal, view, entity) by the caller; null
 *   when there is none.
 * @param row a validated row of this (view, entity).
 */
export function mergeRow(view: string, current: FeatureObject | null, row: ValidRow, mode: WriteMode): MergeResult {
  const base = { view, entity: row.entity, event_time: row.event_time };
  let next: MergedObject;
  if (row.deleted) next = { ...base, features: {}, deleted: true };
  else next = { ...base, features: row.features };
  if (current === null) return { ok: true, unchanged: false, object: next };
  if (row.event_time < current.event_time) {
    const what = current.deleted ? "the entity was deleted at" : "the stored object is from";
    return {
      ok: false,
      code: "older_than_stored",
      message: `event_time ${new Date(row.event_time).toISOString()} is older than the stored version (${what} ${new Date(current.event_time).toISOString()}); newer event time wins`,
    };
  }
  if (!row.deleted && mode === "merge" && !current.deleted) {
    const features: Record<string, FeatureValue> = {};
    const times: Record<string, number> = {};
    for (const name of Object.keys(current.features)) {
      if (Object.prototype.hasOwnProperty.call(row.features, name)) continue;
      features[name] = current.features[name];
      const t = featureTime(current, name);
      if (t !== row.event_time) times[name] = t;
    }
    for (const name of Object.keys(row.features)) features[name] = row.features[name];
    next = Object.keys(times).length > 0 ? { ...base, features, feature_times: times } : { ...base, features };
  }
  const currentContent: MergedObject = {
    view: current.view,
    entity: current.entity,
    event_time: current.event_time,
    features: current.features,
    ...(current.feature_times ? { feature_times: current.feature_times } : {}),
    ...(current.deleted ? { deleted: true as const } : {}),
  };
  if (sameContent(next, currentContent)) return { ok: true, unchanged: true };
  return { ok: true, unchanged: false, object: next };
}
