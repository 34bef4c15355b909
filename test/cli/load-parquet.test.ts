/**
 * `express-lane load` / `parity` with Parquet input, run as the CLI (a subprocess: hyparquet is
 * ESM-only and ts-jest runs CommonJS) against a running lane: every merchant_risk type round-trips
 * through a signed read, INT64 beyond 2^53 and bad rows are rejected with their row numbers, row
 * groups are read one at a time, and the bundled dist/cli.js reads Parquet too.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBundles } from "../../dev/build";
import { LANE_BUNDLES, startLane, Lane } from "../../dev/lane/processes";
import { verifyResponse } from "../../verifier/response";
import type { Ed25519Jwk } from "../../wire/keys";

const ROOT = join(__dirname, "..", "..");
let lane: Lane;
let dir: string;
let jwk: Ed25519Jwk;
const NOW = Date.now();
const NOW_S = Math.floor(NOW / 1000) * 1000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[]): Promise<Run> {
  // No inherited EXPRESS_LANE_* settings: every option is explicit.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("EXPRESS_LANE_")));
  return new Promise((resolve) => {
    execFile(process.execPath, [...(file.endsWith(".ts") ? ["--import", "tsx"] : []), file, ...args], { cwd: ROOT, env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const storeArgs = (): string[] => ["--endpoint", lane.storeEndpoint, "--bucket", lane.bucket, "--writer-key-file", lane.writerKeyFile, "--no-progress"];

/** The merchant_risk columns as Parquet types: INT64 int, DOUBLE float, UTF8 string, BOOLEAN, LIST<FLOAT>, TIMESTAMP(MICROS). */
const SCHEMA = [
  { name: "root", num_children: 8 },
  { name: "merchant_id", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "REQUIRED" },
  { name: "event_time", type: "INT64", repetition_type: "OPTIONAL", logical_type: { type: "TIMESTAMP", isAdjustedToUTC: true, unit: "MILLIS" } },
  { name: "chargeback_rate", type: "DOUBLE", repetition_type: "OPTIONAL" },
  { name: "txn_count_1h", type: "INT64", repetition_type: "OPTIONAL" },
  { name: "category", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" },
  { name: "is_high_risk", type: "BOOLEAN", repetition_type: "OPTIONAL" },
  { name: "risk_embedding", repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
  { name: "list", repetition_type: "REPEATED", num_children: 1 },
  { name: "element", type: "FLOAT", repetition_type: "OPTIONAL" },
  { name: "last_chargeback_time", type: "INT64", repetition_type: "OPTIONAL", logical_type: { type: "TIMESTAMP", isAdjustedToUTC: true, unit: "MICROS" } },
];

const big = (n: number | string) => ({ $bigint: String(n) });
const date = (ms: number) => ({ $date: ms });

/** Rows 1..5 in row groups of 2: ok, ok, INT64 beyond 2^53, all-null features, embedding of 3. */
const COLUMNS = {
  merchant_id: ["m-pq-1", "m-pq-2", "m-pq-big", "m-pq-nulls", "m-pq-short"],
  event_time: [date(NOW_S - 60_000), date(NOW_S - 30_000), date(NOW_S - 1000), date(NOW_S - 1000), date(NOW_S - 1000)],
  chargeback_rate: [0.0125, 1e-9, 0.5, null, 0.5],
  txn_count_1h: [big(42), big(-7), big("9007199254740993"), null, big(1)],
  category: ["5411", "ünï ✓", "x", null, "x"],
  is_high_risk: [false, true, false, null, false],
  risk_embedding: [[0.5, -0.25, 1, 0], [1, 2, 3, 4], [0, 0, 0, 0], null, [1, 2, 3]],
  last_chargeback_time: [date(Date.parse("2025-01-31T12:00:00.123Z")), date(Date.parse("2025-02-01T00:00:00Z")), null, null, null],
};

async function parquetFile(name: string): Promise<string> {
  const spec = join(dir, `${name}.spec.json`);
  const out = join(dir, name);
  writeFileSync(spec, JSON.stringify({ schema: SCHEMA, columns: COLUMNS, rowGroupSize: 2 }));
  const r = await run(join(ROOT, "test/cli/write-parquet.ts"), [spec, out]);
  if (r.code !== 0) throw new Error(`write-parquet failed: ${r.stderr}`);
  return out;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are walked freely in assertions
async function read(entity: string): Promise<{ status: number; json: any }> {
  const path = `/v1/features/merchant_risk/${encodeURIComponent(entity)}`;
  const res = await fetch(`${lane.url}${path}`);
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = v));
  const body = Buffer.from(await res.arrayBuffer());
  verifyResponse({ status: res.status, headers, body }, { method: "GET", path, query: "" }, { key: jwk });
  return { status: res.status, json: JSON.parse(body.toString()) };
}

beforeAll(async () => {
  await buildBundles([...LANE_BUNDLES, "cli"]);
  dir = mkdtempSync(join(tmpdir(), "lane-parquet-"));
  lane = await startLane({ dataDir: dir, port: 0, demoEntities: 0, quiet: true });
  for (let i = 0; i < 200 && !jwk; i++) {
    const res = await fetch(`${lane.url}/v1/signer`);
    if (res.status === 200) jwk = ((await res.json()) as { jwk: Ed25519Jwk }).jwk;
    else await new Promise((r) => setTimeout(r, 25));
  }
  if (!jwk) throw new Error("signer key never became available");
}, 180_000);

afterAll(async () => {
  await lane?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("express-lane load <file.parquet>", () => {
  it("round-trips every type through a signed read; rejects INT64 beyond 2^53 and bad rows with row numbers", async () => {
    const file = await parquetFile("m.parquet");
    const r = await run(join(ROOT, "cli/main.ts"), ["load", file, "--view", "merchant_risk", ...storeArgs()]);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(1); // there are rejects
    expect(r.stdout).toMatch(/5 rows, 3 entities/);
    expect(r.stdout).toMatch(/written 3 {2}unchanged 0 {2}skipped as older 0 {2}rejected 2/);

    const rejects = readFileSync(`${file}.rejects.jsonl`, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(rejects.map((x: { row: number; entity: string; code: string }) => [x.row, x.entity, x.code])).toEqual([
      [3, "m-pq-big", "bad_value"],
      [5, "m-pq-short", "bad_value"],
    ]);
    expect(rejects[0].reason).toMatch(/txn_count_1h: INT64 value 9007199254740993 is beyond Number.MAX_SAFE_INTEGER/);
    expect(rejects[1].reason).toMatch(/exactly 4 numbers/);

    const one = await read("m-pq-1");
    expect(one.status).toBe(200);
    expect(one.json.event_time).toBe(new Date(NOW_S - 60_000).toISOString());
    expect(one.json.features).toEqual({
      chargeback_rate: 0.0125,
      txn_count_1h: 42,
      category: "5411",
      is_high_risk: false,
      risk_embedding: [0.5, -0.25, 1, 0],
      last_chargeback_time: "2025-01-31T12:00:00.123Z",
    });
    expect(Object.values(one.json.status)).toEqual(Array(6).fill("PRESENT"));
    const two = await read("m-pq-2");
    expect(two.json.features).toEqual({
      chargeback_rate: 1e-9,
      txn_count_1h: -7,
      category: "ünï ✓",
      is_high_risk: true,
      risk_embedding: [1, 2, 3, 4],
      last_chargeback_time: "2025-02-01T00:00:00.000Z",
    });
    const nulls = await read("m-pq-nulls");
    expect(new Set(Object.values(nulls.json.status))).toEqual(new Set(["NULL_VALUE"]));
    // The rejected row was not written: the entity is unknown to the lane.
    expect((await read("m-pq-big")).status).toBe(404);
  }, 120_000);

  it("the bundled dist/cli.js reads Parquet too (--format parquet on any name): re-load is idempotent, parity matches", async () => {
    const file = await parquetFile("m.bin");
    const cli = join(ROOT, "dist/cli.js");
    const noFormat = await run(cli, ["load", file, "--view", "merchant_risk", ...storeArgs()]);
    expect(noFormat.code).not.toBe(0);
    expect(noFormat.stderr).toMatch(/--format jsonl\|csv\|parquet/);

    // Runs after the first test (same lane): the three valid entities are already there.
    const again = await run(cli, ["load", file, "--format", "parquet", "--view", "merchant_risk", ...storeArgs()]);
    expect(again.stdout).toMatch(/written 0 {2}unchanged 3 {2}skipped as older 0 {2}rejected 2/);

    const p = await run(cli, ["parity", file, "--format", "parquet", "--view", "merchant_risk", "--url", lane.url]);
    expect(p.stdout).toMatch(/3 entities — 3 match, 0 differ/);
    expect(p.code).toBe(0);
  }, 120_000);
});
