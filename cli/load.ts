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
import { writeIfNewer, WriteConflictError } from "../runtime/store/conditional-write";
import { S3Store } from "../runtime/store/s3-store";
import { StaticCredentials, awsDefaultCredentials } from "../runtime/store/credentials";
import { StoreError, type ObjectStore, type ObjectWriter } from "../runtime/store/types";
import { decodeStoredObject, objectKey } from "../wire/object";
import type { Registry, ValidRow } from "../wire/registry";
import { lookupView } from "../wire/request";
import { DEFAULT_REGISTRY } from "../registry/views";
import { registryFor } from "./apply";
import { formatOf, newestPerEntity, readSource } from "./sources";
import { writerKeyOptions, writerKeysFromOptions } from "./writer-key";

export interface LoadOptions {
  readonly file: string;
  readonly view: string;
  readonly format?: string;
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

export async function load(options: LoadOptions): Promise<LoadSummary> {
  const started = process.hrtime.bigint();
  const view = lookupView(options.view, options.registry ?? DEFAULT_REGISTRY);
  const format = formatOf(options.file, options.format);
  const now = options.now ?? Date.now();
  const rejects: Reject[] = [];
  const valid: Array<{ row: number; value: ValidRow }> = [];
  let rows = 0;
  for await (const r of readSource(options.file, format, view, now)) {
    rows++;
    if (r.result.ok) valid.push({ row: r.row, value: r.result.value });
    else rejects.push({ row: r.row, entity: r.result.entity, code: r.result.code, reason: r.result.reason });
  }
  const { winners, superseded } = newestPerEntity(valid);
  const counts = { written: 0, unchanged: 0, skipped_older: superseded, failed: 0 };
  const bar = options.progress ? new SingleBar({ format: "load {bar} {value}/{total} entities | {eta_formatted} left | {rate}/s", hideCursor: true }, Presets.shades_classic) : null;
  bar?.start(winners.length, 0, { rate: "0" });
  const prefix = options.keyPrefix ?? "";
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < winners.length) {
      const { row, value } = winners[next++];
      const sealed = options.seals.seal({ view: view.name, entity: value.entity, event_time: value.event_time, written_time: now, features: value.features });
      try {
        const result = await writeIfNewer(options.store, objectKey(view.name, value.entity, prefix), sealed, {
          trustCurrent: (bytes) => trustCurrent(options.seals, bytes, view.name, value.entity),
        });
        counts[result.outcome]++;
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
  let rejectsFile: string | undefined;
  if (rejects.length > 0) {
    rejectsFile = options.rejectsFile ?? `${options.file}.rejects.jsonl`;
    const out = createWriteStream(rejectsFile);
    for (const r of rejects.sort((a, b) => a.row - b.row)) out.write(`${JSON.stringify(r)}\n`);
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
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
  const credentials = id && secret ? new StaticCredentials({ accessKeyId: id, secretAccessKey: secret }) : local ? new StaticCredentials({ accessKeyId: "S3RVER", secretAccessKey: "S3RVER" }) : undefined;
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

export function registerLoadCommand(program: Command): void {
  writerKeyOptions(
    storeOptions(
      program
        .command("load")
        .description("validate a JSONL/CSV/Parquet file against a feature view and write one sealed object per entity (newer event time wins)")
        .argument("<file>", "source file (.jsonl/.ndjson, .csv or .parquet): entity key column, event_time, feature columns")
        .requiredOption("--view <name>", "feature view (one the lane serves: GET /v1/views)")
        .addOption(new Option("--registry <url|file>", "validate against what this lane URL serves (GET /v1/views) or a signed registry document; refuses a view it does not define (default: the image default views)").env("EXPRESS_LANE_URL"))
        .option("--format <fmt>", "jsonl | csv | parquet (default: from the file extension)"),
    ),
  )
    .addOption(new Option("--concurrency <n>", "entities written in parallel").default("16"))
    .option("--rejects <file>", "rejects file (default: <file>.rejects.jsonl)")
    .option("--no-progress", "no progress bar")
    .action(async (file: string, o: { view: string; format?: string; endpoint?: string; bucket: string; region: string; keyPrefix: string; writerKeyFile: string; sealKeyFile?: string; sealKeyKms?: string; writer?: string; kmsEndpoint?: string; concurrency: string; rejects?: string; progress: boolean; registry?: string }) => {
      const registry = await registryFor(o.registry, o.view);
      const { keyring: seals } = await writerKeysFromOptions({ writerKeyFile: o.sealKeyFile ?? o.writerKeyFile, sealKeyKms: o.sealKeyKms, writer: o.writer, kmsEndpoint: o.kmsEndpoint });
      const store = writerStore(o);
      try {
        const s = await load({ file, view: o.view, format: o.format, registry, store, seals, keyPrefix: o.keyPrefix, concurrency: Number(o.concurrency), rejectsFile: o.rejects, progress: o.progress && process.stderr.isTTY });
        process.stdout.write(
          `view ${s.view}: ${s.rows} rows, ${s.entities} entities in ${s.seconds.toFixed(2)} s (${(s.entities / s.seconds).toFixed(0)} entities/s)\n` +
            `  written ${s.written}  unchanged ${s.unchanged}  skipped as older ${s.skipped_older}  rejected ${s.rejected}${s.failed ? `  failed ${s.failed}` : ""}\n` +
            (s.rejectsFile ? `  rejects: ${s.rejectsFile}\n` : ""),
        );
        if (s.rejected > 0 || s.failed > 0) process.exitCode = 1;
      } finally {
        await store.close();
      }
    });
}
