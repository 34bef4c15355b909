/**
 * `express-lane parity`: offline/online parity. Reads a source file (the same formats and
 * validation as `load`), asks the lane for every entity in signed batch reads, verifies each
 * answer's signature, and compares event time and every feature value the source row carries.
 *
 * Kinds of difference: missing (no object online), refused (signed per-entity error such as
 * seal_invalid), stale_online (online event time older than the source), newer_online (online
 * event time newer: expected after later pushes, reported, not a mismatch), value (same event time,
 * different value), outside_max_age (the view's TTL withholds the value at read time).
 */
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { Command, Option } from "commander";
import { verifyResponse } from "../verifier/response";
import type { Ed25519Jwk } from "../wire/keys";
import { jwkThumbprint } from "../wire/keys";
import type { FeatureValue } from "../wire/object";
import type { Registry, ValidRow } from "../wire/registry";
import { lookupView } from "../wire/request";
import { DEFAULT_REGISTRY } from "../registry/views";
import { registryFor } from "./apply";
import { MAX_BATCH_ENTITIES } from "../wire/names";
import { formatOf, newestPerEntity, readSource } from "./sources";

export type DifferenceKind = "missing" | "refused" | "stale_online" | "newer_online" | "value" | "outside_max_age";

export interface Difference {
  readonly entity: string;
  readonly kind: DifferenceKind;
  readonly feature?: string;
  readonly source?: unknown;
  readonly online?: unknown;
  readonly detail?: string;
}

export interface ParityReport {
  readonly view: string;
  readonly entities: number;
  readonly matched: number;
  readonly mismatched: number;
  readonly newerOnline: number;
  readonly invalidRows: number;
  readonly differences: Difference[];
}

export interface ParityOptions {
  readonly file: string;
  readonly view: string;
  readonly url: string;
  readonly format?: string;
  /** Pinned signer key; default GET /v1/signer (unpinned). */
  readonly jwk?: Ed25519Jwk;
  readonly apiKey?: string;
  readonly registry?: Registry;
}

