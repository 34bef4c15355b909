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
import { Readable } from "node:stream";
import { parse } from "csv-parse";
import { RowError, validateFlatRow, ValidRow, ValueSource, ViewDef, type FlatRowOptions } from "../wire/registry";

/**
 * How source rows map onto the view: which columns are the entity key and the event time (and its
 * unit), and column renames (`--rename a=b`: column a is feature b). Applied before validation.
 */
export interface SourceOptions extends FlatRowOptions {
  readonly rename?: Readonly<Record<string, string>>;
  /** Reads `s3://bucket/key` sources (the project's S3 client; cli/load.ts passes one). */
  readonly fetchS3?: (bucket: string, key: string) => Promise<Buffer>;
  /** Where `-` reads from. @default process.stdin */
  readonly stdin?: NodeJS.ReadableStream;
}

const S3_URL = /^s3:\/\/([^/]+)\/(.+)$/;

/** A source name's bytes: a local path streams, `-` is stdin, `s3://bucket/key` is fetched whole. */
async function sourceStream(file: string, options: SourceOptions): Promise<NodeJS.ReadableStream> {
  if (file === "-") return options.stdin ?? process.stdin;
  const s3 = S3_URL.exec(file);
  if (s3) {
    if (!options.fetchS3) throw new Error(`${file}: no S3 client configured for s3:// sources`);
    return Readable.from([await options.fetchS3(s3[1]!, s3[2]!)]);
  }
  return createReadStream(file);
}

async function sourceBuffer(file: string, options: SourceOptions): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await sourceStream(file, options)) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

function renamer(rename: Readonly<Record<string, string>> | undefined): ((record: Record<string, unknown>) => Record<string, unknown>) | undefined {
  if (!rename || Object.keys(rename).length === 0) return undefined;
  return (record) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(record)) out[Object.prototype.hasOwnProperty.call(rename, k) ? rename[k]! : k] = v;
    return out;
  };
}

/** `--rename a=b` values → {a: b}; a malformed one throws. */
export function parseRenames(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const m = /^([^=]+)=([^=]+)$/.exec(v);
    if (!m) throw new Error(`--rename ${JSON.stringify(v)}: expected column=feature`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

export type SourceFormat = "jsonl" | "csv" | "parquet";

export interface SourceRow {
  /** 1-based data row number (JSONL: line number; CSV: record number after the header; Parquet: row in the file). */
  readonly row: number;
  readonly result: { readonly ok: true; readonly value: ValidRow } | { readonly ok: false; readonly entity?: string; readonly code: string; readonly reason: string };
}

export function formatOf(file: string, explicit?: string): SourceFormat {
  if (explicit === "jsonl" || explicit === "csv" || explicit === "parquet") return explicit;
  if (explicit !== undefined) throw new Error(`unsupported format ${explicit} (jsonl, csv, parquet)`);
  if (file === "-") throw new Error("reading stdin (-): say its format with --format jsonl|csv|parquet");
  if (/\.(jsonl|ndjson)$/i.test(file)) return "jsonl";
  if (/\.csv$/i.test(file)) return "csv";
  if (/\.parquet$/i.test(file)) return "parquet";
  throw new Error(`cannot tell the format of ${file}: use --format jsonl|csv|parquet`);
}

function check(
  view: ViewDef,
  record: unknown,
  source: ValueSource,
  now: number,
  row: number,
  normalize?: (record: Record<string, unknown>) => Record<string, unknown>,
  options: SourceOptions = {},
): SourceRow {
  try {
    let flat = normalize ? normalize(record as Record<string, unknown>) : (record as Record<string, unknown>);
    const rename = renamer(options.rename);
    if (rename && typeof flat === "object" && flat !== null && !Array.isArray(flat)) flat = rename(flat);
    return { row, result: { ok: true, value: validateFlatRow(view, flat, source, now, options) } };
  } catch (err) {
    const entity = typeof record === "object" && record !== null ? (record as Record<string, unknown>)[options.entityColumn ?? view.entityKey] : undefined;
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
function parquetValue(column: string, value: unknown, entityKey: string, timeColumn = "event_time"): unknown {
  if (value === undefined) return null;
  if (typeof value === "bigint") {
    // Entity keys keep every digit; an event time in ns/us is scaled by its unit, not as a Number.
    if (column === entityKey) return value.toString();
    if (column === timeColumn) return value;
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new RowError("bad_value", `column ${column}: INT64 value ${value} is beyond Number.MAX_SAFE_INTEGER (2^53 - 1) and cannot be loaded exactly`);
    }
    return Number(value);
  }
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return Array.from(value as unknown as ArrayLike<number | bigint>, (v) => parquetValue(column, v, entityKey, timeColumn));
  }
  if (Array.isArray(value)) return value.map((v) => parquetValue(column, v, entityKey, timeColumn));
  return value;
}

function parquetRecord(view: ViewDef, options: SourceOptions): (record: Record<string, unknown>) => Record<string, unknown> {
  const entityKey = options.entityColumn ?? view.entityKey;
  const timeColumn = options.eventTimeColumn ?? "event_time";
  return (record) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(record)) out[k] = parquetValue(k, v, entityKey, timeColumn);
    return out;
  };
}

async function* readParquet(file: string, view: ViewDef, now: number, options: SourceOptions = {}): AsyncGenerator<SourceRow> {
  // A real import(): TypeScript (module node16) leaves it as-is in CommonJS output, Node loads the ESM
  // package, and esbuild bundles it into dist/cli.js.
  const { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } = await import("hyparquet");
  let buffer: Awaited<ReturnType<typeof asyncBufferFromFile>>;
  if (file === "-" || S3_URL.test(file)) {
    const bytes = await sourceBuffer(file, options);
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    buffer = { byteLength: ab.byteLength, slice: (start: number, end?: number) => ab.slice(start, end) };
  } else buffer = await asyncBufferFromFile(file);
  let metadata;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (err) {
    throw new Error(`${file} is not a readable Parquet file: ${(err as Error).message}`, { cause: err });
  }
  const normalize = parquetRecord(view, options);
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
    for (let i = 0; i < records.length; i++) yield check(view, records[i], "json", now, rowStart + i + 1, normalize, options);
    rowStart = rowEnd;
  }
}

export async function* readSource(file: string, format: SourceFormat, view: ViewDef, now = Date.now(), options: SourceOptions = {}): AsyncGenerator<SourceRow> {
  if (format === "parquet") {
    yield* readParquet(file, view, now, options);
    return;
  }
  const input = await sourceStream(file, options);
  if (format === "jsonl") {
    const lines = createInterface({ input, crlfDelay: Infinity });
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
      yield check(view, record, "json", now, n, undefined, options);
    }
    return;
  }
  const parser = input.pipe(parse({ columns: true, bom: true, skip_empty_lines: true, relax_column_count: false }));
  let n = 0;
  try {
    for await (const record of parser) {
      n++;
      yield check(view, record, "text", now, n, undefined, options);
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
