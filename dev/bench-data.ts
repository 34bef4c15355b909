/**
 * The benchmark's dataset: its own view and entity ids, the 10 projected features, objects of a
 * given size. Shared by the benchmark (bench/) and `express-lane bench-data` (cli/), which seeds a
 * deployed lane with exactly the objects a local run uses.
 */
import { encodeObject, type FeatureObject } from "../wire/object";
import { BENCH_PROFILE } from "../registry/views";
import { demoObject } from "./demo-data";

/**
 * The benchmark's own view and entity ids (registry/views.ts BENCH_PROFILE): user_profile's
 * features, so reads cost the same, but never mixed with real users on a deployed lane.
 */
export const BENCH_VIEW = BENCH_PROFILE.name;
export function benchEntityId(i: number): string {
  return `bench_${String(i).padStart(6, "0")}`;
}
/** The 10 features projected reads and batches ask for (all present in demo objects). */
export const PROJECTED_FEATURES = [
  "country",
  "segment",
  "risk_score",
  "device",
  "txn_count_7d",
  "spend_30d_cat_0",
  "spend_30d_cat_1",
  "flag_0",
  "last_login_time",
  "embedding_0",
] as const;

const PAD_FEATURE = "last_item_5";

/**
 * A demo object whose MessagePack encoding is about `bytes` bytes: features the registry view
 * declares are dropped (never the projected ones) to go below, or the string feature PAD_FEATURE
 * lengthened to go above, so the object stays valid for the view.
 */
export function sizedFeatureObject(i: number, bytes: number, now: number): FeatureObject {
  const base: FeatureObject = { ...demoObject(i, now), view: BENCH_VIEW, entity: benchEntityId(i) };
  const features: Record<string, unknown> = { ...base.features };
  const make = (): FeatureObject => ({ ...base, features: features as FeatureObject["features"] });
  let encoded = encodeObject(make());
  const keep = new Set<string>([...PROJECTED_FEATURES, PAD_FEATURE]);
  for (const name of Object.keys(features).reverse()) {
    if (encoded.length <= bytes) break;
    if (keep.has(name)) continue;
    delete features[name];
    encoded = encodeObject(make());
  }
  const room = bytes - encoded.length;
  if (room > 0) {
    features[PAD_FEATURE] = String(features[PAD_FEATURE] ?? "") + "x".repeat(room);
    encoded = encodeObject(make());
    // A longer string header may add a byte or two; trim back.
    const over = encoded.length - bytes;
    if (over > 0) features[PAD_FEATURE] = String(features[PAD_FEATURE]).slice(0, -over);
  }
  return make();
}

/** Unsealed (layout v1) bytes of a sized object. */
export function sizedObject(i: number, bytes: number, now: number): Buffer {
  return encodeObject(sizedFeatureObject(i, bytes, now));
}
