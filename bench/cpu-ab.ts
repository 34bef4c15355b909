/**
 * Lane A/B: CPU per read of the runtime and the signer, this tree against another checkout, both
 * lanes running at once from their own bundles (what production runs), wrk alternating between
 * them round by round so drift on this shared VM lands on both sides. The figure that found the
 * session-4 read-path regression (docs/performance.md, "Read path A/B").
 *
 *   git worktree add --detach /tmp/old <commit> && ln -s $PWD/node_modules /tmp/old/node_modules
 *   npx tsx bench/cpu-ab.ts /tmp/old [--rounds 4] [--duration 5] [--scenarios projected,full,batch]
 *
 * Both sides serve the demo view (`user_profile`, ids `user_NNNNNN`, loaded by each tree's own
 * startLane), so the workload is the same whatever the benchmark dataset was at that commit.
 */
import { existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Command, Option } from "commander";
import { findWrk, runWrk } from "./wrk";
import { processCpu } from "./proc-cpu";

/** The 10 demo features the signer micro-benchmarks project (bench/micro/signer-ab.ts). */
export const DEMO_TEN = ["country", "risk_score", "segment", "txn_count_1d", "flag_0", "spend_30d_cat_0", "spend_30d_cat_1", "device", "referrer", "signup_time"];
const DEMO_VIEW = "user_profile";
const demoId = (i: number) => `user_${String(i).padStart(6, "0")}`;

/** wrk Lua for the demo view: single reads (all or 10 features) rotating entities, or 100 × 10 batches. */
export type DemoKind = "full" | "projected" | "batch" | "batch-msgpack" | "batch-feast";

/**
 * One request of each kind, for answer sizes and checks: the batch kinds are the same 100 entities
 * × 10 features as rows in JSON (the default), rows in MessagePack (`Accept: application/msgpack`)
 * and Feast's columnar JSON (`POST /get-online-features`, docs/feast.md).
 */
export function demoRequest(kind: DemoKind, entities: number, b = 0): { method: string; path: string; headers: Record<string, string>; body?: string } {
  const ids = [...new Set(Array.from({ length: 100 }, (_, k) => demoId((b * 7919 + k * 13) % entities)))];
  const json = { "Content-Type": "application/json" };
  if (kind === "batch") return { method: "POST", path: `/v1/features/${DEMO_VIEW}/batch`, headers: json, body: JSON.stringify({ entities: ids, features: DEMO_TEN }) };
  if (kind === "batch-msgpack")
    return {
      method: "POST",
      path: `/v1/features/${DEMO_VIEW}/batch`,
      headers: { ...json, Accept: "application/msgpack" },
      body: JSON.stringify({ entities: ids, features: DEMO_TEN }),
    };
  if (kind === "batch-feast")
    return {
      method: "POST",
      path: "/get-online-features",
      headers: json,
      body: JSON.stringify({ entities: { user_id: ids }, features: DEMO_TEN.map((f) => `${DEMO_VIEW}:${f}`) }),
    };
  const query = kind === "projected" ? `?features=${DEMO_TEN.join(",")}` : "";
  return { method: "GET", path: `/v1/features/${DEMO_VIEW}/${demoId(b % entities)}${query}`, headers: {} };
}

export function demoScript(kind: DemoKind, entities: number): string {
  if (kind === "batch" || kind === "batch-msgpack" || kind === "batch-feast") {
    const requests = Array.from({ length: 16 }, (_, b) => demoRequest(kind, entities, b));
    const bodies = requests.map((r) => JSON.stringify(r.body));
    const headers = Object.entries(requests[0]!.headers)
      .map(([k, v]) => `["${k}"] = "${v}"`)
      .join(", ");
    return `local bodies = {${bodies.join(",\n")}}\nlocal i = 0\nlocal headers = { ${headers} }\nrequest = function()\n  i = i % #bodies + 1\n  return wrk.format("POST", "${requests[0]!.path}", headers, bodies[i])\nend\n`;
  }
  const query = kind === "projected" ? `?features=${DEMO_TEN.join(",")}` : "";
  return `local n = ${entities}\nlocal i = 0\nrequest = function()\n  i = (i + 7919) % n\n  return wrk.format("GET", "/v1/features/${DEMO_VIEW}/" .. string.format("user_%06d", i) .. "${query}")\nend\n`;
}

interface LaneLike {
  url: string;
  pids(): { runtime?: number; signer?: number };
  stop(): Promise<void>;
}

async function startTree(tree: string, entities: number, dataDir: string): Promise<LaneLike> {
  // The lane tooling moved from scripts/ to dev/ (#17); an older checkout still has it under scripts/.
  const moved = existsSync(join(tree, "dev/build.ts"));
  const build = (await import(join(tree, moved ? "dev/build" : "scripts/build"))) as { buildBundles(names: string[]): Promise<unknown> };
  await build.buildBundles(["runtime", "signer", "dev-signer", "local-store"]);
  const processes = (await import(join(tree, moved ? "dev/lane/processes" : "scripts/lane/processes"))) as { startLane(o: Record<string, unknown>): Promise<LaneLike> };
  return processes.startLane({ dataDir, port: 0, demoEntities: entities, storeKind: "memory", quiet: true });
}

