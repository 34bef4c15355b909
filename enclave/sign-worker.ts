/**
 * One signing thread of `--workers N` (enclave/sign-workers.ts explains the design): a Signer
 * built from the main thread's key, key state and shared high-water table, answering SignRead
 * frames through the same Signer.handle path as the main thread (same checks, same errors).
 * Started by the signer bundles themselves (their entry runs this when it is a worker) or, from
 * sources, through tsx.
 */
import { performance } from "node:perf_hooks";
import { isMainThread, parentPort, workerData, type MessagePort } from "node:worker_threads";
import { FrameKind } from "../wire/frames";
import type { Registry } from "../wire/registry";
import { registryFromViews, type RegistryRef } from "../wire/registry-document";
import { SigningKey } from "./key";
import { LaneKeys } from "./lane-keys";
import { SealKeyring } from "./seal";
import { SharedHighWaterMarks } from "./shared-high-water";
import { HeldCheckpoints } from "./checkpoint-state";
import type { FromWorker, SignWorkerInit, SignWorkerState, ToWorker } from "./sign-workers";
import { Signer } from "./signer";

export function runSignWorker(port: MessagePort, init: SignWorkerInit): void {
  let keyring: SealKeyring | null = null;
  let laneKeys = new LaneKeys();
  let views: { registry: Registry; ref: RegistryRef } | null = null;
  const apply = (state: SignWorkerState): void => {
    views = { registry: registryFromViews(state.registry.views), ref: state.registry.ref };
    keyring = state.keyring ? new SealKeyring(state.keyring.keys, state.keyring.activeKid, { expiresAt: state.keyring.expiresAt }) : null;
    const next = new LaneKeys();
    for (const k of state.laneKeys) next.offer(k.kid, k.privateKey, k.notBefore, k.notAfter);
    laneKeys = next;
  };
  // P8: the main thread's held checkpoints, replaced whole when it accepts new ones.
  let checkpoints = HeldCheckpoints.fromSnapshot(init.state.checkpoints ?? []);
  const checkpointLookup = { get: (view: string, seq: number) => checkpoints.get(view, seq) };
  apply(init.state);
  const highWater = new SharedHighWaterMarks(init.highWater.maxEntities, init.highWater);
  const key = SigningKey.fromPrivateKey(init.key);
  const build = (): Signer =>
    new Signer({
      key,
      validitySeconds: init.validitySeconds,
      keys: {
        get keyring() {
          return keyring;
        },
      },
      laneKeys,
      highWater,
      traceStages: init.traceStages,
      registry: views!.registry,
      registryRef: views!.ref,
      checkpoints: checkpointLookup,
    });
  let current = build();
  // The frame's arrival (main thread clock) on this thread's clock, so the trailer's stamps share one
  // clock (the runtime only uses differences within them and centres the span; runtime/stage-trace.ts).
  const toMainUs = (performance.timeOrigin - init.mainTimeOrigin) * 1000;
  port.on("message", (m: ToWorker) => {
    if (m.type === "checkpoints") {
      checkpoints = HeldCheckpoints.fromSnapshot(m.held);
      return;
    }
    if (m.type === "state") {
      apply(m.state);
      if (m.state.checkpoints) checkpoints = HeldCheckpoints.fromSnapshot(m.state.checkpoints);
      current = build(); // lane keys are fixed per Signer; the shared table and key are the same
      return;
    }
    // The batch's reply frames, back to back in one buffer of their own (transferred, not copied).
    const replies: Buffer[] = new Array<Buffer>(m.ids.length);
    let bytes = 0;
    let start = m.start;
    for (let i = 0; i < m.ids.length; i++) {
      const payload = Buffer.from(m.payloads, start, m.ends[i] - start);
      start = m.ends[i];
      const reply = current.handle({ id: m.ids[i], kind: FrameKind.SignRead, payload }, "read", m.receivedAt - toMainUs);
      // SignRead is answered synchronously; a promise here would be a bug: fail closed.
      if (!Buffer.isBuffer(reply)) throw new Error("SignRead answered asynchronously");
      replies[i] = reply;
      bytes += reply.length;
    }
    const frames = new ArrayBuffer(bytes);
    const out = new Uint8Array(frames);
    let at = 0;
    for (const reply of replies) {
      out.set(reply, at);
      at += reply.length;
    }
    port.postMessage({ type: "reply", seq: m.seq, frames } satisfies FromWorker, [frames]);
  });
  port.postMessage({ type: "ready" } satisfies FromWorker);
}

const init = workerData as SignWorkerInit | undefined;
if (!isMainThread && parentPort && init?.expressLaneSignWorker === true) runSignWorker(parentPort, init);
