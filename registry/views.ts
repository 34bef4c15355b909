/**
 * The lane's feature views: registry as code. Reviewed like code, validated when this module loads
 * (a bad definition stops every process with a list of problems), and bundled into the signer at
 * build time so the enclave's measurement covers it (wire/registry.ts explains why).
 *
 * Adding or changing a view: edit this file, run the tests, rebuild; the enclave image changes
 * (new PCRs), so deploy it through the same measured pipeline as any signer change.
 */
import { defineRegistry, FeatureSpec, ViewSpec } from "../wire/registry";

const range = (n: number) => Array.from({ length: n }, (_, k) => k);

/** The demo view: ~60 features per user, ~4 KB per object (scripts/lane/demo-data.ts fills it). */
export const USER_PROFILE: ViewSpec = {
  name: "user_profile",
  entityKey: "user_id",
  owner: "growth-ml@example.com",
  description: "Per-user spend, activity, profile and embedding features for ranking and risk models",
  ttlSeconds: 7 * 86_400,
  features: [
    ...range(24).map((k): FeatureSpec => ({ name: `spend_30d_cat_${k}`, type: "float", description: `30-day spend in category ${k}` })),
    ...range(10).map((k): FeatureSpec => ({ name: `txn_count_${k}d`, type: "int", description: `transactions in the last ${k} days` })),
    { name: "country", type: "string", description: "ISO 3166-1 alpha-2" },
    { name: "segment", type: "string" },
    ...range(6).map((k): FeatureSpec => ({ name: `last_item_${k}`, type: "string", description: `SKU of the ${k}th most recent item` })),
    { name: "device", type: "string" },
    { name: "referrer", type: "string", description: "acquisition campaign; null when organic" },
    ...range(5).map((k): FeatureSpec => ({ name: `flag_${k}`, type: "bool" })),
    ...range(8).map((k): FeatureSpec => ({ name: `embedding_${k}`, type: "float_array", length: 38 })),
    { name: "signup_time", type: "timestamp" },
    { name: "last_login_time", type: "timestamp" },
    { name: "risk_score", type: "float", description: "0..1" },
  ],
};

/** A small second view: one feature of every type, short max age. */
export const MERCHANT_RISK: ViewSpec = {
  name: "merchant_risk",
  entityKey: "merchant_id",
  owner: "risk-platform@example.com",
  description: "Hourly merchant risk signals for payment authorization",
  ttlSeconds: 3600,
  features: [
    { name: "chargeback_rate", type: "float", description: "chargebacks / transactions, trailing 30 days" },
    { name: "txn_count_1h", type: "int" },
    { name: "category", type: "string", description: "merchant category code" },
    { name: "is_high_risk", type: "bool" },
    { name: "risk_embedding", type: "float_array", length: 4 },
    { name: "last_chargeback_time", type: "timestamp" },
  ],
};

/**
 * Synthetic entities for the benchmark (bench/, `express-lane bench-data`): the user_profile shape,
 * so a benchmark read costs what a real read costs, in a view of its own, so benchmark entities
 * are never mixed with real ones when a deployed lane is benchmarked. Max age 10 years: data
 * loaded once stays servable for every later run.
 */
export const BENCH_PROFILE: ViewSpec = {
  ...USER_PROFILE,
  name: "express_lane_bench",
  entityKey: "bench_id",
  owner: "express-lane",
  description: "Synthetic benchmark entities (user_profile's features); never real data",
  ttlSeconds: 315_360_000,
};

export const LANE_REGISTRY = defineRegistry([USER_PROFILE, MERCHANT_RISK, BENCH_PROFILE]);