async function main(): Promise<void> {
  const opts = new Command("bench-cpu-ab")
    .argument("<other>", "the other checkout")
    .addOption(new Option("--rounds <n>").argParser(Number).default(4))
    .addOption(new Option("--duration <s>", "measured seconds per run").argParser(Number).default(5))
    .addOption(new Option("--warmup <s>").argParser(Number).default(2))
    .addOption(new Option("--entities <n>").argParser(Number).default(2000))
    .addOption(new Option("-c, --concurrency <n>").argParser(Number).default(32))
    .addOption(new Option("--scenarios <list>", "full, projected, batch").default("projected"))
    .parse();
  const o = opts.opts<{ rounds: number; duration: number; warmup: number; entities: number; concurrency: number; scenarios: string }>();
  const other = resolve(opts.args[0]);
  const here = resolve(__dirname, "..");
  if (!existsSync(join(other, "enclave/signer.ts"))) throw new Error(`${other} is not a checkout`);
  if (!existsSync(join(other, "node_modules"))) symlinkSync(join(here, "node_modules"), join(other, "node_modules"));
  const wrk = findWrk();
  if (!wrk) throw new Error("wrk is not installed (apt-get install wrk)");
  const dirs = { other: mkdtempSync(join(tmpdir(), "lane-ab-other-")), this: mkdtempSync(join(tmpdir(), "lane-ab-this-")) };
  const lanes = { other: await startTree(other, o.entities, dirs.other), this: await startTree(here, o.entities, dirs.this) };
  const samples = new Map<string, { runtime: number[]; signer: number[]; rps: number[]; p50: number[]; p99: number[]; errors: number }>();
  process.stdout.write(
    `bench/cpu-ab — ${cpus().length} × ${cpus()[0]?.model ?? "?"}, node ${process.version}, memory store, load average ${loadavg()[0].toFixed(2)} before\nother = ${other}\n`,
  );
  try {
    for (let round = 0; round < o.rounds; round++) {
      for (const kind of o.scenarios.split(",") as ("full" | "projected" | "batch")[]) {
        const c = kind === "batch" ? 1 : o.concurrency;
        for (const name of round % 2 ? (["other", "this"] as const) : (["this", "other"] as const)) {
          const lane = lanes[name];
          const lua = demoScript(kind, o.entities);
          await runWrk(wrk, lane.url, lua, c, { duration: o.warmup }, dirs.this);
          const pids = lane.pids();
          const before = { runtime: processCpu(pids.runtime), signer: processCpu(pids.signer) };
          const r = await runWrk(wrk, lane.url, lua, c, { duration: o.duration }, dirs.this);
          const key = `${kind}|${name}`;
          const s = samples.get(key) ?? { runtime: [], signer: [], rps: [], p50: [], p99: [], errors: 0 };
          s.runtime.push((processCpu(pids.runtime) - before.runtime) / r.requests);
          s.signer.push((processCpu(pids.signer) - before.signer) / r.requests);
          s.rps.push(r.rps);
          s.p50.push(r.p50);
          s.p99.push(r.p99);
          s.errors += r.errors;
          samples.set(key, s);
          process.stdout.write(
            `round ${round + 1} ${kind} ${name}: ${r.rps.toFixed(0)} req/s, P50 ${r.p50.toFixed(2)} P99 ${r.p99.toFixed(2)} ms, runtime ${s.runtime.at(-1)!.toFixed(0)} µs, signer ${s.signer.at(-1)!.toFixed(0)} µs${r.errors ? `, ${r.errors} ERRORS` : ""}\n`,
          );
        }
      }
    }
  } finally {
    await Promise.all([lanes.other.stop(), lanes.this.stop()]);
    for (const d of Object.values(dirs)) rmSync(d, { recursive: true, force: true });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  process.stdout.write(
    `\nmedians of ${o.rounds} rounds, load average ${loadavg()[0].toFixed(2)} after\n| scenario | other req/s | this req/s | other P50 / P99 ms | this P50 / P99 ms | other runtime µs | this runtime µs | other signer µs | this signer µs | runtime this/other |\n|---|---|---|---|---|---|---|---|---|---|\n`,
  );
  for (const kind of o.scenarios.split(",")) {
    const a = samples.get(`${kind}|other`)!;
    const b = samples.get(`${kind}|this`)!;
    const f = (x: number[]) => median(x).toFixed(0);
    process.stdout.write(
      `| ${kind} | ${f(a.rps)} | ${f(b.rps)} | ${median(a.p50).toFixed(2)} / ${median(a.p99).toFixed(2)} | ${median(b.p50).toFixed(2)} / ${median(b.p99).toFixed(2)} | ${f(a.runtime)} | ${f(b.runtime)} | ${f(a.signer)} | ${f(b.signer)} | ${(median(b.runtime) / median(a.runtime)).toFixed(2)}× (per round ${b.runtime.map((x, i) => (x / a.runtime[i]!).toFixed(2)).join(", ")}) |${a.errors + b.errors ? ` errors ${a.errors}/${b.errors}` : ""}\n`,
    );
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench-cpu-ab failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
