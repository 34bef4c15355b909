/**
 * `express-lane bench-data`: the benchmark's synthetic entities (dev/bench-data.ts, view
 * express_lane_bench) as a JSONL source file for `express-lane load`. This is how a deployed lane
 * gets the data the bundled benchmark reads: the bench workflow's seed step runs
 *
 *   express-lane bench-data --entities 2000 --out bench.jsonl
 *   express-lane load bench.jsonl --view express_lane_bench --seal-key-kms wrapped.json …
 *
 * as the writer role. The rows are exactly the objects a local benchmark run seeds.
 */
import { writeFileSync } from "node:fs";
import { Command, Option } from "commander";
import { BENCH_PROFILE } from "../registry/views";
import { sizedFeatureObject } from "../dev/bench-data";

/** One source row per entity: the view's entity key, event_time, and the features (times as ISO 8601). */
export function benchRows(count: number, bytes: number, now: number): Array<Record<string, unknown>> {
  return Array.from({ length: count }, (_, i) => {
    const object = sizedFeatureObject(i, bytes, now);
    const row: Record<string, unknown> = { [BENCH_PROFILE.entityKey]: object.entity, event_time: object.event_time };
    for (const [name, value] of Object.entries(object.features)) row[name] = value instanceof Date ? value.toISOString() : value;
    return row;
  });
}

export function registerBenchDataCommand(program: Command): void {
  const count = (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new Error(`--entities must be 1..1000000, got ${v}`);
    return n;
  };
  const size = (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 512 || n > 262_144) throw new Error(`--size must be 512..262144 bytes, got ${v}`);
    return n;
  };
  program
    .command("bench-data")
    .description(`write the benchmark's synthetic entities (view ${BENCH_PROFILE.name}) as JSONL, for \`express-lane load\``)
    .requiredOption("--out <file>", "JSONL file to write")
    .addOption(new Option("--entities <n>", "entities bench_000000 … (the benchmark's --entities)").argParser(count).default(2000))
    .addOption(new Option("--size <bytes>", "stored object size (the benchmark's --size)").argParser(size).default(4096))
    .action((o: { out: string; entities: number; size: number }) => {
      const rows = benchRows(o.entities, o.size, Date.now());
      writeFileSync(o.out, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
      process.stdout.write(`${rows.length} ${BENCH_PROFILE.name} rows → ${o.out}\n`);
    });
}
