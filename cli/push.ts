/**
 * `express-lane push <file.jsonl> --url <lane> --view <v>`: the push API as a writer uses it. Each
 * request carries ≤ 100 rows (`POST /v1/features/{view}/_push`, wire/write.ts) and the writer's
 * RFC 9421 signature under its own key (wire/writer-auth.ts signPush: method, path, query,
 * content type and the body's digest, a fresh `created` and a random nonce). The host relays it;
 * only the enclave can check it, and it seals only rows a key the signed directory lists for
 * "write" signed. A bearer API key (`--api-key`, the host's gate) is no substitute: the host sees it.
 *
 * With a pinned signer key (`--key <jwk file|keyid>`, as for `verify`) every answer is verified against the exact request
 * (verifier/response.ts, including the request body's digest) and the per-row outcomes are taken
 * from the verified body; without one the outcomes are printed as unverified.
 *
 * Input: JSONL, one push row per line, {"entity": "...", "event_time": <ms or ISO>, "features": {...}}.
 */
import { randomBytes } from "node:crypto";
import { createReadStream, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { Command, Option } from "commander";
import { verifyResponse, VerificationError, type ReceivedResponse, type SentRequest } from "../verifier/response";
import type { Ed25519Jwk } from "../wire/keys";
import { MAX_PUSH_ROWS, PUSH_BATCH_SEGMENT } from "../wire/write";
import { signPush } from "../wire/writer-auth";
import { resolveTrustAnchor } from "./verify";
import { sendPushAnswer, type PushAnswerReport } from "../sequencer/report";
import { writerKeyOptions, writerKeysFromOptions } from "./writer-key";
import type { WriterKey } from "../dev/key-files";

/** 16 random bytes → 22 base64url characters (wire/writer-auth.ts WRITER_NONCE). */
export function pushNonce(): string {
  return randomBytes(16).toString("base64url");
}

export interface SignedPushRequest {
  readonly path: string;
  readonly body: Buffer;
  readonly headers: Record<string, string>;
  /** The nonce asked for in Accept-Signature (the answer must carry it). */
  readonly answerNonce: string;
}

/**
 * The request for one push: `rows` (≤ 100) to `/_push`, or a single row object to
 * `/v1/features/{view}`; signed under `key`.
 */
export function signedPushRequest(
  view: string,
  payload: { rows: readonly unknown[] } | Record<string, unknown>,
  key: Pick<WriterKey, "kid" | "key">,
  o: { nowSeconds?: number; nonce?: string; batch?: boolean } = {},
): SignedPushRequest {
  const batch = o.batch ?? ("rows" in payload && Array.isArray(payload.rows));
  const path = `/v1/features/${encodeURIComponent(view)}${batch ? `/${PUSH_BATCH_SEGMENT}` : ""}`;
  const body = Buffer.from(JSON.stringify(payload), "utf8");
  const contentType = "application/json";
  const sig = signPush({ method: "POST", path, query: "", contentType, body }, key, { nonce: o.nonce ?? pushNonce(), nowSeconds: o.nowSeconds });
  const answerNonce = pushNonce();
  return {
    path,
    body,
    answerNonce,
    headers: {
      "content-type": contentType,
      "content-digest": sig.contentDigest,
      "signature-input": sig.signatureInput,
      signature: sig.signature,
      "accept-signature": `sig1=("@status" "content-digest");nonce="${answerNonce}"`,
    },
  };
}

export interface PushRowResult {
  readonly entity?: string;
  readonly result: string;
  readonly written_by?: string;
  readonly object_digest?: string;
  readonly error?: { readonly code: string; readonly message: string };
}

export interface PushSummary {
  readonly view: string;
  readonly rows: number;
  readonly requests: number;
  readonly written: number;
  readonly unchanged: number;
  readonly skipped_older: number;
  readonly rejected: number;
  /** Rows in requests that failed as a whole (non-2xx, transport error, or an answer that did not verify). */
  readonly failed: number;
  /** Every answer verified against a pinned signer key (false when none was pinned). */
  readonly verified: boolean;
  readonly written_by: readonly string[];
  readonly errors: ReadonlyArray<{ readonly request: number; readonly status: number; readonly code: string; readonly message: string }>;
  readonly seconds: number;
}

export interface PushOptions {
  readonly url: string;
  readonly view: string;
  readonly key: WriterKey;
  /** Rows to push (any iterable; read lazily). */
  readonly rows: AsyncIterable<unknown> | Iterable<unknown>;
  /** @default 100 (the API's maximum) */
  readonly batchSize?: number;
  /** Pinned signer key(s): verify every answer. */
  readonly pinned?: readonly Ed25519Jwk[];
  readonly apiKey?: string;
  readonly onResult?: (r: PushRowResult) => void;
  /**
   * Retries of a request that got no answer or a 503 (signer restarting, replay cache full), each
   * with a fresh signature (new nonce and `created`: a retry is never a replay). Safe: a push is
   * idempotent (newer event time wins; the same rows again come back "unchanged"). @default 2
   */
  readonly retries?: number;
  /** Base backoff between retries in ms (doubled each time, at most 2 s; Retry-After wins). @default 200 */
  readonly retryDelayMs?: number;
  /** The push body's `mode` (merge is the API's default; docs/push-api.md). */
  readonly mode?: "merge" | "replace";
  /**
   * Every 2xx answer with the request it answers (after verification, when a key is pinned): what
   * the view's sequencer takes as a report (sequencer/report.ts sendPushAnswer; it verifies
   * the enclave's signature itself against the lane key it pins).
   */
  readonly onAnswer?: (report: PushAnswerReport) => Promise<void> | void;
}

async function* chunks(rows: AsyncIterable<unknown> | Iterable<unknown>, size: number): AsyncGenerator<unknown[]> {
  let batch: unknown[] = [];
  for await (const row of rows) {
    batch.push(row);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** JSONL push rows from a file; a line that is not a JSON object stops the push (nothing guessed). */
export async function* readPushRows(file: string): AsyncGenerator<unknown> {
  let n = 0;
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    n++;
    if (line.trim() === "") continue;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      throw new Error(`${file}:${n}: not JSON`);
    }
    if (typeof row !== "object" || row === null || Array.isArray(row)) throw new Error(`${file}:${n}: expected a push row {"entity", "event_time", "features"}`);
    yield row;
  }
}

function errorOf(body: Buffer): { code: string; message: string } {
  try {
    const e = (JSON.parse(body.toString("utf8")) as { error?: { code?: unknown; message?: unknown } }).error;
    if (e && typeof e.code === "string") return { code: e.code, message: typeof e.message === "string" ? e.message : "" };
  } catch {
    /* not JSON */
  }
  return { code: "bad_answer", message: body.toString("utf8").slice(0, 200) };
}

export async function push(o: PushOptions): Promise<PushSummary> {
  const started = process.hrtime.bigint();
  const size = o.batchSize ?? MAX_PUSH_ROWS;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PUSH_ROWS) throw new Error(`batch size must be 1..${MAX_PUSH_ROWS}`);
  const base = new URL(o.url);
  const counts = { rows: 0, requests: 0, written: 0, unchanged: 0, skipped_older: 0, rejected: 0, failed: 0 };
  const writers = new Set<string>();
  const errors: Array<PushSummary["errors"][number]> = [];
  let verified = (o.pinned?.length ?? 0) > 0;
  for await (const rows of chunks(o.rows, size)) {
    const request = counts.requests++;
    counts.rows += rows.length;
    const fail = (status: number, code: string, message: string): void => {
      counts.failed += rows.length;
      errors.push({ request, status, code, message });
    };
    let req: SignedPushRequest;
    let answer: ReceivedResponse | undefined;
    let transportError = "";
    for (let attempt = 0; ; attempt++) {
      req = signedPushRequest(o.view, o.mode ? { rows, mode: o.mode } : { rows }, o.key, { batch: true });
      try {
        const res = await fetch(new URL(req.path, base), { method: "POST", body: req.body, headers: { ...req.headers, ...(o.apiKey ? { "x-api-key": o.apiKey } : {}) } });
        const headers: Record<string, string> = {};
        res.headers.forEach((v, k) => (headers[k] = v));
        answer = { status: res.status, headers, body: Buffer.from(await res.arrayBuffer()) };
      } catch (err) {
        answer = undefined;
        transportError = (err as Error).message;
      }
      // 503 (signer restarting, replay cache full, write conflict), 429 (rate limit) and 504 (a
      // store write timed out: some rows may be stored, a re-push of the same rows is idempotent)
      // are worth a retry.
      if ((answer !== undefined && answer.status !== 503 && answer.status !== 429 && answer.status !== 504) || attempt >= (o.retries ?? 2)) break;
      const retryAfter = Number(answer?.headers["retry-after"]);
      await new Promise((r) =>
        setTimeout(r, Number.isFinite(retryAfter) && retryAfter >= 0 ? Math.min(retryAfter, 5) * 1000 : Math.min(2000, (o.retryDelayMs ?? 200) * 2 ** attempt)),
      );
    }
    if (answer === undefined) {
      fail(0, "transport_error", transportError);
      continue;
    }
    if (answer.status >= 300) {
      const e = errorOf(Buffer.from(answer.body));
      fail(answer.status, e.code, e.message);
      continue;
    }
    if (o.pinned && o.pinned.length > 0) {
      // The answer must be bound to this exact request, body included (envelope v2 "content-digest";req).
      const sent: SentRequest & { body: Uint8Array } = { method: "POST", path: req.path, query: "", body: req.body };
      try {
        verifyResponse(answer, sent, { key: o.pinned, nonce: req.answerNonce });
      } catch (err) {
        if (!(err instanceof VerificationError)) throw err;
        verified = false;
        fail(answer.status, `unverified_${err.code}`, err.message);
        continue;
      }
    }
    await o.onAnswer?.({ request: { method: "POST", path: req.path, body: req.body }, answerNonce: req.answerNonce, answer });
    let body: { written_by?: unknown; results?: unknown };
    try {
      body = JSON.parse(Buffer.from(answer.body).toString("utf8")) as typeof body;
    } catch {
      fail(answer.status, "bad_answer", "answer is not JSON");
      continue;
    }
    const results = Array.isArray(body.results) ? (body.results as PushRowResult[]) : [];
    if (results.length !== rows.length) {
      fail(answer.status, "bad_answer", `answer has ${results.length} results for ${rows.length} rows`);
      continue;
    }
    for (const r of results) {
      if (r.result === "written" || r.result === "unchanged" || r.result === "skipped_older" || r.result === "rejected") counts[r.result]++;
      else if (r.result === "conflict") counts.failed++;
      if (typeof r.written_by === "string") writers.add(r.written_by);
      o.onResult?.(r);
    }
    if (typeof body.written_by === "string") writers.add(body.written_by);
  }
  return { view: o.view, ...counts, verified: verified && counts.failed === 0, written_by: [...writers], errors, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** The pinned signer keys, decided exactly as `verify --key` does (a keyid pins the lane's offered key only if it matches). */
export async function pinnedKeys(o: { key?: string[]; jwk?: string; keyid?: string }, url: string): Promise<Ed25519Jwk[] | undefined> {
  const specs = [...(o.key ?? []), ...(o.jwk ? [o.jwk] : []), ...(o.keyid ? [o.keyid] : [])];
  if (specs.length === 0) return undefined;
  const io = { stdout: () => undefined, stderr: (t: string) => void process.stderr.write(t) };
  const anchor = await resolveTrustAnchor({ key: specs, root: "aws", devCa: "", maxAge: "300", skew: "5" }, new URL(url), io);
  return [...anchor.keys];
}

export function registerPushCommand(program: Command): void {
  writerKeyOptions(
    program
      .command("push")
      .description("push rows through the push API, signed with the writer key (≤ 100 rows per request); prints the outcome summary")
      .argument("<file>", 'JSONL, one row per line: {"entity", "event_time", "features"}')
      .requiredOption("--view <name>", "feature view")
      .addOption(new Option("--url <url>", "the lane (runtime) URL").env("EXPRESS_LANE_URL").default("http://127.0.0.1:8080"))
      .addOption(new Option("--api-key <key>", "writer API key for the host's gate (when the lane has API keys on)").env("EXPRESS_LANE_API_KEY"))
      .option("--key <jwk file|keyid>", "pin the signer key (repeat for a key set): verify every answer against the request and its body", (v: string, all: string[] = []) => [
        ...all,
        v,
      ])
      .addOption(new Option("--jwk <file>", "same as --key <file>").hideHelp())
      .addOption(new Option("--keyid <keyid>", "same as --key <keyid>").hideHelp())
      .addOption(new Option("--batch-size <n>", `rows per request (1..${MAX_PUSH_ROWS})`).default(String(MAX_PUSH_ROWS)))
      .addOption(new Option("--retries <n>", "re-sends (freshly signed) of a request without an answer or with a 503").default("2"))
      .option("--results <file>", "also write each row's outcome as JSONL")
      .addOption(new Option("--sequencer <url>", "report every answer to the view's checkpoint sequencer (provable freshness; docs/operations.md)").env("EXPRESS_LANE_SEQUENCER")),
  ).action(
    async (
      file: string,
      o: {
        view: string;
        url: string;
        apiKey?: string;
        key?: string[];
        jwk?: string;
        keyid?: string;
        batchSize: string;
        retries: string;
        results?: string;
        sequencer?: string;
        writerKeyFile: string;
        sealKeyFile?: string;
        sealKeyKms?: string;
        writer?: string;
        kmsEndpoint?: string;
      },
    ) => {
      const { keys } = await writerKeysFromOptions({ writerKeyFile: o.sealKeyFile ?? o.writerKeyFile, sealKeyKms: o.sealKeyKms, writer: o.writer, kmsEndpoint: o.kmsEndpoint });
      const pinned = await pinnedKeys(o, o.url);
      const lines: string[] = [];
      const unreported: string[] = [];
      const s = await push({
        url: o.url,
        view: o.view,
        key: keys[0]!,
        rows: readPushRows(file),
        batchSize: Number(o.batchSize),
        retries: Number(o.retries),
        pinned,
        apiKey: o.apiKey,
        onResult: o.results ? (r) => lines.push(JSON.stringify(r)) : undefined,
        onAnswer: o.sequencer ? (report) => reportAnswer(o.sequencer!, o.view, report, unreported) : undefined,
      });
      if (o.results) writeFileSync(o.results, lines.length ? `${lines.join("\n")}\n` : "");
      process.stdout.write(
        `view ${s.view}: ${s.rows} rows in ${s.requests} signed requests as ${keys[0]!.writer} (${keys[0]!.kid}), ${s.seconds.toFixed(2)} s\n` +
          `  written ${s.written}  unchanged ${s.unchanged}  skipped as older ${s.skipped_older}  rejected ${s.rejected}${s.failed ? `  failed ${s.failed}` : ""}\n` +
          `  answers ${pinned ? (s.verified ? "verified against the pinned signer key" : "NOT all verified") : "not verified (no --key pinned)"}${s.written_by.length ? `; written_by ${s.written_by.join(", ")}` : ""}\n` +
          s.errors.map((e) => `  request ${e.request}: ${e.status} ${e.code}: ${e.message}\n`).join(""),
      );
      if (unreported.length > 0)
        process.stdout.write(`  sequencer: ${unreported.length} answers NOT reported (${unreported[0]}); fresh_as_of of those entities lags until their next report\n`);
      if (s.rejected > 0 || s.failed > 0 || (pinned && !s.verified) || unreported.length > 0) process.exitCode = 1;
    },
  );
}

/** Report one push answer to the sequencer; a failure is noted, never thrown (the rows are stored either way). */
export async function reportAnswer(sequencer: string, view: string, report: PushAnswerReport, failures: string[]): Promise<void> {
  try {
    await sendPushAnswer(sequencer, view, report);
  } catch (err) {
    failures.push((err as Error).message);
  }
}
