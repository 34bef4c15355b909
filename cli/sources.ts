/**
 * Source files for `express-lane load` and `express-lane parity`: JSONL (one flat JSON object per
 * line) or CSV (header row), each row `{<entity key>, event_time, <feature>...}`. Rows are
 * validated against the view (wire/registry.ts); each yields a valid row or a reason.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { parse } from "csv-parse";
import { RowError, validateFlatRow, ValidRow, ValueSource, ViewDef } from "../wire/registry";

export type SourceFormat = "jsonl" | "csv";

export interface SourceRow {
  /** 1-based data row number (JSONL: line number; CSV: record number after the header). */
  readonly row: number;
  readonly result: { readonly ok: true; readonly value: ValidRow } | { readonly ok: false; readonly entity?: string; readonly code: string; readonly reason: string };
}

export function formatOf(file: string, explicit?: string): SourceFormat {
  if (explicit === "jsonl" || explicit === "csv") return explicit;
  if (explicit !== undefined) throw new Error(`unsupported format ${explicit} (jsonl, csv)`);
  if (/\.(jsonl|ndjson)$/i.test(file)) return "jsonl";
  if (/\.csv$/i.test(file)) return "csv";
  if (/\.parquet$/i.test(file)) throw new Error("Parquet is not supported yet: convert to JSONL or CSV");
  throw new Error(`cannot tell the format of ${file}: use --format jsonl|csv`);
}

function check(view: ViewDef, record: unknown, source: ValueSource, now: number, row: number): SourceRow {
  try {
    return { row, result: { ok: true, value: validateFlatRow(view, record as Record<string, unknown>, source, now) } };
  } catch (err) {
    const entity = typeof record === "object" && record !== null ? (record as Record<string, unknown>)[view.entityKey] : undefined;
    const e = typeof entity === "string" || typeof entity === "number" ? String(entity).slice(0, 256) : undefined;
    if (err instanceof RowError) return { row, result: { ok: false, entity: e, code: err.code, reason: err.message } };
    return { row, result: { ok: false, entity: e, code: "bad_row", reason: (err as Error).message } };
  }
}

export async function* readSource(file: string, format: SourceFormat, view: ViewDef, now = Date.now()): AsyncGenerator<SourceRow> {
  if (format === "jsonl") {
    const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
    let n = 0;
    for await (const line of lines) {
      n++;
      if (line.trim() === "") continue;
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        yield { row: n, result: { ok: false, code: "bad_row", reason: "line is not valid JSON" } };
        continue;
      }
      yield check(view, record, "json", now, n);
    }
    return;
  }
  const parser = createReadStream(file).pipe(parse({ columns: true, bom: true, skip_empty_lines: true, relax_column_count: false }));
  let n = 0;
  try {
    for await (const record of parser) {
      n++;
      yield check(view, record, "text", now, n);
    }
  } catch (err) {
    yield { row: n + 1, result: { ok: false, code: "bad_row", reason: `CSV: ${(err as Error).message}` } };
  }
}

/** Keep the newest row per entity (ties: the later row). Returns the winners and the superseded count. */
export function newestPerEntity(rows: ReadonlyArray<{ row: number; value: ValidRow }>): { winners: Array<{ row: number; value: ValidRow }>; superseded: number } {
  const best = new Map<string, { row: number; value: ValidRow }>();
  for (const r of rows) {
    const cur = best.get(r.value.entity);
    if (!cur || r.value.event_time >= cur.value.event_time) best.set(r.value.entity, r);
  }
  return { winners: [...best.values()], superseded: rows.length - best.size };
}
