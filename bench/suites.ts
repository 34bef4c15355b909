/** The suites: default (direct, single, projected, batch, wrk, peer, half load) and hedging (SIMULATION store). (Split out of bench/main.ts by job, issue #17.) */
import { benchEntityId, defaultWorkload, directSender, LaneTarget, type ReadKind } from "./targets";
import { type BenchResult, type ScenarioResult } from "./report";
import { addedLatency } from "../dev/stats";
import { traceSize } from "./trace-report";
import { PEER_SCRIPT, startPeer } from "./peer";
import { processCpu } from "./proc-cpu";
import type { ObjectStore } from "../runtime/store/types";
import { MemoryStore } from "../runtime/store/memory-store";
import { HedgedStore } from "../runtime/store/hedged-store";
import { parseLatencyModel, SimulatedLatencyStore } from "../runtime/store/simulated-latency";
import { seededRandom } from "../dev/random";
import { objectKey } from "../wire/object";
import { sizedObject } from "./targets";
import type { Ed25519Jwk } from "../wire/keys";
import { BenchOptions } from "./options";
import { MetricsSnapshot, scrape, PhaseSpec, runPhase, tracedBreakdown, type RssSource } from "./phase";
import { WrkResult, findWrk, singleScript, batchScript, runWrk, wrkScenario } from "./wrk";
import { startLocal } from "./local";

