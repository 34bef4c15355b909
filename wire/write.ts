/**
 * The push (online write) grammar, shared by the runtime (routing, early 4xx) and the signer
 * (which re-parses the exact body it seals, validates every row against its bundled registry and
 * seals the valid ones — the host never sees the seal key).
 *
 *   POST /v1/features/{view}         {"entity": "...", "event_time": ..., "features": {...}}
 *   POST /v1/features/{view}/_push   {"rows": [ {entity, event_time, features}, ... ]}   (≤ 100 rows)
 *
 * Both are writer-only routes (runtime/routes.ts).
 */
import { checkView, NameError } from "./names";
import { RowError, validatePushRow, ValidRow } from "./registry";
import type { Registry, ViewDef } from "./registry";
import { FEATURES_PREFIX, lookupView } from "./request";
import { LaneError } from "./errors";
import { parseQuery } from "./query";

export const PUSH_BATCH_SEGMENT = "_push";
export const MAX_PUSH_ROWS = 100;
export const MAX_PUSH_BODY_BYTES = 1024 * 1024;

export interface WriteTarget {
  readonly kind: "single" | "batch";
  readonly view: string;
}

/** The raw request facts the runtime forwards for a push (FrameKind.SealWrite). */
export interface RawWriteRequest {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly contentType?: string;
  readonly body?: Uint8Array;
}

export type PushRow = ({ readonly ok: true } & ValidRow) | { readonly ok: false; readonly entity?: string; readonly error: { readonly code: string; readonly message: string } };

export interface WriteRequest extends WriteTarget {
  readonly def: ViewDef;
  /** In request order; each row valid or rejected with a reason. */
  readonly rows: readonly PushRow[];
}

/** Is this a push route? null for anything else (reads, other routes). */
export function writeTarget(method: string, path: string): WriteTarget | null {
  if (method !== "POST" || !path.startsWith(FEATURES_PREFIX)) return null;
  const rest = path.slice(FEATURES_PREFIX.length);
  const parts = rest.split("/");
  let kind: WriteTarget["kind"];
  if (parts.length === 1) kind = "single";
  else if (parts.length === 2 && parts[1] === PUSH_BATCH_SEGMENT) kind = "batch";
  else return null;
  let view: string;
  try {
    view = checkView(decodeURIComponent(parts[0]));
  } catch (err) {
    throw new LaneError("bad_view", err instanceof NameError ? err.message : "bad view segment");
  }
  return { kind, view };
}

function rowError(row: unknown, err: unknown): PushRow {
  const entity = typeof row === "object" && row !== null && typeof (row as { entity?: unknown }).entity === "string" ? String((row as { entity: string }).entity).slice(0, 256) : undefined;
  if (err instanceof RowError) return { ok: false, entity, error: { code: err.code, message: err.message } };
  throw err;
}

/** Parse and validate a push. Whole-request problems throw LaneError; row problems are per row. */
export function parseWriteRequest(raw: RawWriteRequest, registry: Registry, now = Date.now()): WriteRequest {
  const target = writeTarget(raw.method, raw.path);
  if (!target) throw new LaneError("not_found_route", "expected POST /v1/features/{view} or /v1/features/{view}/_push");
  parseQuery(raw.query, []);
  const def = lookupView(target.view, registry);
  const type = (raw.contentType ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") throw new LaneError("unsupported_media_type", "push body must be application/json");
  const body = raw.body ?? new Uint8Array(0);
  if (body.length > MAX_PUSH_BODY_BYTES) throw new LaneError("body_too_large", `push body larger than ${MAX_PUSH_BODY_BYTES} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"));
  } catch {
    throw new LaneError("bad_body", "push body is not valid JSON");
  }
  let rows: unknown[];
  if (target.kind === "single") {
    rows = [parsed];
  } else {
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new LaneError("bad_body", 'batch push body must be {"rows": [...]}');
    const { rows: list, ...rest } = parsed as Record<string, unknown>;
    if (Object.keys(rest).length > 0) throw new LaneError("bad_body", `unknown field ${JSON.stringify(Object.keys(rest)[0].slice(0, 64))}`);
    if (!Array.isArray(list) || list.length === 0) throw new LaneError("bad_body", "rows must be a non-empty array");
    if (list.length > MAX_PUSH_ROWS) throw new LaneError("batch_too_large", `at most ${MAX_PUSH_ROWS} rows per push`);
    rows = list;
  }
  const validated = rows.map((row): PushRow => {
    try {
      return { ok: true, ...validatePushRow(def, row, now) };
    } catch (err) {
      return rowError(row, err);
    }
  });
  return { ...target, def, rows: validated };
}
