/**
 * Writers' side of the sequencer (sequencer/view-sequencer.ts): how `express-lane load`, `purge`, `push` and
 * the local lane tell a view's sequencer what they stored.
 *
 *   POST {sequencer}/v1/checkpoints/{view}/report        {"changes": [{"entity", "value": base64(40) | null}]}
 *        signed with the writer key: wire/writer-auth.ts's scheme under tag REPORT_SIGNATURE_TAG
 *   POST {sequencer}/v1/checkpoints/{view}/push-answer   {"request": {"method", "path", "body"}, "answer_nonce",
 *                                                         "answer": {"status", "headers", "body"}}  (bodies base64)
 *        an enclave-signed push answer: the sequencer verifies it against the lane key it pins
 *
 * value = wire/checkpoint.ts entityMapValue(event_time, sealed object bytes).
 */
import { randomBytes } from "node:crypto";
import { signPush } from "../wire/writer-auth";

export const REPORT_SIGNATURE_TAG = "express-lane-checkpoint-report";
/** Changes per report request (the sequencer refuses more). */
export const MAX_REPORT_CHANGES = 20_000;

export function reportPath(view: string, kind: "report" | "push-answer"): string {
  return `/v1/checkpoints/${encodeURIComponent(view)}/${kind}`;
}

export interface ReportKey {
  readonly kid: string;
  readonly key: Uint8Array;
}

/** The signed request for one report (tests and the reporter). */
export function signedReport(view: string, changes: ReadonlyArray<readonly [string, Uint8Array | null]>, key: ReportKey, nowSeconds?: number) {
  const path = reportPath(view, "report");
  const body = Buffer.from(JSON.stringify({ changes: changes.map(([entity, value]) => ({ entity, value: value === null ? null : Buffer.from(value).toString("base64") })) }));
  const contentType = "application/json";
  const sig = signPush({ method: "POST", path, query: "", contentType, body }, key, { nonce: randomBytes(16).toString("base64url"), tag: REPORT_SIGNATURE_TAG, nowSeconds });
  return {
    path,
    body,
    headers: { "content-type": contentType, "content-digest": sig.contentDigest, "signature-input": sig.signatureInput, signature: sig.signature },
  };
}

async function post(url: string, path: string, body: Buffer, headers: Record<string, string>): Promise<unknown> {
  const res = await fetch(new URL(path, url), { method: "POST", body, headers, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const e = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new Error(`sequencer answered ${res.status}${e ? ` ${e.code}: ${e.message}` : ""}`);
  }
  return parsed;
}

export async function sendReport(url: string, view: string, changes: ReadonlyArray<readonly [string, Uint8Array | null]>, key: ReportKey): Promise<{ seq: number; as_of: number }> {
  const r = signedReport(view, changes, key);
  return (await post(url, r.path, r.body, r.headers)) as { seq: number; as_of: number };
}

export interface PushAnswerReport {
  readonly request: { readonly method?: string; readonly path: string; readonly body: Uint8Array };
  readonly answerNonce?: string;
  readonly answer: { readonly status: number; readonly headers: Readonly<Record<string, string | undefined>>; readonly body: Uint8Array };
}

export async function sendPushAnswer(url: string, view: string, report: PushAnswerReport): Promise<{ seq: number; as_of: number }> {
  const body = Buffer.from(
    JSON.stringify({
      request: { method: report.request.method ?? "POST", path: report.request.path, body: Buffer.from(report.request.body).toString("base64") },
      answer_nonce: report.answerNonce,
      answer: { status: report.answer.status, headers: report.answer.headers, body: Buffer.from(report.answer.body).toString("base64") },
    }),
  );
  return (await post(url, reportPath(view, "push-answer"), body, { "content-type": "application/json" })) as { seq: number; as_of: number };
}

/**
 * Batches a writer's reports: `add` as objects are stored, sent every `batch` changes or
 * `intervalMs` (so a long load is reported while it runs, well inside the enclave's report window,
 * wire/checkpoint.ts CHECKPOINT_REPORT_WINDOW_MS), and `close` sends the rest. Failures are counted,
 * never thrown at the writer: the write itself happened; what the failure costs is freshness.
 */
export class SequencerReporter {
  private pending: Array<readonly [string, Uint8Array | null]> = [];
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> = Promise.resolve();
  reported = 0;
  failed = 0;
  readonly errors: string[] = [];

  constructor(private readonly options: { readonly url: string; readonly view: string; readonly key: ReportKey; readonly batch?: number; readonly intervalMs?: number }) {}

  add(entity: string, value: Uint8Array | null): void {
    this.pending.push([entity, value]);
    if (this.pending.length >= (this.options.batch ?? 2000)) void this.flush();
    else if (this.timer === null) {
      this.timer = setTimeout(() => void this.flush(), this.options.intervalMs ?? 250);
      this.timer.unref();
    }
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const changes = this.pending.splice(0);
    this.sending = this.sending.then(async () => {
      for (let i = 0; i < changes.length; i += MAX_REPORT_CHANGES) {
        const chunk = changes.slice(i, i + MAX_REPORT_CHANGES);
        try {
          await sendReport(this.options.url, this.options.view, chunk, this.options.key);
          this.reported += chunk.length;
        } catch (err) {
          this.failed += chunk.length;
          if (this.errors.length < 5) this.errors.push((err as Error).message);
        }
      }
    });
    return this.sending;
  }

  async close(): Promise<{ reported: number; failed: number; errors: readonly string[] }> {
    await this.flush();
    return { reported: this.reported, failed: this.failed, errors: this.errors };
  }
}
