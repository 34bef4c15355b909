/**
 * CPU profiles of the lane's two processes under one load (docs/performance.md "Session 7"): a
 * local lane from the bundles (memory store, 2,000 demo entities, sequencer on) with both
 * processes under `node --cpu-prof`, wrk warm-up then a measured run of one scenario, and each
 * profile summarised — the top functions by self and by inclusive share of all samples.
 *
 *   npx tsx bench/profile-lane.ts [projected|full|batch] [out-dir] [top=40]
 *
 * Profiling slows both processes; read shares, not rates. Needs wrk. EXPRESS_LANE_BENCH_SEQUENCER=off
 * starts the lane without its sequencer (reads carry no proofs: what provable freshness costs).
 */
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBundles } from "../dev/build";
import { startLane } from "../dev/lane/processes";
import { findWrk, runWrk } from "./wrk";
import { demoScript } from "./cpu-ab";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
}

/** Self and inclusive sample shares per function (name, file, line), highest first. */
export function summarise(profile: Profile, top: number): { self: Array<[string, number]>; inclusive: Array<[string, number]> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n: ProfileNode) => `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.split("/").slice(-2).join("/")}:${n.callFrame.lineNumber}`;
  const counts = new Map<number, number>();
  for (const s of profile.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, c] of counts) {
    self.set(name(byId.get(id)!), (self.get(name(byId.get(id)!)) ?? 0) + c);
    const seen = new Set<string>();
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const k = name(byId.get(x)!);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + c);
    }
  }
  const total = profile.samples.length;
  const ranked = (m: Map<string, number>) =>
    [...m]
      .map(([k, c]): [string, number] => [k, c / total])
      .sort((a, b) => b[1] - a[1])
      .slice(0, top);
  return { self: ranked(self), inclusive: ranked(inclusive) };
}

async function main(): Promise<void> {
  const kind = (process.argv[2] ?? "projected") as "projected" | "full" | "batch";
  const out = process.argv[3] ?? mkdtempSync(join(tmpdir(), "express-lane-profile-"));
  const top = Number(process.argv[4] ?? 40);
  const wrk = findWrk();
  if (!wrk) throw new Error("wrk is not installed (apt-get install wrk)");
  await buildBundles(["runtime", "dev-signer", "local-store"]);
  const dataDir = mkdtempSync(join(tmpdir(), "express-lane-profile-lane-"));
  const lane = await startLane({
    dataDir,
    port: 0,
    demoEntities: 2000,
    storeKind: "memory",
    quiet: true,
    // EXPRESS_LANE_BENCH_SEQUENCER=off: no checkpoint sequencer, so reads carry no proofs (as bench/cpu.ts).
    sequencer: process.env.EXPRESS_LANE_BENCH_SEQUENCER !== "off",
    nodeArgs: { runtime: ["--cpu-prof", `--cpu-prof-dir=${join(out, "runtime")}`], signer: ["--cpu-prof", `--cpu-prof-dir=${join(out, "signer")}`] },
  });
  const c = kind === "batch" ? 1 : 32;
  await runWrk(wrk, lane.url, demoScript(kind, 2000), c, { duration: 3 }, dataDir);
  const r = await runWrk(wrk, lane.url, demoScript(kind, 2000), c, { duration: 10 }, dataDir);
  await lane.stop(); // the profiles are written as the processes exit
  process.stdout.write(`profile-lane — ${kind}, c=${c}, ${r.requests} requests in 10 s under the profiler; profiles in ${out}\n`);
  for (const proc of ["runtime", "signer"]) {
    for (const f of readdirSync(join(out, proc)).filter((f) => f.endsWith(".cpuprofile"))) {
      const s = summarise(JSON.parse(readFileSync(join(out, proc, f), "utf8")) as Profile, top);
      process.stdout.write(`\n== ${proc} (${f})\n-- self\n`);
      for (const [k, v] of s.self) process.stdout.write(`${(100 * v).toFixed(1).padStart(5)} % ${k}\n`);
      process.stdout.write(`-- inclusive\n`);
      for (const [k, v] of s.inclusive) process.stdout.write(`${(100 * v).toFixed(1).padStart(5)} % ${k}\n`);
    }
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`profile-lane failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
