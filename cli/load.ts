/**
 * `express-lane load`: materialize a JSONL/CSV/Parquet file into the lane. A writer: it holds its
 * writer key (cli/writer-key.ts), the key the lane's directory lists for it, and seals with it.
 *
 *   read + validate every row against the view → newest row per entity → seal (layout v2) →
 *   newer-wins conditional write per entity (runtime/store/conditional-write.ts), N in flight →
 *   summary: written, unchanged, skipped as older, rejected (+ a rejects file: row, entity, reason).
 *
 * Re-running the same load is idempotent: every entity comes back "unchanged".
 */
import { createWriteStream } from "node:fs";
import { Command, Option } from "commander";
import { SingleBar, Presets } from "cli-progress";
import type { SealKeyring } from "../enclave/seal";
import { inspectSealed, writeIfNewer, WriteConflictError } from "../runtime/store/conditional-write";
import { S3Store } from "../runtime/store/s3-store";
import { StaticCredentials, awsDefaultCredentials } from "../runtime/store/credentials";
import { StoreError, type ObjectStore, type ObjectWriter } from "../runtime/store/types";
import { decodeStoredObject, objectKey } from "../wire/object";
import { checkEventTimeUnit, type EventTimeUnit, type Registry, type ValidRow, type ViewDef } from "../wire/registry";
import { lookupView } from "../wire/request";
import { DEFAULT_REGISTRY } from "../registry/views";
import { registryFor } from "./apply";
import { mergeRow, WRITE_MODES, type WriteMode } from "../wire/merge";
import type { Ed25519Jwk } from "../wire/keys";
import { formatOf, newestPerEntity, parseRenames, readSource, type SourceOptions } from "./sources";
import { pinnedKeys, push, reportAnswer, type PushOptions, type PushRowResult } from "./push";
import { entityMapValue } from "../wire/checkpoint";
import { SequencerReporter } from "../sequencer/report";
import { writerKeyOptions, writerKeysFromOptions } from "./writer-key";
import type { WriterKey } from "../dev/key-files";

export interface LoadOptions extends SourceOptions {
  /** A path, `-` (stdin) or `s3://bucket/key`. */
  readonly file: string;
  readonly view: string;
  readonly format?: string;
  /** merge (default): features a row does not carry keep their stored values; replace: the row is the whole object. */
  readonly mode?: WriteMode;
  readonly store: ObjectStore & ObjectWriter;
  readonly seals: SealKeyring;
  readonly keyPrefix?: string;
  /** Entities written concurrently. @default 16 */
  readonly concurrency?: number;
  /** Where rejected rows go (JSONL). @default `<file>.rejects.jsonl` (only written when there are any) */
  readonly rejectsFile?: string;
  readonly registry?: Registry;
  readonly progress?: boolean;
  readonly now?: number;
  /**
   * The view's sequencer (sequencer/report.ts): told (entity, entityMapValue) of every object
   * now stored — written, or already there unchanged — so its checkpoints vouch for them (issue #16).
   */
  readonly reporter?: { add(entity: string, value: Uint8Array | null): void };
}

export interface LoadSummary {
  readonly view: string;
  readonly rows: number;
  readonly entities: number;
  readonly written: number;
  readonly unchanged: number;
  /** Entities whose stored object is newer, plus rows superseded by a newer row for the same entity in the file. */
  readonly skipped_older: number;
  readonly rejected: number;
  readonly failed: number;
  readonly seconds: number;
  readonly rejectsFile?: string;
}

interface Reject {
  readonly row: number;
  readonly entity?: string;
  readonly code: string;
  readonly reason: string;
}

/** The rejects file of a load (both paths), when there are rejects: `--rejects`, else next to the source. */
async function saveRejects(options: { readonly file: string; readonly rejectsFile?: string }, rejects: Reject[]): Promise<string | undefined> {
  if (rejects.length === 0) return undefined;
  const file = options.rejectsFile ?? `${options.file === "-" || options.file.startsWith("s3://") ? "load" : options.file}.rejects.jsonl`;
  await writeRejects(file, rejects);
  return file;
}

