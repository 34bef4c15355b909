/**
 * The push (online write) grammar, shared by the runtime (routing, early 4xx) and the signer
 * (which re-parses the exact body it seals, validates every row against its bundled registry and
 * seals the valid ones — the host never sees the seal key).
 *
 *   POST   /v1/features/{view}          {"entity": "...", "event_time": ..., "features": {...}, "mode"?, "event_time_unit"?}
 *   POST   /v1/features/{view}/_push    {"rows": [ {entity, event_time, features} | {entity, event_time, delete: true}, ... ], "mode"?, "event_time_unit"?}   (≤ 100 rows)
 *   DELETE /v1/features/{view}/{entity} optional body {"event_time": ..., "event_time_unit"?} (default: the signer's clock)
 *
 * `mode`: "merge" (default; features the row does not carry keep their values) or "replace" (the
 * row is the whole object). Semantics in wire/merge.ts and docs/push-api.md. All are writer-only
 * routes (runtime/routes.ts). Routes differ by method and shape, so no entity id (`batch`, `_push`,
 * …) can shadow a read: GET …/{entity} is always a read.
 */
import { checkEntity, checkView, NameError } from "./names";
import { checkEventTimeUnit, RowError, validatePushRow, ValidRow } from "./registry";
import type { EventTimeUnit, Registry, ViewDef } from "./registry";
import { WRITE_MODES, type WriteMode } from "./merge";
import { FEATURES_PREFIX, jsonObjectBody, lookupView } from "./request";
import { LaneError } from "./errors";
import { parseQuery } from "./query";
import type { PushRequestFacts } from "./writer-auth";

export const PUSH_BATCH_SEGMENT = "_push";
export const MAX_PUSH_ROWS = 100;
export const MAX_PUSH_BODY_BYTES = 1024 * 1024;

export interface WriteTarget {
  readonly kind: "single" | "batch" | "delete";
  readonly view: string;
  /** delete only: the entity named in the path. */
  readonly entity?: string;
}

/** The raw request facts the runtime forwards for a push (FrameKind.SealWrite): the ones the writer signs. */
export type RawWriteRequest = PushRequestFacts;

export type PushRow = ({ readonly ok: true } & ValidRow) | { readonly ok: false; readonly entity?: string; readonly error: { readonly code: string; readonly message: string } };

export interface WriteRequest extends WriteTarget {
  readonly def: ViewDef;
  /** In request order; each row valid or rejected with a reason. */
  readonly rows: readonly PushRow[];
  readonly mode: WriteMode;
}

/** Is this a push route? null for anything else (reads, other routes). */
export function writeTarget(method: string, path: string): WriteTarget | null {
  if ((method !== "POST" && method !== "DELETE") || !path.startsWith(FEATURES_PREFIX)) return null;
  const rest = path.slice(FEATURES_PREFIX.length);
  const parts = rest.split("/");
  let kind: WriteTarget["kind"];
  let entity: string | undefined;
  if (method === "DELETE") {
    if (parts.length !== 2 || parts[1] === "") return null;
    kind = "delete";
    try {
      entity = checkEntity(decodeURIComponent(parts[1]));
    } catch (err) {
      throw new LaneError("bad_entity", err instanceof NameError ? err.message : "bad entity segment");
    }
  } else if (parts.length === 1) kind = "single";
  else if (parts.length === 2 && parts[1] === PUSH_BATCH_SEGMENT) kind = "batch";
  else return null;
  let view: string;
  try {
    view = checkView(decodeURIComponent(parts[0]));
  } catch (err) {
    throw new LaneError("bad_view", err instanceof NameError ? err.message : "bad view segment");
  }
  return entity === undefined ? { kind, view } : { kind, view, entity };
}

function rowError(row: unknown, err: unknown): PushRow {
  const entity =
    typeof row === "object" && row !== null && typeof (row as { entity?: unknown }).entity === "string" ? String((row as { entity: string }).entity).slice(0, 256) : undefined;
  if (err instanceof RowError) return { ok: false, entity, error: { code: err.code, message: err.message } };
  throw err;
}

