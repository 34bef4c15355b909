/**
 * The one route table. Dispatch (runtime/server.ts), authorization (runtime/gate.ts, the role),
 * the query grammar (wire/query.ts, the declared parameters), the metrics `route` label and
 * docs/openapi.yaml (test/runtime/routes.test.ts checks its paths, methods and operation ids
 * against this table, both ways) all read it. Adding a route is one entry here, a handler on
 * ReaderService if it needs a new one, and its operation in docs/openapi.yaml.
 *
 * Routes are told apart by method and path shape, never by a parameter's value: a literal segment
 * (`batch`, `_push`) is preferred over a parameter for the methods it declares, and any other
 * method falls through to the parameter route, so `GET /v1/features/v/batch` reads the entity
 * "batch". A path no route's shape matches is 404 `not_found_route`; a shape that matches with
 * the wrong method is 405 `method_not_allowed` with an `Allow` header.
 */
import type { Role } from "./auth";
import { FEATURES_PREFIX } from "../wire/request";
import { FEAST_PATH } from "../wire/feast";
import { PUSH_BATCH_SEGMENT } from "../wire/write";

/** Who may call a route: an API key role (reader < writer < admin), or open (health). */
export type Access = Role | "open";

/** The request parser a route's requests go through (both ends use the same one, wire/). */
export type Grammar = "read" | "batch_read" | "push" | "feast" | "none";

/** ReaderService's handlers, by name (the table names them; server.ts implements them). */
export type HandlerName = "read" | "push" | "signer" | "attestation" | "views" | "publish_registry" | "live" | "ready" | "metrics";

export type Method = "GET" | "POST" | "PUT" | "DELETE";

export interface RouteDef {
  readonly method: Method;
  /** OpenAPI path template: literal segments and `{param}` segments (one non-empty segment each). */
  readonly path: string;
  readonly access: Access;
  readonly grammar: Grammar;
  /** Query parameters the route takes (wire/query.ts refuses any other). */
  readonly query: readonly string[];
  readonly handler: HandlerName;
  /** The `route` label on lane_requests_total / lane_request_duration_seconds and in access logs. */
  readonly label: string;
  readonly operationId: string;
  /** Never refused for load (the in-flight bound): scrapes matter most under overload. */
  readonly unshed?: boolean;
  /** With --loopback-metrics on, loopback callers need no key (the host's own scrapers). */
  readonly loopbackOpen?: boolean;
}

const F = FEATURES_PREFIX;

export const ROUTES: readonly RouteDef[] = [
  { method: "GET", path: `${F}{view}/{entity}`, access: "reader", grammar: "read", query: ["features"], handler: "read", label: "features", operationId: "getFeatures" },
  { method: "POST", path: `${F}{view}/batch`, access: "reader", grammar: "batch_read", query: [], handler: "read", label: "batch", operationId: "getFeaturesBatch" },
  { method: "POST", path: `${F}{view}`, access: "writer", grammar: "push", query: [], handler: "push", label: "push", operationId: "pushRow" },
  { method: "POST", path: `${F}{view}/${PUSH_BATCH_SEGMENT}`, access: "writer", grammar: "push", query: [], handler: "push", label: "push", operationId: "pushRows" },
  { method: "DELETE", path: `${F}{view}/{entity}`, access: "writer", grammar: "push", query: [], handler: "push", label: "push", operationId: "deleteEntity" },
  { method: "POST", path: FEAST_PATH, access: "reader", grammar: "feast", query: [], handler: "read", label: "feast", operationId: "feastGetOnlineFeatures" },
  { method: "GET", path: "/v1/signer", access: "reader", grammar: "none", query: [], handler: "signer", label: "signer", operationId: "getSigner" },
  { method: "GET", path: "/v1/attestation", access: "reader", grammar: "none", query: ["nonce"], handler: "attestation", label: "attestation", operationId: "getAttestation" },
  { method: "GET", path: "/v1/views", access: "reader", grammar: "none", query: [], handler: "views", label: "views", operationId: "listViews" },
  { method: "GET", path: "/v1/views/{view}", access: "reader", grammar: "none", query: [], handler: "views", label: "views", operationId: "getView" },
  // The document needs an admin signature anyway; the admin role keeps anyone else from making every
  // host forward (and the fleet copy store) their bytes.
  { method: "PUT", path: "/v1/registry", access: "admin", grammar: "none", query: [], handler: "publish_registry", label: "registry", operationId: "publishRegistry" },
  { method: "GET", path: "/health/live", access: "open", grammar: "none", query: [], handler: "live", label: "live", operationId: "live" },
  { method: "GET", path: "/health/ready", access: "open", grammar: "none", query: [], handler: "ready", label: "ready", operationId: "ready" },
  { method: "GET", path: "/metrics", access: "admin", grammar: "none", query: [], handler: "metrics", label: "metrics", operationId: "metrics", unshed: true, loopbackOpen: true },
];

/** What a request that matches no route is gated as (a key is still needed to learn what exists). */
export const UNROUTED: Pick<RouteDef, "access" | "label"> = { access: "reader", label: "other" };

export type RouteMatch =
  | { readonly kind: "route"; readonly route: RouteDef; readonly params: Readonly<Record<string, string>> }
  | { readonly kind: "wrong_method"; readonly allow: readonly string[] }
  | { readonly kind: "no_route" };

interface Compiled {
  readonly route: RouteDef;
  /** Literal text, or null for a parameter, per segment. */
  readonly segments: readonly ({ readonly literal: string } | { readonly param: string })[];
  /** How many segments are literal: more literal = more specific. */
  readonly literals: number;
}

function compile(route: RouteDef): Compiled {
  const segments = route.path
    .split("/")
    .slice(1)
    .map((s) => (s.startsWith("{") && s.endsWith("}") ? { param: s.slice(1, -1) } : { literal: s }));
  return { route, segments, literals: segments.filter((s) => "literal" in s).length };
}

/** Compiled once; most specific first, so the first match for a method is the one. */
const COMPILED: readonly Compiled[] = ROUTES.map(compile).sort((a, b) => b.literals - a.literals);
/** The same, by segment count: a path is only tried against routes of its length (same order). */
const BY_LENGTH = new Map<number, readonly Compiled[]>();
for (const c of COMPILED) BY_LENGTH.set(c.segments.length, [...(BY_LENGTH.get(c.segments.length) ?? []), c]);

function matchShape(c: Compiled, parts: readonly string[]): Record<string, string> | null {
  if (parts.length !== c.segments.length) return null;
  // Literals and non-empty parameters first: a miss (most routes, every request) allocates nothing.
  for (let i = 0; i < parts.length; i++) {
    const seg = c.segments[i]!;
    const part = parts[i]!;
    if ("literal" in seg ? part !== seg.literal : part === "") return null;
  }
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const seg = c.segments[i]!;
    // Raw (still percent-encoded): the route's grammar decodes and checks it.
    if ("param" in seg) params[seg.param] = parts[i]!;
  }
  return params;
}

/** The route for a method and raw path (no query), or why there is none. */
export function matchRoute(method: string, path: string): RouteMatch {
  if (!path.startsWith("/")) return { kind: "no_route" };
  const parts = path.split("/").slice(1);
  let allow: Set<string> | undefined;
  for (const c of BY_LENGTH.get(parts.length) ?? []) {
    const params = matchShape(c, parts);
    if (params === null) continue;
    if (c.route.method === method) return { kind: "route", route: c.route, params };
    (allow ??= new Set<string>()).add(c.route.method);
  }
  return allow === undefined ? { kind: "no_route" } : { kind: "wrong_method", allow: [...allow].sort() };
}
