/**
 * The read-request grammar, shared by the runtime (to answer 4xx early and know what to fetch) and
 * the signer (which re-derives view, entities and projection from the exact method, path, query and
 * body it signs, so the host cannot make it sign one entity's data under another's request).
 */
import { parseDictionary, isInnerList } from "structured-headers";
import { canonicalEntity, checkEntity, checkFeature, checkView, MAX_BATCH_ENTITIES, MAX_PROJECTED_FEATURES, NameError } from "./names";
import { Registry, ViewDef } from "./registry";
import { LANE_REGISTRY } from "../registry/views";

export type OutputFormat = "json" | "msgpack";
export const CONTENT_TYPES: Readonly<Record<OutputFormat, string>> = {
  json: "application/json",
  msgpack: "application/msgpack",
};

/** Bodies of batch requests larger than this are refused (100 entities × 256 bytes fits easily). */
export const MAX_BATCH_BODY_BYTES = 64 * 1024;
export const MAX_NONCE_LENGTH = 512;
export const MAX_ACCEPT_SIGNATURE_LENGTH = 2048;

export type RequestErrorCode =
  | "not_found_route"
  | "method_not_allowed"
  | "bad_view"
  | "unknown_view"
  | "unknown_feature"
  | "bad_entity"
  | "bad_feature"
  | "bad_query"
  | "bad_path"
  | "not_acceptable"
  | "bad_accept_signature"
  | "bad_body"
  | "unsupported_media_type"
  | "batch_too_large"
  | "body_too_large";

const STATUS_BY_CODE: Record<RequestErrorCode, number> = {
  not_found_route: 404,
  method_not_allowed: 405,
  bad_view: 400,
  unknown_view: 404,
  unknown_feature: 400,
  bad_entity: 400,
  bad_feature: 400,
  bad_query: 400,
  bad_path: 400,
  not_acceptable: 406,
  bad_accept_signature: 400,
  bad_body: 400,
  unsupported_media_type: 415,
  batch_too_large: 413,
  body_too_large: 413,
};

export class RequestError extends Error {
  readonly status: number;
  constructor(
    readonly code: RequestErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "RequestError";
    this.status = STATUS_BY_CODE[code];
  }
}

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
const FEATURES_PREFIX = "/v1/features/";

/** Split a request target into the raw path and raw query ("" when there is no "?"). */
export function splitTarget(target: string): { path: string; query: string } {
  const q = target.indexOf("?");
  return q < 0 ? { path: target, query: "" } : { path: target.slice(0, q), query: target.slice(q) };
}

function decodeSegment(segment: string, code: "bad_view" | "bad_entity"): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new RequestError(code, "path segment is not valid percent-encoded UTF-8");
  }
}

function asRequestError(err: unknown): never {
  if (err instanceof NameError) throw new RequestError(err.code, err.message);
  throw err;
}

function parseFeatureList(list: readonly unknown[], code: "bad_query" | "bad_body"): string[] {
  if (list.length === 0) throw new RequestError(code, "features must name at least one feature");
  if (list.length > MAX_PROJECTED_FEATURES) throw new RequestError(code, `at most ${MAX_PROJECTED_FEATURES} features`);
  const seen = new Set<string>();
  for (const f of list) {
    if (typeof f !== "string") throw new RequestError("bad_feature", "feature names must be strings");
    try {
      checkFeature(f);
    } catch (err) {
      asRequestError(err);
    }
    seen.add(f);
  }
  return [...seen];
}

/** `?features=a,b,c` is the only query parameter; anything else is a client error, not ignored. */
function parseQuery(query: string): string[] | null {
  if (query === "" || query === "?") return null;
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(query.slice(1));
  } catch {
    throw new RequestError("bad_query", "malformed query string");
  }
  let features: string[] | null = null;
  for (const [key, value] of params) {
    if (key !== "features") throw new RequestError("bad_query", `unknown query parameter ${JSON.stringify(key.slice(0, 64))}`);
    if (features !== null) throw new RequestError("bad_query", "features given more than once");
    features = parseFeatureList(value.split(","), "bad_query");
  }
  return features;
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
        if (!Number.isFinite(q) || q < 0 || q > 1) throw new RequestError("not_acceptable", "malformed q-value in Accept");
      }
    }
    if (q === 0) continue;
    let format: OutputFormat | null = null;
    if (type === "application/msgpack" || type === "application/x-msgpack" || type === "application/vnd.msgpack") format = "msgpack";
    else if (type === "application/json" || type === "application/*" || type === "*/*") format = "json";
    if (format && (!best || q > best.q)) best = { format, q };
  }
  if (!best) throw new RequestError("not_acceptable", "supported media types: application/json, application/msgpack");
  return best.format;
}

/**
 * RFC 9421 §5.1 Accept-Signature: a dictionary of requested signatures. We honour the first
 * member's label and its `nonce` parameter; the covered components are always our fixed set
 * (docs/envelope.md), which is a superset of what a client may usefully ask for.
 */