/** Read and validate every row of a source (both load paths): the valid ones, and the rejects with their reasons. */
async function readRows(
  options: SourceOptions & { readonly file: string; readonly format?: string },
  view: ViewDef,
  now: number,
): Promise<{ rows: number; valid: Array<{ row: number; value: ValidRow }>; rejects: Reject[] }> {
  const format = formatOf(options.file, options.format);
  const rejects: Reject[] = [];
  const valid: Array<{ row: number; value: ValidRow }> = [];
  let rows = 0;
  for await (const r of readSource(options.file, format, view, now, options)) {
    rows++;
    if (r.result.ok) valid.push({ row: r.row, value: r.result.value });
    else rejects.push({ row: r.row, entity: r.result.entity, code: r.result.code, reason: r.result.reason });
  }
  return { rows, valid, rejects };
}

export async function load(options: LoadOptions): Promise<LoadSummary> {
  const started = process.hrtime.bigint();
  const view = lookupView(options.view, options.registry ?? DEFAULT_REGISTRY);
  const now = options.now ?? Date.now();
  const { rows, valid, rejects } = await readRows(options, view, now);
  const { winners, superseded } = newestPerEntity(valid);
  const counts = { written: 0, unchanged: 0, skipped_older: superseded, failed: 0 };
  const bar = options.progress
    ? new SingleBar({ format: "load {bar} {value}/{total} entities | {eta_formatted} left | {rate}/s", hideCursor: true }, Presets.shades_classic)
    : null;
  bar?.start(winners.length, 0, { rate: "0" });
  const prefix = options.keyPrefix ?? "";
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < winners.length) {
      const { row, value } = winners[next++];
      try {
        const key = objectKey(view.name, value.entity, prefix);
        // written_time per object, when it is sealed: the enclave accepts an object its view's
        // checkpoint does not hold yet only if it was sealed shortly before (CHECKPOINT_REPORT_WINDOW_MS).
        const writtenTime = options.now ?? Date.now();
        if ((options.mode ?? "merge") === "replace") {
          const sealed = options.seals.seal({ view: view.name, entity: value.entity, event_time: value.event_time, written_time: writtenTime, features: value.features });
          const result = await writeIfNewer(options.store, key, sealed, { trustCurrent: (bytes) => trustCurrent(options.seals, bytes, view.name, value.entity) });
          counts[result.outcome]++;
          if (result.outcome === "written") options.reporter?.add(value.entity, entityMapValue(value.event_time, sealed));
          else if (result.outcome === "unchanged" && result.current) options.reporter?.add(value.entity, entityMapValue(result.storedEventTime, result.current));
        } else {
          const result = await writeMerged(options.store, options.seals, key, view.name, value, writtenTime);
          if (result.outcome === "refused") rejects.push({ row, entity: value.entity, code: result.code, reason: result.reason });
          else {
            counts[result.outcome]++;
            if (result.stored) options.reporter?.add(value.entity, entityMapValue(result.stored.eventTime, result.stored.bytes));
          }
        }
      } catch (err) {
        if (!(err instanceof StoreError) && !(err instanceof WriteConflictError)) throw err;
        counts.failed++;
        rejects.push({ row, entity: value.entity, code: err instanceof WriteConflictError ? err.code : `store_${err.code}`, reason: err.message });
      }
      done++;
      if (bar) bar.update(done, { rate: (done / (Number(process.hrtime.bigint() - started) / 1e9)).toFixed(0) });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 16) }, worker));
  bar?.stop();
  const rejectsFile = await saveRejects(options, rejects);
  return {
    view: view.name,
    rows,
    entities: winners.length,
    written: counts.written,
    unchanged: counts.unchanged,
    skipped_older: counts.skipped_older,
    rejected: rejects.length - counts.failed,
    failed: counts.failed,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    rejectsFile,
  };
}

