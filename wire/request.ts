/**
 * The read-request grammar, shared by the runtime (to answer 4xx early and know what to fetch) and
 * the signer (which re-derives view, entities and projection from the exact method, path, query and
 * body it signs, so the host cannot make it sign one entity's data under another's request).
 */
import { parseDictionary, isInnerList } from "structured-headers";
import { canonicalEntity, checkEntity, checkFeature, checkView, MAX_BATCH_ENTITIES, MAX_PROJECTED_FEATURES, NameError } from "./names";
import { Registry, ViewDef } from "./registry";
import { LaneError } from "./errors";
import { parseQuery } from "./query";

export type OutputFormat = "json" | "msgpack";
/** Bodies of batch requests larger than this are refused (100 entities × 256 bytes fits easily). */
export const MAX_BATCH_BODY_BYTES = 64 * 1024;
export const MAX_NONCE_LENGTH = 512;
export const MAX_ACCEPT_SIGNATURE_LENGTH = 2048;

/** What the client asked for, as both sides understand it. */
export interface ReadRequest {
  readonly kind: "single" | "batch";
  readonly view: string;
  readonly entities: readonly string[];
  /** null = all features. */
  readonly features: readonly string[] | null;
  readonly format: OutputFormat;
  /** RFC 9421 Accept-Signature: the label and nonce the client wants in the response signature. */
  readonly signature: { readonly label: string; readonly nonce?: string };
}

/** The raw request facts the runtime forwards to the signer; everything else is derived. */
export interface RawReadRequest {
  readonly method: string;
  /** Path exactly as received (percent-encoded), without the query. */
  readonly path: string;
  /** Query exactly as received including the leading "?", or "" when the target had none. */
  readonly query: string;
  readonly accept?: string;
  readonly acceptSignature?: string;
  readonly contentType?: string;
  readonly body?: Uint8Array;
}

export const DEFAULT_SIGNATURE_LABEL = "sig1";
/** The one prefix of every feature route (reads and pushes; runtime/routes.ts builds its patterns on it). */
export const FEATURES_PREFIX = "/v1/features/";

/** Split a request target into the raw path and raw query ("" when there is no "?"). */
export function splitTarget(target: string): { path: string; query: string } {
  const q = target.indexOf("?");
  return q < 0 ? { path: target, query: "" } : { path: target.slice(0, q), query: target.slice(q) };
}

function decodeSegment(segment: string, code: "bad_view" | "bad_entity"): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new LaneError(code, "path segment is not valid percent-encoded UTF-8");
  }
}

/** A name check (wire/names.ts) whose refusal becomes the catalog error of the same code: bad_view, bad_entity, bad_feature. */
export function named<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof NameError) throw new LaneError(err.code, err.message);
    throw err;
  }
}

function parseFeatureList(list: readonly unknown[], code: "bad_query" | "bad_body"): string[] {
  if (list.length === 0) throw new LaneError(code, "features must name at least one feature");
  if (list.length > MAX_PROJECTED_FEATURES) throw new LaneError(code, `at most ${MAX_PROJECTED_FEATURES} features`);
  const seen = new Set<string>();
  for (const f of list) {
    if (typeof f !== "string") throw new LaneError("bad_feature", "feature names must be strings");
    named(() => checkFeature(f));
    seen.add(f);
  }
  return [...seen];
}

/** `?features=a,b,c` is a single read's only query parameter (wire/query.ts: anything else is a 400). */
function parseFeaturesQuery(query: string): string[] | null {
  const features = parseQuery(query, ["features"]).get("features");
  return features === undefined ? null : parseFeatureList(features.split(","), "bad_query");
}

/** Content negotiation: JSON unless the client prefers MessagePack; q-values honoured. */
export function negotiateFormat(accept: string | undefined): OutputFormat {
  if (accept === undefined || accept.trim() === "") return "json";
  let best: { format: OutputFormat; q: number } | null = null;
  for (const part of accept.split(",")) {
    const [rawType, ...params] = part.split(";");
    const type = rawType.trim().toLowerCase();
    let q = 1;
    for (const p of params) {
      const [k, v] = p.split("=").map((s) => s.trim());
      if (k === "q") {
        q = Number(v);
        if (!Number.isFinite(q) || q < 0 || q > 1) throw new LaneError("not_acceptable", "malformed q-value in Accept");
      }
    }
    if (q === 0) continue;
    let format: OutputFormat | null = null;
    if (type === "application/msgpack" || type === "application/x-msgpack" || type === "application/vnd.msgpack") format = "msgpack";
    else if (type === "application/json" || type === "application/*" || type === "*/*") format = "json";
    if (format && (!best || q > best.q)) best = { format, q };
  }
  if (!best) throw new LaneError("not_acceptable", "supported media types: application/json, application/msgpack");
  return best.format;
}

/**
 * RFC 9421 §5.1 Accept-Signature: a dictionary of requested signatures. We honour the first
 * member's label and its `nonce` parameter; the covered components are always our fixed set
 * (docs/envelope.md), which is a superset of what a client may usefully ask for.
 */
