/**
 * Demo features for the local lane: deterministic (seeded), ~60 features of mixed types per
 * entity, ~4 KB per MessagePack object — the object size the seed's benchmark is quoted for.
 * The features are exactly the view `user_profile` in registry/views.ts (a test checks it); the
 * local lane stores them sealed (layout v2) under the dev seal key.
 */
import { encodeObject, FeatureObject, FeatureValue } from "../wire/object";
import { seededRandom as prng } from "./random";
import type { SealKeyring } from "../enclave/seal";

export const DEMO_VIEW = "user_profile";

const COUNTRIES = ["IN", "US", "DE", "BR", "JP", "NG", "FR", "ID", "MX", "GB"];
const SEGMENTS = ["new", "casual", "regular", "power", "churn_risk", "dormant"];

export function demoEntityId(i: number): string {
  return `user_${String(i).padStart(6, "0")}`;
}

/** The demo feature object for entity number `i`. `now` fixes the event/written times. */
export function demoObject(i: number, now: number): FeatureObject {
  const rnd = prng(i * 7919 + 17);
  const features: Record<string, FeatureValue> = {};
  for (let k = 0; k < 24; k++) features[`spend_30d_cat_${k}`] = Math.round(rnd() * 1e6) / 100;
  for (let k = 0; k < 10; k++) features[`txn_count_${k}d`] = Math.floor(rnd() * 500);
  features.country = COUNTRIES[Math.floor(rnd() * COUNTRIES.length)];
  features.segment = SEGMENTS[Math.floor(rnd() * SEGMENTS.length)];
  for (let k = 0; k < 6; k++) features[`last_item_${k}`] = `sku-${Math.floor(rnd() * 1e8).toString(36)}-${Math.floor(rnd() * 1e6).toString(36)}`;
  features.device = rnd() < 0.6 ? "android" : rnd() < 0.5 ? "ios" : "web";
  features.referrer = rnd() < 0.2 ? null : `campaign_${Math.floor(rnd() * 40)}`;
  for (let k = 0; k < 5; k++) features[`flag_${k}`] = rnd() < 0.5;
  for (let k = 0; k < 8; k++) features[`embedding_${k}`] = Array.from({ length: 38 }, () => Math.round((rnd() * 2 - 1) * 1e6) / 1e6);
  features.signup_time = new Date(now - Math.floor(rnd() * 3e10));
  features.last_login_time = new Date(now - Math.floor(rnd() * 1e9));
  features.risk_score = Math.round(rnd() * 1e4) / 1e4;
  return {
    v: 1,
    view: DEMO_VIEW,
    entity: demoEntityId(i),
    event_time: now - Math.floor(rnd() * 3.6e6),
    written_time: now,
    features,
  };
}

/** Layout v1 bytes (unsealed: the signer refuses them as seal_missing). */
export function demoObjectBytes(i: number, now: number): Buffer {
  return encodeObject(demoObject(i, now));
}

/** Layout v2 bytes, sealed under the writer's active seal key: what the local lane stores. */
export function demoSealedBytes(i: number, now: number, seals: SealKeyring): Buffer {
  return seals.seal(demoObject(i, now));
}