export async function defaultSuite(
  opts: BenchOptions,
  url: string,
  key: { keyid: string; jwk: Ed25519Jwk },
  direct: ObjectStore | undefined,
  storeLabel: string,
  scratch: string,
  wrkCpu: string | undefined,
  log: (s: string) => void,
  pids?: () => { readonly runtime?: number; readonly signer?: number },
): Promise<{ scenarios: ScenarioResult[]; added?: BenchResult["added"]; maxRps: number; wrk?: WrkResult; cpuPerRead?: BenchResult["cpuPerRead"] }> {
  const w = defaultWorkload(opts.entities, opts.batchSize);
  // A local lane's RSS from /proc (free); a remote one's from /metrics.
  const rssFrom: RssSource = pids ? { pid: () => pids().runtime } : { url };
  const lane = new LaneTarget(url, opts.concurrency, key.jwk, opts.verifyShare, 11);
  const batchLane = new LaneTarget(url, opts.batchConcurrency, key.jwk, Math.max(opts.verifyShare, 0.1), 12);
  const scenarios: ScenarioResult[] = [];
  const c = opts.concurrency;
  const closed = (name: string, label: string, kind: ReadKind): PhaseSpec => ({
    name,
    label,
    target: "lane",
    send: (kind === "batch" ? batchLane : lane).sender(kind, w),
    mode: "closed",
    concurrency: kind === "batch" ? opts.batchConcurrency : c,
    laneTarget: kind === "batch" ? batchLane : lane,
  });
  try {
    if (direct)
      scenarios.push(
        await runPhase(
          { name: "direct", label: `Direct store GET (${storeLabel}), c=${c}`, target: "direct", send: directSender(direct, w), mode: "closed", concurrency: c },
          opts,
          undefined,
        ),
      );
    const single = await runPhase(closed("single", `Signed single read, c=${c}`, "single"), opts, rssFrom);
    scenarios.push(single);
    scenarios.push(await runPhase(closed("projected", `Signed read, 10 features, c=${c}`, "projected"), opts, rssFrom));
    scenarios.push(await runPhase(closed("batch", `Signed batch ${opts.batchSize}×10 features, c=${opts.batchConcurrency}`, "batch"), opts, rssFrom));
    let wrk: WrkResult | undefined;
    let cpuPerRead: BenchResult["cpuPerRead"];
    let peerSkipped: string | undefined;
    const wrkBin = opts.wrk ? findWrk() : undefined;
    if (wrkBin) {
      log(`wrk: ${opts.duration}s, c=${c}…`);
      let from = opts.traceFile ? traceSize(opts.traceFile) : undefined;
      wrk = await runWrk(wrkBin, url, singleScript(w), c, opts, scratch, wrkCpu);
      scenarios.push({
        ...wrkScenario(wrk, opts, "single (wrk)", `Signed single read, wrk c=${c}`, c),
        breakdown: from !== undefined ? await tracedBreakdown(opts.traceFile!, from) : undefined,
      });
      log(`wrk: ${opts.duration}s, batch c=${opts.batchConcurrency}…`);
      from = opts.traceFile ? traceSize(opts.traceFile) : undefined;
      const batch = await runWrk(wrkBin, url, batchScript(w), opts.batchConcurrency, opts, scratch, wrkCpu);
      scenarios.push({
        ...wrkScenario(batch, opts, "batch (wrk)", `Signed batch ${opts.batchSize}×10 features, wrk c=${opts.batchConcurrency}`, opts.batchConcurrency),
        breakdown: from !== undefined ? await tracedBreakdown(opts.traceFile!, from) : undefined,
      });
      // Goal 4 (CPU per read) from the 10-feature wrk run: each lane process's /proc CPU / requests.
      log(`wrk: ${opts.duration}s, 10 features c=${c}…`);
      from = opts.traceFile ? traceSize(opts.traceFile) : undefined;
      const ids = pids?.();
      const cpu0 = { runtime: processCpu(ids?.runtime), signer: processCpu(ids?.signer) };
      const projectedWrk = await runWrk(wrkBin, url, singleScript(w, true), c, opts, scratch, wrkCpu);
      const cpu1 = { runtime: processCpu(ids?.runtime), signer: processCpu(ids?.signer) };
      scenarios.push({
        ...wrkScenario(projectedWrk, opts, "projected (wrk)", `Signed read, 10 features, wrk c=${c}`, c),
        breakdown: from !== undefined ? await tracedBreakdown(opts.traceFile!, from) : undefined,
      });
      if (ids && projectedWrk.requests > 0)
        cpuPerRead = {
          runtimeUs: (cpu1.runtime - cpu0.runtime) / projectedWrk.requests,
          signerUs: (cpu1.signer - cpu0.signer) / projectedWrk.requests,
          requests: projectedWrk.requests,
          tracing: opts.traceFile !== undefined,
        };
      // Goal 2's peer: node:http + Redis GET (and the fixed-body floor), same wrk settings, same run.
      if (pids) {
        const peer = await startPeer(opts.entities);
        try {
          if (peer.skipped) log(`peer: ${peer.skipped}`);
          log(`wrk: ${opts.duration}s, peer floor c=${c}…`);
          scenarios.push({
            ...wrkScenario(
              await runWrk(wrkBin, peer.floorUrl, PEER_SCRIPT, c, opts, scratch, wrkCpu),
              opts,
              "peer floor (wrk)",
              `Peer: node:http fixed 4 KB (floor), wrk c=${c}`,
              c,
            ),
            target: "peer",
          });
          if (peer.redisUrl) {
            log(`wrk: ${opts.duration}s, peer node:http + Redis c=${c}…`);
            scenarios.push({
              ...wrkScenario(
                await runWrk(wrkBin, peer.redisUrl, PEER_SCRIPT, c, opts, scratch, wrkCpu),
                opts,
                "peer redis (wrk)",
                `Peer: node:http + Redis GET 4 KB, unsigned, wrk c=${c}`,
                c,
              ),
              target: "peer",
            });
          } else peerSkipped = peer.skipped;
        } finally {
          await peer.stop();
        }
      }
    }
    const maxRps = Math.max(single.summary.rps, wrk?.rps ?? 0);
    // Half of the max load this generator reached (the Node generator's own max: its open loop
    // cannot be driven harder than it can drive the lane closed-loop).
    const rate = Math.round(opts.halfRate ?? single.summary.rps / 2);
    let added: BenchResult["added"];
    // Same connection count as the closed loop: requests beyond it wait in the generator (and that
    // wait is charged to them), rather than tripping the runtime's in-flight shedding (default 64).
    const openLane = new LaneTarget(url, c, key.jwk, opts.verifyShare, 13);
    try {
      let directHalf: ScenarioResult | undefined;
      if (direct) {
        directHalf = await runPhase(
          { name: "direct@half", label: `Direct store GET, open ${rate} req/s`, target: "direct", send: directSender(direct, w, 3), mode: "open", concurrency: c, rate },
          opts,
          undefined,
        );
        scenarios.push(directHalf);
      }
      const laneHalf = await runPhase(
        {
          name: "single@half",
          label: `Signed single read, open ${rate} req/s`,
          target: "lane",
          send: openLane.sender("single", w),
          mode: "open",
          concurrency: c,
          rate,
          laneTarget: openLane,
        },
        opts,
        rssFrom,
      );
      scenarios.push(laneHalf);
      if (directHalf) added = { rate, ...addedLatency(laneHalf.summary, directHalf.summary) };
    } finally {
      await openLane.close();
    }
    return {
      scenarios,
      added,
      maxRps,
      wrk,
      cpuPerRead: cpuPerRead
        ? { ...cpuPerRead, ...(peerSkipped ? { peerSkipped } : {}) }
        : peerSkipped
          ? { runtimeUs: NaN, signerUs: NaN, requests: 0, tracing: false, peerSkipped }
          : undefined,
    };
  } finally {
    await lane.close();
    await batchLane.close();
  }
}