/** The JSON form the lane answers with: Dates as ISO strings. */
function jsonForm(value: FeatureValue): unknown {
  return value instanceof Date ? value.toISOString() : value;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

interface OnlineResult {
  entity: string;
  found: boolean;
  event_time?: string;
  features?: Record<string, unknown>;
  status?: Record<string, string>;
  error?: { code: string; message: string };
}

export async function parity(options: ParityOptions): Promise<ParityReport> {
  const view = lookupView(options.view, options.registry ?? DEFAULT_REGISTRY);
  const base = new URL(options.url);
  const headers: Record<string, string> = options.apiKey ? { "x-api-key": options.apiKey } : {};
  let jwk = options.jwk;
  if (!jwk) {
    const res = await fetch(new URL("/v1/signer", base), { headers });
    if (!res.ok) throw new Error(`GET /v1/signer answered ${res.status}`);
    jwk = ((await res.json()) as { jwk: Ed25519Jwk }).jwk;
  }
  const valid: Array<{ row: number; value: ValidRow }> = [];
  let invalidRows = 0;
  for await (const r of readSource(options.file, formatOf(options.file, options.format), view)) {
    if (r.result.ok) valid.push({ row: r.row, value: r.result.value });
    else invalidRows++;
  }
  const { winners } = newestPerEntity(valid);
  const differences: Difference[] = [];
  let matched = 0;
  let mismatched = 0;
  let newerOnline = 0;
  const path = `/v1/features/${view.name}/batch`;
  for (let i = 0; i < winners.length; i += MAX_BATCH_ENTITIES) {
    const chunk = winners.slice(i, i + MAX_BATCH_ENTITIES).map((w) => w.value);
    const nonce = randomBytes(12).toString("base64url");
    // The exact bytes we send: the signed answer is bound to them (envelope v2, "content-digest";req).
    const requestBody = Buffer.from(JSON.stringify({ entities: chunk.map((c) => c.entity) }));
    const res = await fetch(new URL(path, base), {
      method: "POST",
      headers: { ...headers, "content-type": "application/json", "accept-signature": `sig1=("@status");nonce="${nonce}"` },
      body: requestBody,
    });
    const received = { status: res.status, headers: Object.fromEntries(res.headers.entries()), body: Buffer.from(await res.arrayBuffer()) };
    if (res.status !== 200) throw new Error(`batch read answered ${res.status}: ${received.body.toString("utf8").slice(0, 200)}`);
    // Only signed, verified answers count as "what the lane serves".
    verifyResponse(received, { method: "POST", path, query: "", body: requestBody }, { key: jwk, nonce, skewSeconds: 30 });
    const body = JSON.parse(received.body.toString("utf8")) as { results: OnlineResult[] };
    chunk.forEach((src, k) => {
      const online = body.results[k];
      const before = differences.length;
      if (!online || online.entity !== src.entity) {
        differences.push({ entity: src.entity, kind: "missing", detail: "answer out of order" });
      } else if (!online.found) {
        differences.push({ entity: src.entity, kind: online.error?.code === "not_found" ? "missing" : "refused", detail: online.error?.code });
      } else {
        const onlineTime = Date.parse(online.event_time ?? "");
        if (onlineTime > src.event_time) {
          newerOnline++;
          return;
        }
        if (onlineTime < src.event_time) {
          differences.push({ entity: src.entity, kind: "stale_online", source: new Date(src.event_time).toISOString(), online: online.event_time });
        } else {
          for (const [name, value] of Object.entries(src.features)) {
            const status = online.status?.[name];
            if (status === "OUTSIDE_MAX_AGE") {
              differences.push({ entity: src.entity, kind: "outside_max_age", feature: name });
              break;
            }
            const want = jsonForm(value);
            const got = online.features?.[name];
            if (!sameValue(want, got)) differences.push({ entity: src.entity, kind: "value", feature: name, source: want, online: got });
          }
        }
      }
      if (differences.length > before) mismatched++;
      else matched++;
    });
  }
  return { view: view.name, entities: winners.length, matched, mismatched, newerOnline, invalidRows, differences };
}

export function registerParityCommand(program: Command): void {
  program
    .command("parity")
    .description("compare a source file with what the lane serves (signed, verified reads)")
    .argument("<file>", "source file (.jsonl/.csv/.parquet), same shape as for load")
    .requiredOption("--view <name>", "feature view")
    .addOption(new Option("--url <url>", "lane runtime").env("EXPRESS_LANE_URL").default("http://127.0.0.1:8080"))
    .option("--format <fmt>", "jsonl | csv | parquet")
    .addOption(new Option("--api-key <key>", "API key (reader role)").env("EXPRESS_LANE_API_KEY"))
    .option("--keyid <keyid>", "require this signer key id")
    .option("--report <file>", "write every difference as JSONL")
    .option("--show <n>", "differences to print", "20")
    .action(async (file: string, o: { view: string; url: string; format?: string; apiKey?: string; keyid?: string; report?: string; show: string }) => {
      let jwk: Ed25519Jwk | undefined;
      if (o.keyid) {
        const res = await fetch(new URL("/v1/signer", o.url), { headers: o.apiKey ? { "x-api-key": o.apiKey } : {} });
        jwk = ((await res.json()) as { jwk: Ed25519Jwk }).jwk;
        if (jwkThumbprint(jwk) !== o.keyid) throw new Error(`signer key is ${jwkThumbprint(jwk)}, expected ${o.keyid}`);
      }
      // Refuse a view the lane does not serve, and validate rows with the views it does serve.
      const registry = await registryFor(o.url, o.view, o.apiKey);
      const r = await parity({ file, view: o.view, url: o.url, format: o.format, apiKey: o.apiKey, jwk, registry });
      process.stdout.write(
        `view ${r.view}: ${r.entities} entities — ${r.matched} match, ${r.mismatched} differ, ${r.newerOnline} newer online` +
          (r.invalidRows ? `, ${r.invalidRows} invalid source rows skipped` : "") +
          "\n",
      );
      for (const d of r.differences.slice(0, Number(o.show))) process.stdout.write(`  ${JSON.stringify(d)}\n`);
      if (o.report) {
        const out = createWriteStream(o.report);
        for (const d of r.differences) out.write(`${JSON.stringify(d)}\n`);
        out.end();
      }
      if (r.mismatched > 0) process.exitCode = 1;
    });
}