export function parseAcceptSignature(header: string | undefined): { label: string; nonce?: string } {
  if (header === undefined) return { label: DEFAULT_SIGNATURE_LABEL };
  if (header.length > MAX_ACCEPT_SIGNATURE_LENGTH) throw new RequestError("bad_accept_signature", "Accept-Signature too long");
  let dict: ReturnType<typeof parseDictionary>;
  try {
    dict = parseDictionary(header);
  } catch (err) {
    throw new RequestError("bad_accept_signature", `Accept-Signature is not a structured dictionary: ${(err as Error).message}`);
  }
  const first = dict.entries().next();
  if (first.done) return { label: DEFAULT_SIGNATURE_LABEL };
  const [label, member] = first.value;
  if (!isInnerList(member)) throw new RequestError("bad_accept_signature", "Accept-Signature members must be inner lists");
  const nonce = member[1].get("nonce");
  if (nonce === undefined) return { label };
  if (typeof nonce !== "string") throw new RequestError("bad_accept_signature", "nonce must be a string");
  if (nonce.length === 0 || nonce.length > MAX_NONCE_LENGTH) {
    throw new RequestError("bad_accept_signature", `nonce must be 1..${MAX_NONCE_LENGTH} characters`);
  }
  return { label, nonce };
}

function parseBatchBody(raw: RawReadRequest): { entities: string[]; features: string[] | null } {
  const type = (raw.contentType ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") throw new RequestError("unsupported_media_type", "batch body must be application/json");
  const body = raw.body ?? new Uint8Array(0);
  if (body.length > MAX_BATCH_BODY_BYTES) throw new RequestError("body_too_large", `batch body larger than ${MAX_BATCH_BODY_BYTES} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"));
  } catch {
    throw new RequestError("bad_body", "batch body is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new RequestError("bad_body", "batch body must be a JSON object");
  const { entities, features, ...rest } = parsed as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new RequestError("bad_body", `unknown field ${JSON.stringify(extra[0].slice(0, 64))}`);
  if (!Array.isArray(entities) || entities.length === 0) throw new RequestError("bad_body", "entities must be a non-empty array");
  if (entities.length > MAX_BATCH_ENTITIES) throw new RequestError("batch_too_large", `at most ${MAX_BATCH_ENTITIES} entities per batch`);
  // One entity-key rule (wire/names.ts canonicalEntity): integers are their decimal text.
  const ids: string[] = [];
  for (const e of entities) {
    try {
      ids.push(canonicalEntity(e));
    } catch (err) {
      asRequestError(err);
    }
  }
  let projected: string[] | null = null;
  if (features !== undefined && features !== null) {
    if (!Array.isArray(features)) throw new RequestError("bad_body", "features must be an array of names");
    projected = parseFeatureList(features, "bad_body");
  }
  return { entities: ids, features: projected };
}

/**
 * The registry's answer for a view name: unknown views are 404 `unknown_view` for reads and
 * writes alike. The registry defaults to the one built into this bundle (registry/views.ts).
 */
export function lookupView(view: string, registry: Registry = LANE_REGISTRY): ViewDef {
  const def = registry.get(view);
  if (!def) throw new RequestError("unknown_view", `no feature view ${JSON.stringify(view)} (known: ${registry.names.join(", ")})`);
  return def;
}

/** Every projected feature must be defined in the view: 400 `unknown_feature` names the first that is not. */
function checkProjected(def: ViewDef, features: readonly string[] | null): void {
  for (const f of features ?? []) {
    if (!def.featureIndex.has(f)) throw new RequestError("unknown_feature", `view ${def.name} has no feature ${JSON.stringify(f)}`);
  }
}

/**
 * Parse a read request. Throws RequestError (with its HTTP status) for anything malformed, for
 * unknown views (404) and for features the view does not define (400). Runtime and signer both
 * call this with their bundled registry, so they agree on what exists.
 */
export function parseReadRequest(raw: RawReadRequest, registry: Registry = LANE_REGISTRY): ReadRequest {
  if (!raw.path.startsWith(FEATURES_PREFIX)) throw new RequestError("not_found_route", "no such route");
  const rest = raw.path.slice(FEATURES_PREFIX.length);
  const slash = rest.indexOf("/");
  if (slash <= 0 || rest.indexOf("/", slash + 1) >= 0) throw new RequestError("not_found_route", "expected /v1/features/{view}/{entity} or /v1/features/{view}/batch");
  const view = decodeSegment(rest.slice(0, slash), "bad_view");
  const entitySegment = rest.slice(slash + 1);
  try {
    checkView(view);
  } catch (err) {
    asRequestError(err);
  }
  const format = negotiateFormat(raw.accept);
  const signature = parseAcceptSignature(raw.acceptSignature);

  // Routes are told apart by method, never by an entity id: POST …/batch is a batch read, GET
  // …/{entity} reads any id — `batch`, `_push` and every other string included.
  if (entitySegment === "batch" && raw.method === "POST") {
    if (raw.query !== "" && raw.query !== "?") throw new RequestError("bad_query", "batch reads take features in the body");
    const { entities, features } = parseBatchBody(raw);
    checkProjected(lookupView(view, registry), features);
    return { kind: "batch", view, entities, features, format, signature };
  }
  if (raw.method !== "GET") throw new RequestError("method_not_allowed", "single reads use GET");
  const entity = decodeSegment(entitySegment, "bad_entity");
  try {
    checkEntity(entity);
  } catch (err) {
    asRequestError(err);
  }
  const features = parseQuery(raw.query);
  checkProjected(lookupView(view, registry), features);
  return { kind: "single", view, entities: [entity], features, format, signature };
}
