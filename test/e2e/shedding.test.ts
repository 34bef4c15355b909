/**
 * Load shedding, short non-timed variant (figures: scripts/overload.ts, docs/operations.md): with
 * the store made slow (a delaying proxy) and 5× more concurrent callers than --max-in-flight, the
 * runtime answers the excess with a 503 `overloaded` + Retry-After, every admitted request succeeds
 * signed, and the in-flight gauge never exceeds the bound (so admitted requests wait for the store,
 * not for a queue of callers). Latencies are printed, not asserted: this is a shared 2-vCPU machine.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBundles } from "../../dev/build";
import { startLane, Lane } from "../../dev/lane/processes";
import { RuntimeChild, spawnRuntime } from "../../dev/lane/children";
import { DEMO_VIEW, demoEntityId } from "../../dev/lane/demo-data";
import { httpClosedLoop, type Result } from "../../dev/http-load";
import { percentile } from "../../dev/percentile";
import { errorShape, FaultProxy, portOf, signerKeyOf, verifies } from "./helpers/hardening";

let lane: Lane;
let dir: string;
let proxy: FaultProxy;
let runtime: RuntimeChild;
const MAX = 4;
const DELAY = 40;

beforeAll(async () => {
  await buildBundles(["runtime", "dev-signer", "local-store"]);
  dir = mkdtempSync(join(tmpdir(), "lane-shed-"));
  lane = await startLane({ dataDir: dir, port: 0, demoEntities: 20, quiet: true });
  proxy = new FaultProxy(portOf(lane.storeEndpoint));
  const endpoint = await proxy.start();
  proxy.setMode("delay", DELAY);
  runtime = await spawnRuntime(lane, { signerSocket: lane.signerSocket, storeEndpoint: endpoint, env: { EXPRESS_LANE_MAX_IN_FLIGHT: String(MAX) }, waitForReady: true });
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
  await proxy?.stop();
  await lane?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it(`sheds beyond --max-in-flight ${MAX} at once, and every admitted request succeeds signed`, async () => {
  const jwk = await signerKeyOf(runtime.url);
  const problems: string[] = [];
  const shedMs: number[] = [];
  const check = (r: Result): void => {
    if (r.status === 200) {
      const p = verifies({ status: r.status, headers: r.headers, body: r.body, ms: r.ms }, "GET", r.shot.path, jwk);
      if (p) problems.push(p);
    } else if (r.status === 503) {
      shedMs.push(r.ms);
      if (errorShape({ status: r.status, headers: r.headers, body: r.body, ms: r.ms }).code !== "overloaded") problems.push(`503 ${r.body.toString()}`);
      if (r.headers["retry-after"] !== "1") problems.push("503 without Retry-After");
    } else problems.push(`status ${r.status} ${r.error ?? r.body.toString().slice(0, 80)}`);
  };
  let maxGauge = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const text = await (await fetch(`${runtime.url}/metrics`)).text();
      maxGauge = Math.max(maxGauge, Number(/^lane_in_flight_requests (\d+)/m.exec(text)?.[1] ?? NaN));
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  const s = await httpClosedLoop({
    url: runtime.url,
    concurrency: MAX * 5,
    durationMs: 3000,
    keepBodies: true,
    next: (i) => ({ path: `/v1/features/${DEMO_VIEW}/${demoEntityId(i % 20)}?features=country` }),
    onResult: check,
  });
  sampling = false;
  await sampler;
  const ok = s.latencies["200"] ?? [];
  process.stdout.write(
    `shedding: ${JSON.stringify(s.byStatus)} in ${s.seconds.toFixed(1)} s; admitted p50 ${percentile(ok, 50).toFixed(1)} ms p99 ${percentile(ok, 99).toFixed(1)} ms; shed p99 ${percentile(shedMs, 99).toFixed(1)} ms; in-flight gauge max ${maxGauge}\n`,
  );
  expect([...new Set(problems)]).toEqual([]);
  expect(s.byStatus["503"]).toBeGreaterThan(0);
  expect(ok.length).toBeGreaterThan(0);
  // Never more than MAX requests past the gate (NaN would fail: the gauge must be exported).
  expect(maxGauge).toBeGreaterThan(0);
  expect(maxGauge).toBeLessThanOrEqual(MAX);
  expect(runtime.alive()).toBe(true);
}, 60_000);
