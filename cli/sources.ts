/**
 * Source files for `express-lane load` and `express-lane parity`: JSONL (one flat JSON object per
 * line), CSV (header row) or Parquet (one column per field), each row `{<entity key>, event_time,
 * <feature>...}`. Rows are validated against the view (wire/registry.ts); each yields a valid row or
 * a reason.
 *
 * Parquet is read with hyparquet (ESM-only, loaded with a real dynamic import: this project is
 * CommonJS) one row group at a time, so a large file is never held whole in memory.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { parse } from "csv-parse";
import { RowError, validateFlatRow, ValidRow, ValueSource, ViewDef } from "../wire/registry";

export type SourceFormat = "jsonl" | "csv" | "parquet";

export interface SourceRow {
  /** 1-based data row number (JSONL: line number; CSV: record number after the header; Parquet: row in the file). */
  readonly row: number;
  readonly result: { readonly ok: true; readonly value: ValidRow } | { readonly ok: false; readonly entity?: string; readonly code: string; readonly reason: string };
}

export function formatOf(file: string, explicit?: string): SourceFormat {
  if (explicit === "jsonl" || explicit === "csv" || explicit === "parquet") return explicit;
  if (explicit !== undefined) throw new Error(`unsupported format ${explicit} (jsonl, csv, parquet)`);
  if (/\.(jsonl|ndjson)$/i.test(file)) return "jsonl";
  if (/\.csv$/i.test(file)) return "csv";
  if (/\.parquet$/i.test(file)) return "parquet";
  throw new Error(`cannot tell the format of ${file}: use --format jsonl|csv|parquet`);
}

function check(view: ViewDef, record: unknown, source: ValueSource, now: number, row: number, normalize?: (record: Record<string, unknown>) => Record<string, unknown>): SourceRow {
  try {
    const flat = normalize ? normalize(record as Record<string, unknown>) : (record as Record<string, unknown>);
    return { row, result: { ok: true, value: validateFlatRow(view, flat, source, now) } };
  } catch (err) {
    const entity = typeof record === "object" && record !== null ? (record as Record<string, unknown>)[view.entityKey] : undefined;
    const e = typeof entity === "string" || typeof entity === "number" ? String(entity).slice(0, 256) : undefined;
    if (err instanceof RowError) return { row, result: { ok: false, entity: e, code: err.code, reason: err.message } };
    return { row, result: { ok: false, entity: e, code: "bad_row", reason: (err as Error).message } };
  }
}

/**
 * A Parquet value as the JSON validator expects it. INT64 columns decode to BigInt: to a number when
 * it is a safe integer, else the row is rejected (an entity key keeps its exact decimal digits).
 * TIMESTAMP (millis/micros/nanos, INT96) and DATE decode to Date, which validation accepts; LIST
 * columns decode to arrays (typed arrays are copied to plain ones). A column the file has is always
 * carried: a null LIST decodes to undefined and is made null (NULL_VALUE, like an empty CSV cell).
 */
function parquetValue(column: string, value: unknown, entityKey: string): unknown {
  if (value === undefined) return null;
  if (typeof value === "bigint") {
    if (column === entityKey) return value.toString();
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new RowError("bad_value", `column ${column}: INT64 value ${value} is beyond Number.MAX_SAFE_INTEGER (2^53 - 1) and cannot be loaded exactly`);
    }
    return Number(value);
  }
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return Array.from(value as unknown as ArrayLike<number | bigint>, (v) => parquetValue(column, v, entityKey));
  }
  if (Array.isArray(value)) return value.map((v) => parquetValue(column, v, entityKey));
  return value;
}

function parquetRecord(view: ViewDef): (record: Record<string, unknown>) => Record<string, unknown> {
  return (record) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(record)) out[k] = parquetValue(k, v, view.entityKey);
    return out;
  };
}

async function* readParquet(file: string, view: ViewDef, now: number): AsyncGenerator<SourceRow> {
  // A real import(): TypeScript (module node16) leaves it as-is in CommonJS output, Node loads the ESM
  // package, and esbuild bundles it into dist/cli.js.
  const { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } = await import("hyparquet");
  const buffer = await asyncBufferFromFile(file);
  let metadata;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (err) {
    throw new Error(`${file} is not a readable Parquet file: ${(err as Error).message}`, { cause: err });
  }
  const normalize = parquetRecord(view);
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    if (rowEnd === rowStart) continue;
    let records: Array<Record<string, unknown>>;
    try {
      // Only this row group's column chunks are fetched and decoded.
      records = await parquetReadObjects({ file: buffer, metadata, rowStart, rowEnd });
    } catch (err) {
      yield { row: rowStart + 1, result: { ok: false, code: "bad_row", reason: `Parquet: row group at rows ${rowStart + 1}-${rowEnd}: ${(err as Error).message}` } };
      return;
    }
    for (let i = 0; i < records.length; i++) yield check(view, records[i], "json", now, rowStart + i + 1, normalize);
    rowStart = rowEnd;
  }
}

export async function* readSource(file: string, format: SourceFormat, view: ViewDef, now = Date.now()): AsyncGenerator<SourceRow> {
  if (format === "parquet") {
    yield* readParquet(file, view, now);
    return;
  }
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