/**
 * Merge one row into the entity's stored object (wire/merge.ts), as the enclave does for pushes:
 * merge only into an object our own keyring verifies — values from bytes nobody can vouch for are
 * never sealed under our key. An object under another writer's kid cannot be verified here: the
 * row is refused (`current_object_unverifiable`; use --mode replace, or load --url so the enclave
 * merges). Conditional PUT on the ETag read; a lost race starts over (bounded).
 */
async function writeMerged(
  store: ObjectStore & ObjectWriter,
  seals: SealKeyring,
  key: string,
  view: string,
  row: ValidRow,
  now: number,
): Promise<{ outcome: "written" | "unchanged" | "skipped_older"; stored?: { bytes: Buffer; eventTime: number } } | { outcome: "refused"; code: string; reason: string }> {
  const maxAttempts = 8;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const got = await store.get(key);
    let base = null;
    if (got.found) {
      if (got.etag === undefined) throw new StoreError("bad_response", `GET ${key}: no ETag; conditional writes impossible`);
      const opened = seals.open(got.body, view, row.entity);
      if (opened.ok) base = opened.object;
      else if (opened.code === "seal_unknown_key") {
        // Another writer's object: its claimed event time cannot be checked here; never overwrite
        // what may be newer genuine data, and never merge values we cannot vouch for.
        const claimed = inspectSealed(got.body);
        if (claimed && claimed.eventTime > row.event_time) return { outcome: "skipped_older" };
        return {
          outcome: "refused",
          code: "current_object_unverifiable",
          reason: "the stored object is sealed under a key this writer does not hold: it cannot merge into it (use --mode replace, or load --url)",
        };
      }
      // Ours but not verifying (forged or corrupt): replaced, as before, never merged.
    }
    const merged = mergeRow(view, base, row, "merge");
    if (!merged.ok) return { outcome: "skipped_older" };
    // Unchanged: the stored object (ours, verified) is what the sequencer should hold.
    if (merged.unchanged) return { outcome: "unchanged", ...(got.found && base ? { stored: { bytes: got.body, eventTime: base.event_time } } : {}) };
    const sealed = seals.seal({ ...merged.object, written_time: now });
    try {
      await store.put(key, sealed, { ...(got.found ? { ifMatch: got.etag! } : { ifNoneMatch: "*" as const }), contentType: "application/msgpack" });
      return { outcome: "written", stored: { bytes: sealed, eventTime: merged.object.event_time } };
    } catch (err) {
      if (!(err instanceof StoreError) || !(err.code === "precondition_failed" || err.httpStatus === 404 || err.httpStatus === 409)) throw err;
      await new Promise((r) => setTimeout(r, Math.min(50, 2 ** attempt) * Math.random()));
    }
  }
  throw new WriteConflictError(key, maxAttempts);
}

export interface LoadViaApiOptions extends SourceOptions {
  readonly file: string;
  readonly view: string;
  readonly format?: string;
  readonly url: string;
  readonly key: WriterKey;
  readonly mode?: WriteMode;
  /** Pinned signer key(s): every push answer is verified against its request. */
  readonly pinned?: readonly Ed25519Jwk[];
  readonly apiKey?: string;
  readonly registry?: Registry;
  readonly retries?: number;
  readonly retryDelayMs?: number;
  readonly rejectsFile?: string;
  readonly now?: number;
  /** Each push answer, for the view's sequencer (cli/push.ts PushOptions.onAnswer). */
  readonly onAnswer?: PushOptions["onAnswer"];
}

/**
 * `load --url`: the same source reading and validation, then the push API (≤ 100 rows a request,
 * signed with the writer key, retried on 503/429): the writer needs neither bucket access nor a
 * seal key of its own in the store's trust — the enclave verifies, merges and seals. Each entity
 * once (its newest row), so one push never carries an entity twice.
 */