/** Parse and validate a push. Whole-request problems throw LaneError; row problems are per row. */
export function parseWriteRequest(raw: RawWriteRequest, registry: Registry, now = Date.now()): WriteRequest {
  const target = writeTarget(raw.method, raw.path);
  if (!target) throw new LaneError("not_found_route", "expected POST /v1/features/{view}, POST /v1/features/{view}/_push or DELETE /v1/features/{view}/{entity}");
  parseQuery(raw.query, []);
  const def = lookupView(target.view, registry);
  if (target.kind === "delete" && (raw.body === undefined || raw.body.length === 0)) {
    // No body: the delete happens now, by the signer's clock (the enclave's, not the host's).
    const row: PushRow = { ok: true, entity: target.entity!, event_time: now, features: {}, deleted: true };
    return { ...target, def, rows: [row], mode: "replace" };
  }
  const notObject = target.kind === "batch" ? 'batch push body must be {"rows": [...]}' : undefined;
  // Request-level options, taken off the body before the row(s) are validated.
  const { mode: modeField, event_time_unit: unitField, ...payload } = jsonObjectBody(raw, { what: "push body", maxBytes: MAX_PUSH_BODY_BYTES, notObject });
  const mode = parseMode(modeField);
  let unit: EventTimeUnit | undefined;
  if (unitField !== undefined) {
    try {
      unit = checkEventTimeUnit(unitField);
    } catch (err) {
      throw new LaneError("bad_body", (err as Error).message);
    }
  }
  let rows: unknown[];
  if (target.kind === "single") {
    rows = [payload];
  } else if (target.kind === "delete") {
    const { event_time, ...rest } = payload;
    if (Object.keys(rest).length > 0) throw new LaneError("bad_body", `unknown field ${JSON.stringify(Object.keys(rest)[0].slice(0, 64))} (a delete body is {"event_time"})`);
    rows = [{ entity: target.entity, event_time, delete: true }];
  } else {
    const { rows: list, ...rest } = payload;
    if (Object.keys(rest).length > 0) throw new LaneError("bad_body", `unknown field ${JSON.stringify(Object.keys(rest)[0].slice(0, 64))}`);
    if (!Array.isArray(list) || list.length === 0) throw new LaneError("bad_body", "rows must be a non-empty array");
    if (list.length > MAX_PUSH_ROWS) throw new LaneError("batch_too_large", `at most ${MAX_PUSH_ROWS} rows per push`);
    rows = list;
  }
  const seen = new Set<string>();
  const validated = rows.map((row): PushRow => {
    let valid: PushRow;
    try {
      valid = { ok: true, ...validatePushRow(def, row, now, unit) };
    } catch (err) {
      return rowError(row, err);
    }
    // One object per entity per push: two rows of one entity would race for one conditional write.
    if (seen.has(valid.entity))
      return {
        ok: false,
        entity: valid.entity,
        error: { code: "duplicate_entity", message: "this entity already has a row in this push; send its rows in separate pushes (or only the newest)" },
      };
    seen.add(valid.entity);
    return valid;
  });
  return { ...target, def, rows: validated, mode };
}

function parseMode(value: unknown): WriteMode {
  if (value === undefined) return "merge";
  if (typeof value === "string" && (WRITE_MODES as readonly string[]).includes(value)) return value as WriteMode;
  throw new LaneError("bad_body", `mode must be one of ${WRITE_MODES.join(", ")}`);
}

/**
 * The entity ids a push names, canonical, in request order, for the runtime to fetch their
 * current objects before sealing. Never throws: a body it cannot read names none (the signer
 * then refuses the request or its rows itself).
 */
export function pushEntities(raw: RawWriteRequest, registry: Registry): string[] {
  try {
    const parsed = parseWriteRequest(raw, registry);
    return [...new Set(parsed.rows.flatMap((r) => (r.ok ? [r.entity] : [])))];
  } catch {
    return [];
  }
}