export async function hedgingSuite(opts: BenchOptions, log: (s: string) => void): Promise<{ scenarios: ScenarioResult[]; hedging: NonNullable<BenchResult["hedging"]> }> {
  const w = defaultWorkload(opts.entities, opts.batchSize);
  const scenarios: ScenarioResult[] = [];
  const runs: Record<"off" | "on", { p99: number; snap?: MetricsSnapshot }> = { off: { p99: NaN }, on: { p99: NaN } };
  // 1. Store level, in this process: the runtime's store stack (HedgedStore → SIMULATION latency →
  //    in-memory objects), open loop. Isolates hedging from the lane's CPU time (and from other
  //    load on a shared machine, which swamps a few-ms effect end to end).
  const now = Date.now();
  const objects = Array.from({ length: w.entities }, (_, i) => [objectKey(w.view, benchEntityId(i)), sizedObject(i, opts.size, now)] as const);
  const storeP99: Record<"off" | "on", number> = { off: NaN, on: NaN };
  let storeHedges = { sent: 0, won: 0, gets: 0 };
  for (const mode of ["off", "on"] as const) {
    const sim = new SimulatedLatencyStore(new MemoryStore(objects), { model: parseLatencyModel(opts.hedgeModel), random: seededRandom(7) });
    const hedged = mode === "on" ? new HedgedStore(sim, { maxRatio: opts.hedgeMaxRatio }) : undefined;
    const s = await runPhase(
      {
        name: `store-hedge-${mode}`,
        label: `SIMULATION store GET (in-process), hedging ${mode}, open ${opts.hedgeRate * 4} req/s`,
        target: "direct",
        send: directSender(hedged ?? sim, w, 5),
        mode: "open",
        concurrency: 1024,
        rate: opts.hedgeRate * 4,
        simulation: `SIMULATION ${opts.hedgeModel}`,
      },
      { ...opts, duration: opts.duration * 2 },
      undefined,
    );
    scenarios.push(s);
    storeP99[mode] = s.summary.p99;
    if (hedged) storeHedges = { sent: hedged.sent, won: hedged.won, gets: hedged.gets };
  }
  // 2. End to end: the lane with the SIMULATION store, hedging off then on, same open-loop load.
  for (const mode of ["off", "on"] as const) {
    log(`hedging suite: lane with SIMULATION ${opts.hedgeModel}, hedging ${mode}…`);
    const local = await startLocal(opts, { EXPRESS_LANE_STORE_LATENCY: opts.hedgeModel, EXPRESS_LANE_HEDGE: mode, EXPRESS_LANE_HEDGE_MAX_RATIO: String(opts.hedgeMaxRatio) }, log);
    try {
      const key = await LaneTarget.signerKey(local.lane.url);
      const before = await scrape(local.lane.url);
      const target = new LaneTarget(local.lane.url, 48, key.jwk, opts.verifyShare, 21);
      const s = await runPhase(
        {
          name: `hedge-${mode}`,
          label: `SIMULATION store, hedging ${mode}, open ${opts.hedgeRate} req/s`,
          target: "lane",
          send: target.sender("single", w),
          mode: "open",
          concurrency: 48,
          rate: opts.hedgeRate,
          laneTarget: target,
          simulation: `SIMULATION ${opts.hedgeModel}`,
        },
        { ...opts, duration: opts.duration * 2 },
        { pid: () => local.lane.pids().runtime },
      );
      await target.close();
      const after = await scrape(local.lane.url);
      scenarios.push(s);
      runs[mode] = {
        p99: s.summary.p99,
        snap:
          after && before
            ? {
                hedgesSent: after.hedgesSent - before.hedgesSent,
                hedgesWon: after.hedgesWon - before.hedgesWon,
                storeGets: after.storeGets - before.storeGets,
                simulation: after.simulation,
              }
            : undefined,
      };
    } finally {
      await local.stop();
    }
  }
  const snap = runs.on.snap;
  return {
    scenarios,
    hedging: {
      model: `SIMULATION ${opts.hedgeModel}`,
      rate: opts.hedgeRate,
      p99Off: runs.off.p99,
      p99On: runs.on.p99,
      ratio: runs.on.p99 / runs.off.p99,
      hedgesSent: snap?.hedgesSent ?? NaN,
      hedgesWon: snap?.hedgesWon ?? NaN,
      gets: snap?.storeGets ?? NaN,
      store: {
        rate: opts.hedgeRate * 4,
        p99Off: storeP99.off,
        p99On: storeP99.on,
        ratio: storeP99.on / storeP99.off,
        hedgesSent: storeHedges.sent,
        hedgesWon: storeHedges.won,
        gets: storeHedges.gets,
      },
    },
  };
}