export async function loadViaApi(options: LoadViaApiOptions): Promise<LoadSummary & { verified: boolean; written_by: readonly string[] }> {
  const started = process.hrtime.bigint();
  const view = lookupView(options.view, options.registry ?? DEFAULT_REGISTRY);
  const now = options.now ?? Date.now();
  const { rows, valid, rejects } = await readRows(options, view, now);
  const { winners, superseded } = newestPerEntity(valid);
  const rowOf = new Map(winners.map((w) => [w.value.entity, w.row]));
  const s = await push({
    url: options.url,
    view: view.name,
    key: options.key,
    // Times as ms (already validated and scaled); Date values (timestamp features) become ISO text.
    rows: winners.map(({ value }) => ({ entity: value.entity, event_time: value.event_time, features: value.features })),
    mode: options.mode,
    pinned: options.pinned,
    apiKey: options.apiKey,
    retries: options.retries ?? 4,
    retryDelayMs: options.retryDelayMs,
    onAnswer: options.onAnswer,
    onResult: (r: PushRowResult) => {
      if (r.result === "rejected") {
        rejects.push({ row: rowOf.get(r.entity ?? "") ?? 0, entity: r.entity, code: r.error?.code ?? "rejected", reason: r.error?.message ?? "" });
      }
    },
  });
  for (const e of s.errors) rejects.push({ row: 0, code: e.code, reason: `push request ${e.request}: HTTP ${e.status}: ${e.message}` });
  const rejectsFile = await saveRejects(options, rejects);
  return {
    view: view.name,
    rows,
    entities: winners.length,
    written: s.written,
    unchanged: s.unchanged,
    skipped_older: superseded + s.skipped_older,
    rejected: rejects.length - s.errors.length,
    failed: s.failed,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    rejectsFile,
    verified: s.verified,
    written_by: s.written_by,
  };
}

