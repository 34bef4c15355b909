/**
 * The lane's pinned default views: registry/views.json (a views file, wire/views-file.ts), bundled
 * into the signer at build time so the enclave's measurement covers it. It is registry version 0,
 * what an enclave serves before any admin-signed registry document arrives (enclave/registry-state.ts).
 *
 * Views of a running lane change without a rebuild: write a views.yaml, `express-lane apply` it
 * (docs/views.md). Changing this file changes the image (new PCRs) and the default every new
 * enclave starts from; the local lane publishes it as a signed document at start.
 *
 * JSON rather than YAML: esbuild bundles JSON natively, so the enclave image needs no YAML parser.
 */
import defaultViewsFile from "./views.json";
import type { ViewSpec } from "../wire/registry";
import { defaultRegistryRef, registryFromViews, viewSpecFromDocument, type ViewDocument } from "../wire/registry-document";
import { viewsFromFileValue } from "../wire/views-file";

/** The default views in document form (what a registry document lists). */
export const DEFAULT_VIEWS: readonly ViewDocument[] = viewsFromFileValue(defaultViewsFile, "registry/views.json");
export const DEFAULT_REGISTRY = registryFromViews(DEFAULT_VIEWS);
/** Version 0 and the digest of the default views: what answers name before any document. */
export const DEFAULT_REGISTRY_REF = defaultRegistryRef(DEFAULT_VIEWS);

function view(name: string): ViewSpec {
  const doc = DEFAULT_VIEWS.find((v) => v.name === name);
  if (!doc) throw new Error(`registry/views.json has no view ${name}`);
  return viewSpecFromDocument(doc);
}

/** The demo view: ~60 features per user, ~4 KB per object (dev/lane/demo-data.ts fills it). */
export const USER_PROFILE: ViewSpec = view("user_profile");
/**
 * Synthetic entities for the benchmark (bench/, `express-lane bench-data`): the user_profile shape
 * in a view of its own, so benchmark entities never mix with real ones. Max age 10 years.
 */
export const BENCH_PROFILE: ViewSpec = view("express_lane_bench");