export function parseAcceptSignature(header: string | undefined): { label: string; nonce?: string } {
  if (header === undefined) return { label: DEFAULT_SIGNATURE_LABEL };
  if (header.length > MAX_ACCEPT_SIGNATURE_LENGTH) throw new LaneError("bad_accept_signature", "Accept-Signature too long");
  let dict: ReturnType<typeof parseDictionary>;
  try {
    dict = parseDictionary(header);
  } catch (err) {
    throw new LaneError("bad_accept_signature", `Accept-Signature is not a structured dictionary: ${(err as Error).message}`);
  }
  const first = dict.entries().next();
  if (first.done) return { label: DEFAULT_SIGNATURE_LABEL };
  const [label, member] = first.value;
  if (!isInnerList(member)) throw new LaneError("bad_accept_signature", "Accept-Signature members must be inner lists");
  const nonce = member[1].get("nonce");
  if (nonce === undefined) return { label };
  if (typeof nonce !== "string") throw new LaneError("bad_accept_signature", "nonce must be a string");
  if (nonce.length === 0 || nonce.length > MAX_NONCE_LENGTH) {
    throw new LaneError("bad_accept_signature", `nonce must be 1..${MAX_NONCE_LENGTH} characters`);
  }
  return { label, nonce };
}

/**
 * The JSON object body of a batch read, a push or a Feast read: its media type (application/json
 * unless `types` says more), size, JSON syntax and shape, each refused with its own code; `what`
 * names the body in the messages.
 */
export function jsonObjectBody(
  raw: { readonly contentType?: string; readonly body?: Uint8Array },
  o: { readonly what: string; readonly maxBytes: number; readonly types?: readonly string[]; readonly notObject?: string },
): Record<string, unknown> {
  const types = o.types ?? ["application/json"];
  const type = (raw.contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (!types.includes(type)) throw new LaneError("unsupported_media_type", `${o.what} must be ${types.filter(Boolean).join(" or ")}`);
  const body = raw.body ?? new Uint8Array(0);
  if (body.length > o.maxBytes) throw new LaneError("body_too_large", `${o.what} larger than ${o.maxBytes} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"));
  } catch {
    throw new LaneError("bad_body", `${o.what} is not valid JSON`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new LaneError("bad_body", o.notObject ?? `${o.what} must be a JSON object`);
  return parsed as Record<string, unknown>;
}

function parseBatchBody(raw: RawReadRequest): { entities: string[]; features: string[] | null } {
  const { entities, features, ...rest } = jsonObjectBody(raw, { what: "batch body", maxBytes: MAX_BATCH_BODY_BYTES });
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new LaneError("bad_body", `unknown field ${JSON.stringify(extra[0].slice(0, 64))}`);
  if (!Array.isArray(entities) || entities.length === 0) throw new LaneError("bad_body", "entities must be a non-empty array");
  if (entities.length > MAX_BATCH_ENTITIES) throw new LaneError("batch_too_large", `at most ${MAX_BATCH_ENTITIES} entities per batch`);
  // One entity-key rule (wire/names.ts canonicalEntity): integers are their decimal text.
  const ids = entities.map((e) => named(() => canonicalEntity(e)));
  let projected: string[] | null = null;
  if (features !== undefined && features !== null) {
    if (!Array.isArray(features)) throw new LaneError("bad_body", "features must be an array of names");
    projected = parseFeatureList(features, "bad_body");
  }
  return { entities: ids, features: projected };
}

/**
 * The registry's answer for a view name: unknown views are 404 `unknown_view` for reads and
 * writes alike. The registry is the caller's (composition roots pass the bundled one; wire/ never
 * imports registry/).
 */
export function lookupView(view: string, registry: Registry): ViewDef {
  const def = registry.get(view);
  if (!def) throw new LaneError("unknown_view", `no feature view ${JSON.stringify(view)} (known: ${registry.names.join(", ")})`);
  return def;
}

/** Every projected feature must be defined in the view: 400 `unknown_feature` names the first that is not. */
function checkProjected(def: ViewDef, features: readonly string[] | null): void {
  for (const f of features ?? []) {
    if (!def.featureIndex.has(f)) throw new LaneError("unknown_feature", `view ${def.name} has no feature ${JSON.stringify(f)}`);
  }
}

/**
 * Parse a read request. Throws LaneError (status from wire/errors.ts) for anything malformed, for
 * unknown views (404) and for features the view does not define (400). Runtime and signer both
 * call this with their bundled registry, so they agree on what exists.
 */
export function parseReadRequest(raw: RawReadRequest, registry: Registry): ReadRequest {
  if (!raw.path.startsWith(FEATURES_PREFIX)) throw new LaneError("not_found_route", "no such route");
  const rest = raw.path.slice(FEATURES_PREFIX.length);
  const slash = rest.indexOf("/");
  if (slash <= 0 || rest.indexOf("/", slash + 1) >= 0) throw new LaneError("not_found_route", "expected /v1/features/{view}/{entity} or /v1/features/{view}/batch");
  const view = decodeSegment(rest.slice(0, slash), "bad_view");
  const entitySegment = rest.slice(slash + 1);
  named(() => checkView(view));
  const format = negotiateFormat(raw.accept);
  const signature = parseAcceptSignature(raw.acceptSignature);

  // Routes are told apart by method and shape, never by an entity's value: GET …/batch reads the
  // entity "batch"; only POST …/batch is the batch read.
  if (raw.method === "POST" && entitySegment === "batch") {
    parseQuery(raw.query, []);
    const { entities, features } = parseBatchBody(raw);
    checkProjected(lookupView(view, registry), features);
    return { kind: "batch", view, entities, features, format, signature };
  }
  if (raw.method !== "GET") throw new LaneError("method_not_allowed", "single reads use GET");
  const entity = decodeSegment(entitySegment, "bad_entity");
  named(() => checkEntity(entity));
  const features = parseFeaturesQuery(raw.query);
  checkProjected(lookupView(view, registry), features);
  return { kind: "single", view, entities: [entity], features, format, signature };
}