async function writeRejects(file: string, rejects: Reject[]): Promise<void> {
  const out = createWriteStream(file);
  for (const r of rejects.sort((a, b) => a.row - b.row)) out.write(`${JSON.stringify(r)}\n`);
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

/**
 * Whether the stored object's claimed event time counts against ours. Under one of our kids we can
 * check it: one that does not verify (forged/corrupt) is replaced. Under another writer's kid we
 * cannot, and its claim is taken at face value (never overwrite what may be a newer genuine value;
 * a forged one is refused at read time, seal_unknown_key / seal_invalid, and shows in metrics).
 */
function trustCurrent(seals: SealKeyring, bytes: Buffer, view: string, entity: string): boolean {
  let kid: string | undefined;
  try {
    const stored = decodeStoredObject(bytes);
    kid = stored.v === 2 && stored.seal ? stored.seal.kid : undefined;
  } catch {
    return false;
  }
  if (kid === undefined) return false; // unsealed: nobody vouches for it
  if (!seals.kids.includes(kid)) return true;
  return seals.open(bytes, view, entity).ok;
}

/** The store a writer CLI talks to: the local twin by default (`--endpoint`), or S3 / S3 Express. */
export function writerStore(opts: { endpoint?: string; bucket: string; region: string }): S3Store {
  const local = opts.endpoint !== undefined && /^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?/.test(opts.endpoint);
  const id = process.env.EXPRESS_LANE_S3_ACCESS_KEY_ID;
  const secret = process.env.EXPRESS_LANE_S3_SECRET_ACCESS_KEY;
  const credentials =
    id && secret
      ? new StaticCredentials({ accessKeyId: id, secretAccessKey: secret })
      : local
        ? new StaticCredentials({ accessKeyId: "S3RVER", secretAccessKey: "S3RVER" })
        : undefined;
  const express = opts.bucket.endsWith("--x-s3");
  return new S3Store({
    bucket: opts.bucket,
    region: opts.region,
    endpoint: opts.endpoint,
    addressing: opts.endpoint ? "path" : undefined,
    credentials: express ? undefined : (credentials ?? awsDefaultCredentials()),
  });
}

export function storeOptions(command: Command): Command {
  return command
    .addOption(new Option("--endpoint <url>", "S3 endpoint (the local lane prints its store endpoint)").env("EXPRESS_LANE_S3_ENDPOINT"))
    .addOption(new Option("--bucket <name>", "bucket").env("EXPRESS_LANE_BUCKET").default("lane"))
    .addOption(new Option("--region <region>", "region").env("EXPRESS_LANE_REGION").default("us-east-1"))
    .addOption(new Option("--key-prefix <prefix>", "object key prefix").env("EXPRESS_LANE_KEY_PREFIX").default(""));
}

function collect(value: string, all: string[] = []): string[] {
  return [...all, value];
}

export function registerLoadCommand(program: Command): void {
  writerKeyOptions(
    storeOptions(
      program
        .command("load")
        .description("validate a JSONL/CSV/Parquet source against a feature view and write one sealed object per entity (newer event time wins; partial rows merge)")
        .argument("<file>", "source: a path, - (stdin, with --format) or s3://bucket/key; columns: entity key, event_time, features")
        .requiredOption("--view <name>", "feature view (one the lane serves: GET /v1/views)")
        .addOption(
          new Option(
            "--registry <url|file>",
            "validate against what this lane URL serves (GET /v1/views) or a signed registry document; refuses a view it does not define (default: --url, else the image default views)",
          ).env("EXPRESS_LANE_URL"),
        )
        .option("--format <fmt>", "jsonl | csv | parquet (default: from the file extension)"),
    ),
  )
    .addOption(
      new Option("--mode <mode>", "merge: features a row lacks keep their stored values; replace: each row is the whole object").choices([...WRITE_MODES]).default("merge"),
    )
    .option("--entity-column <name>", "column holding the entity id (default: the view's entity key)")
    .option("--event-time-column <name>", "column holding the event time (default: event_time, else Feast's event_timestamp)")
    .addOption(new Option("--event-time-unit <unit>", "unit of numeric event times (ISO 8601 text needs none)").choices(["s", "ms", "us", "ns"]))
    .option("--rename <column=feature>", "load a column under another name (repeatable)", collect, [])
    .option("--url <url>", "write through this lane's push API (writer-signed, 100 rows a request) instead of the bucket")
    .option("--writer-key <file>", "with --url: the writer key file to sign pushes with (default: --writer-key-file)")
    .option("--key <jwk file|keyid>", "with --url: pin the signer key; every push answer is verified against its request", collect)
    .addOption(new Option("--api-key <key>", "with --url: writer API key for the host's gate").env("EXPRESS_LANE_API_KEY"))
    .addOption(new Option("--concurrency <n>", "entities written in parallel").default("16"))
    .option("--rejects <file>", "rejects file (default: <file>.rejects.jsonl)")
    .addOption(new Option("--sequencer <url>", "report what was stored to the view's checkpoint sequencer (provable freshness; docs/operations.md)").env("EXPRESS_LANE_SEQUENCER"))
    .option("--no-progress", "no progress bar")
    .action(
      async (
        file: string,
        o: {
          view: string;
          format?: string;
          endpoint?: string;
          bucket: string;
          region: string;
          keyPrefix: string;
          writerKeyFile: string;
          sealKeyFile?: string;
          sealKeyKms?: string;
          writer?: string;
          kmsEndpoint?: string;
          concurrency: string;
          rejects?: string;
          progress: boolean;
          registry?: string;
          mode: WriteMode;
          entityColumn?: string;
          eventTimeColumn?: string;
          eventTimeUnit?: string;
          rename: string[];
          url?: string;
          writerKey?: string;
          key?: string[];
          apiKey?: string;
          sequencer?: string;
        },
      ) => {
        const registry = await registryFor(o.url ?? o.registry, o.view);
        const { keyring: seals, keys } = await writerKeysFromOptions({
          writerKeyFile: o.writerKey ?? o.sealKeyFile ?? o.writerKeyFile,
          sealKeyKms: o.sealKeyKms,
          writer: o.writer,
          kmsEndpoint: o.kmsEndpoint,
        });
        const eventTimeUnit: EventTimeUnit | undefined = o.eventTimeUnit === undefined ? undefined : checkEventTimeUnit(o.eventTimeUnit);
        // s3:// sources are read with the project's S3 client, against the same endpoint/region options.
        const sources: S3Store[] = [];
        const source: SourceOptions = {
          entityColumn: o.entityColumn,
          eventTimeColumn: o.eventTimeColumn,
          eventTimeUnit,
          rename: parseRenames(o.rename),
          fetchS3: async (bucket, key) => {
            const s3 = writerStore({ ...o, bucket });
            sources.push(s3);
            const got = await s3.get(key);
            if (!got.found) throw new Error(`s3://${bucket}/${key}: no such object`);
            return got.body;
          },
        };
        const print = (s: LoadSummary, extra = ""): void => {
          process.stdout.write(
            `view ${s.view}: ${s.rows} rows, ${s.entities} entities in ${s.seconds.toFixed(2)} s (${(s.entities / s.seconds).toFixed(0)} entities/s)\n` +
              `  written ${s.written}  unchanged ${s.unchanged}  skipped as older ${s.skipped_older}  rejected ${s.rejected}${s.failed ? `  failed ${s.failed}` : ""}\n` +
              extra +
              (s.rejectsFile ? `  rejects: ${s.rejectsFile}\n` : ""),
          );
          if (s.rejected > 0 || s.failed > 0) process.exitCode = 1;
        };
        const unreported: string[] = [];
        const reported = (n: number): string =>
          o.sequencer === undefined
            ? ""
            : unreported.length === 0
              ? `  reported ${n} to the sequencer ${o.sequencer}\n`
              : `  sequencer: ${unreported.length} reports FAILED (${unreported[0]}); fresh_as_of of those entities lags until they are reported\n`;
        try {
          if (o.url !== undefined) {
            const pinned = await pinnedKeys({ key: o.key }, o.url);
            const s = await loadViaApi({
              file,
              view: o.view,
              registry,
              format: o.format,
              url: o.url,
              key: keys[0]!,
              mode: o.mode,
              pinned,
              apiKey: o.apiKey,
              rejectsFile: o.rejects,
              onAnswer: o.sequencer ? (report) => reportAnswer(o.sequencer!, o.view, report, unreported) : undefined,
              ...source,
            });
            print(
              s,
              reported(s.written + s.unchanged) +
                `  through ${o.url} as ${keys[0]!.writer} (${keys[0]!.kid}); answers ${pinned ? (s.verified ? "verified against the pinned signer key" : "NOT all verified") : "not verified (no --key pinned)"}\n`,
            );
            if ((pinned && !s.verified) || unreported.length > 0) process.exitCode = 1;
            return;
          }
          const store = writerStore(o);
          const reporter = o.sequencer ? new SequencerReporter({ url: o.sequencer, view: o.view, key: keys[0]! }) : undefined;
          try {
            const summary = await load({
              file,
              view: o.view,
              registry,
              format: o.format,
              store,
              seals,
              mode: o.mode,
              keyPrefix: o.keyPrefix,
              concurrency: Number(o.concurrency),
              rejectsFile: o.rejects,
              progress: o.progress && process.stderr.isTTY,
              reporter,
              ...source,
            });
            const r = await reporter?.close();
            if (r && r.failed > 0) unreported.push(...r.errors);
            print(summary, reported(r?.reported ?? 0));
            if (unreported.length > 0) process.exitCode = 1;
          } finally {
            await reporter?.close();
            await store.close();
          }
        } finally {
          await Promise.all(sources.map((s3) => s3.close()));
        }
      },
    );
}
