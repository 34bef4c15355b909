/**
 * "Newer event time wins", on S3 conditional writes. Used by the push API (runtime) and by
 * `express-lane load` (writers). Needs no key: it stores bytes that are already sealed and reads
 * the current object's event time from its (unverified) body to decide.
 *
 *   GET current → absent:  PUT If-None-Match: *
 *               → present: older event time            → PUT If-Match: <etag>
 *                          same event time, same data  → unchanged (no PUT: re-loads are idempotent)
 *                          same event time, other data → PUT If-Match (last writer wins a tie)
 *                          newer event time            → skipped_older (never overwrite newer data)
 *   PUT 412 / 404 (object changed or vanished since the GET) / 409 → start over, bounded.
 *
 * The decision uses the current object's claimed event time. A host or writer that can PUT could
 * store a forged object claiming a far-future event time; it cannot make it verify (the signer
 * refuses it: seal_invalid) and a sealed-key writer replaces it when `trustCurrent` says so.
 */
import { decodeObjectBody, decodeStoredObject, featuresFingerprint } from "../../wire/object";
import { StoreError, type ObjectStore, type ObjectWriter } from "./types";

export type WriteOutcome = "written" | "unchanged" | "skipped_older";

export interface WriteResult {
  readonly outcome: WriteOutcome;
  /** Event time of the object now stored (ours when written/unchanged, the newer one when skipped). */
  readonly storedEventTime: number;
  readonly attempts: number;
  readonly etag?: string;
  /** unchanged: the stored bytes (what a writer reports to the view's sequencer, sequencer/report.ts). */
  readonly current?: Buffer;
}

export interface ConditionalWriteOptions {
  /** Conflict retries before giving up. @default 8 */
  readonly maxAttempts?: number;
  /**
   * Writers holding the seal key pass a check here: a current object that fails it (forged or
   * corrupt) is treated as absent-but-present (replaced with If-Match). Without it, the current
   * object's claimed event time is taken at face value.
   */
  readonly trustCurrent?: (bytes: Buffer) => boolean;
  readonly contentType?: string;
}

export class WriteConflictError extends Error {
  readonly code = "write_conflict";
  constructor(key: string, attempts: number) {
    super(`${key}: still conflicting after ${attempts} conditional-write attempts`);
    this.name = "WriteConflictError";
  }
}

interface Current {
  readonly eventTime: number;
  readonly fingerprint: string;
}

/** What the stored bytes claim (null when they are not a readable sealed v2 object). */
export function inspectSealed(bytes: Buffer): (Current & { entity: string; view: string }) | null {
  try {
    const stored = decodeStoredObject(bytes);
    if (stored.v !== 2) return null;
    const o = decodeObjectBody(stored.body);
    return { eventTime: o.event_time, fingerprint: featuresFingerprint(o.features), entity: o.entity, view: o.view };
  } catch {
    return null;
  }
}

function isRetryable(err: unknown): boolean {
  if (!(err instanceof StoreError)) return false;
  // 412: precondition failed; 404 NoSuchKey on If-Match: deleted meanwhile; 409 ConditionalRequestConflict.
  return err.code === "precondition_failed" || err.httpStatus === 404 || err.httpStatus === 409;
}

export async function writeIfNewer(store: ObjectStore & ObjectWriter, key: string, sealed: Buffer, options: ConditionalWriteOptions = {}): Promise<WriteResult> {
  const mine = inspectSealed(sealed);
  if (!mine) throw new Error(`${key}: refusing to store bytes that are not a sealed v2 object`);
  const maxAttempts = options.maxAttempts ?? 8;
  const contentType = options.contentType ?? "application/msgpack";
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const got = await store.get(key);
    let precondition: { ifMatch?: string; ifNoneMatch?: "*" };
    if (!got.found) {
      precondition = { ifNoneMatch: "*" };
    } else {
      if (got.etag === undefined) throw new StoreError("bad_response", `GET ${key}: no ETag; conditional writes impossible`);
      const trusted = options.trustCurrent ? options.trustCurrent(got.body) : true;
      const current = trusted ? inspectSealed(got.body) : null;
      if (current) {
        if (current.eventTime > mine.eventTime) return { outcome: "skipped_older", storedEventTime: current.eventTime, attempts: attempt };
        if (current.eventTime === mine.eventTime && current.fingerprint === mine.fingerprint) {
          return { outcome: "unchanged", storedEventTime: current.eventTime, attempts: attempt, etag: got.etag, current: got.body };
        }
      }
      precondition = { ifMatch: got.etag };
    }
    try {
      const { etag } = await store.put(key, sealed, { ...precondition, contentType });
      return { outcome: "written", storedEventTime: mine.eventTime, attempts: attempt, etag };
    } catch (err) {
      if (!isRetryable(err)) throw err;
      // Someone wrote in between: back off a little (jittered) and decide again on fresh state.
      await new Promise((r) => setTimeout(r, Math.min(50, 2 ** attempt) * Math.random()));
    }
  }
  throw new WriteConflictError(key, maxAttempts);
}
