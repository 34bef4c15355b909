/**
 * `express-lane purge --view V --yes`: an operator's view purge — every stored object of the view
 * is deleted from the bucket (ListObjectsV2 pages under `{prefix}{view}/`, DeleteObject in parallel
 * batches). Not a writer operation: it needs bucket delete rights, not a writer key, and the
 * enclave takes no part (docs/push-api.md, "Purging a view", states what it means for reads and
 * for P2). Without --yes it only counts what it would delete.
 */
import { Command, Option } from "commander";
import type { S3Store } from "../runtime/store/s3-store";
import { StoreError } from "../runtime/store/types";
import { checkView } from "../wire/names";
import { storeOptions, writerStore } from "./load";
import { SequencerReporter } from "../sequencer/report";
import { writerKeyOptions, writerKeysFromOptions } from "./writer-key";

/** What a purge needs from a store: list a prefix, delete a key (S3Store has both). */
export type PurgeStore = Pick<S3Store, "list" | "delete">;

export interface PurgeSummary {
  readonly view: string;
  readonly found: number;
  readonly deleted: number;
  readonly failed: number;
  readonly dryRun: boolean;
}

export async function purgeView(
  store: PurgeStore,
  view: string,
  o: {
    keyPrefix?: string;
    confirm: boolean;
    concurrency?: number;
    onFailure?: (key: string, err: Error) => void;
    /** Each deleted entity (decoded from its key): what the view's sequencer is told is gone. */
    onDeleted?: (entity: string) => void;
  },
): Promise<PurgeSummary> {
  const prefix = `${o.keyPrefix ?? ""}${checkView(view)}/`;
  let found = 0;
  let deleted = 0;
  let failed = 0;
  let token: string | undefined;
  do {
    const page = await store.list(prefix, token);
    token = page.next;
    // Keys outside the view's key space are never touched, whatever the listing says.
    const keys = page.keys.filter((k) => k.startsWith(prefix));
    found += keys.length;
    if (!o.confirm) continue;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < keys.length) {
        const key = keys[next++]!;
        for (let attempt = 1; ; attempt++) {
          try {
            await store.delete(key);
            deleted++;
            o.onDeleted?.(Buffer.from(key.slice(prefix.length), "base64url").toString("utf8"));
            break;
          } catch (err) {
            // 5xx / 503 SlowDown / 429 are retryable (S3 throttles bulk deletes; the local twin
            // answers 500 to concurrent deletes in one folder): back off, at most 5 attempts.
            if (err instanceof StoreError && err.code === "unavailable" && attempt < 5) {
              await new Promise((r) => setTimeout(r, 50 * 2 ** attempt * Math.random()));
              continue;
            }
            failed++;
            o.onFailure?.(key, err as Error);
            break;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 16) }, worker));
  } while (token !== undefined);
  return { view, found, deleted, failed, dryRun: !o.confirm };
}

export function registerPurgeCommand(program: Command): void {
  writerKeyOptions(
    storeOptions(
      program
        .command("purge")
        .description("operators: delete every stored object of a feature view from the bucket (reads then answer NOT_FOUND); without --yes, only count")
        .requiredOption("--view <name>", "the feature view to purge"),
    ),
  )
    .option("--yes", "really delete (without it: a dry run that counts the objects)")
    .addOption(new Option("--concurrency <n>", "deletes in flight").default("16"))
    .addOption(
      new Option(
        "--sequencer <url>",
        "report the removals to the view's checkpoint sequencer, signed with the writer key (else reads of purged entities are refused as object_withheld)",
      ).env("EXPRESS_LANE_SEQUENCER"),
    )
    .action(
      async (o: {
        view: string;
        endpoint?: string;
        bucket: string;
        region: string;
        keyPrefix: string;
        yes?: boolean;
        concurrency: string;
        sequencer?: string;
        writerKeyFile: string;
        sealKeyKms?: string;
        writer?: string;
        kmsEndpoint?: string;
      }) => {
        const reporter =
          o.sequencer && o.yes
            ? new SequencerReporter({
                url: o.sequencer,
                view: o.view,
                key: (await writerKeysFromOptions({ writerKeyFile: o.writerKeyFile, sealKeyKms: o.sealKeyKms, writer: o.writer, kmsEndpoint: o.kmsEndpoint })).keys[0]!,
              })
            : undefined;
        const store = writerStore(o);
        try {
          const s = await purgeView(store, o.view, {
            keyPrefix: o.keyPrefix,
            confirm: o.yes === true,
            concurrency: Number(o.concurrency),
            onFailure: (key, err) => process.stderr.write(`  ${key}: ${err.message}\n`),
            onDeleted: reporter ? (entity) => reporter.add(entity, null) : undefined,
          });
          const r = await reporter?.close();
          if (r) process.stdout.write(r.failed ? `  sequencer: ${r.failed} removals NOT reported (${r.errors[0]})\n` : `  reported ${r.reported} removals to the sequencer\n`);
          if (r && r.failed > 0) process.exitCode = 1;
          process.stdout.write(
            s.dryRun
              ? `view ${s.view}: ${s.found} objects would be deleted from ${o.bucket}; run again with --yes to delete them\n`
              : `view ${s.view}: deleted ${s.deleted} of ${s.found} objects from ${o.bucket}${s.failed ? ` (${s.failed} failed)` : ""}\n`,
          );
          if (s.failed > 0) process.exitCode = 1;
        } finally {
          await store.close();
        }
      },
    );
}
