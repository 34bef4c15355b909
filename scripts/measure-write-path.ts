/**
 * Quick figures for the write path and sealed reads on this machine (docs/object-layout.md):
 *
 *   1. seal / verify cost per ~4 KB object (in-process HMAC over the body);
 *   2. `express-lane load` throughput into the local lane (s3rver twin, conditional writes), run as
 *      a client runs it (the bundled CLI, pointed at the lane by its lane.json): first load (all
 *      written) and an idempotent re-load (all unchanged);
 *   3. signed read latency through the running lane (runtime → s3rver → signer with seal check),
 *      sequential (c=1) and 32 in flight, on the loaded objects.
 *
 *   npx tsx scripts/measure-write-path.ts [--entities 3000]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "undici";
import { buildBundles } from "../dev/build";
import { LANE_BUNDLES, startLane } from "../dev/lane/processes";
import { demoObject, DEMO_VIEW, demoEntityId } from "../dev/lane/demo-data";
import { readWriterKeyFile, writerKeyring } from "../dev/key-files";
import { percentile } from "../dev/percentile";

/** `express-lane load` as a client runs it; its summary line has the counts and the seconds. */
function cliLoad(dataDir: string, file: string): { entities: number; written: number; unchanged: number; seconds: number } {
  const out = execFileSync(process.execPath, [join(__dirname, "..", "dist", "cli.js"), "load", file, "--view", DEMO_VIEW, "--no-progress", "--data-dir", dataDir], {
    encoding: "utf8",
  });
  const summary = /(\d+) entities in ([\d.]+) s/.exec(out);
  const counts = /written (\d+)\s+unchanged (\d+)/.exec(out);
  if (!summary || !counts) throw new Error(`express-lane load printed no summary:\n${out}`);
  return { entities: Number(summary[1]), seconds: Number(summary[2]), written: Number(counts[1]), unchanged: Number(counts[2]) };
}

async function main(): Promise<void> {
  const i = process.argv.indexOf("--entities");
  const entities = i > 0 ? Number(process.argv[i + 1]) : 3000;
  await buildBundles([...LANE_BUNDLES, "cli"]);
  const dir = mkdtempSync(join(tmpdir(), "lane-measure-"));
  const lane = await startLane({ dataDir: dir, port: 0, demoEntities: 0, quiet: true });
  try {
    const seals = writerKeyring([readWriterKeyFile(lane.writerKeyFile)]);
    const now = Date.now();

    // 1. seal / open in process
    const objs = Array.from({ length: 2000 }, (_, k) => demoObject(k, now));
    let t = process.hrtime.bigint();
    const sealed = objs.map((o) => seals.seal(o));
    const sealUs = Number(process.hrtime.bigint() - t) / 1e3 / objs.length;
    t = process.hrtime.bigint();
    for (let k = 0; k < sealed.length; k++) if (!seals.open(sealed[k], DEMO_VIEW, objs[k].entity).ok) throw new Error("open failed");
    const openUs = Number(process.hrtime.bigint() - t) / 1e3 / objs.length;
    const size = sealed.reduce((a, b) => a + b.length, 0) / sealed.length;

    // 2. load throughput
    const file = join(dir, "demo.jsonl");
    writeFileSync(
      file,
      Array.from({ length: entities }, (_, k) => {
        const o = demoObject(k, now);
        return JSON.stringify({
          user_id: o.entity,
          event_time: o.event_time,
          ...Object.fromEntries(Object.entries(o.features).map(([n, v]) => [n, v instanceof Date ? v.toISOString() : v])),
        });
      }).join("\n"),
    );
    const first = cliLoad(dir, file);
    const again = cliLoad(dir, file);

    // 3. read latency
    const agent = new Agent({ connections: 64 });
    const once = async (k: number): Promise<number> => {
      const s = process.hrtime.bigint();
      const res = await request(`${lane.url}/v1/features/${DEMO_VIEW}/${demoEntityId(k % entities)}?features=country,risk_score,embedding_0`, { dispatcher: agent });
      await res.body.arrayBuffer();
      if (res.statusCode !== 200) throw new Error(`read answered ${res.statusCode}`);
      return Number(process.hrtime.bigint() - s) / 1e6;
    };
    for (let k = 0; k < 300; k++) await once(k); // warm up
    const seq: number[] = [];
    for (let k = 0; k < 2000; k++) seq.push(await once(k));
    const conc: number[] = [];
    let next = 0;
    const n = 6000;
    const startedC = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < n) conc.push(await once(next++));
      }),
    );
    const secondsC = Number(process.hrtime.bigint() - startedC) / 1e9;
    await agent.close();

    const out = {
      object_bytes_avg: Math.round(size),
      seal_us: +sealUs.toFixed(1),
      open_verify_decode_us: +openUs.toFixed(1),
      load_first: { entities: first.entities, written: first.written, seconds: +first.seconds.toFixed(2), per_s: Math.round(first.entities / first.seconds) },
      load_again: { unchanged: again.unchanged, seconds: +again.seconds.toFixed(2), per_s: Math.round(again.entities / again.seconds) },
      read_c1_ms: { p50: +percentile(seq, 50).toFixed(2), p99: +percentile(seq, 99).toFixed(2) },
      read_c32_ms: { p50: +percentile(conc, 50).toFixed(2), p99: +percentile(conc, 99).toFixed(2), rps: Math.round(n / secondsC) },
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } finally {
    await lane.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
