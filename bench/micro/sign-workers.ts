/**
 * Signer-only throughput, 1 signing thread vs `--workers 2` (issue #15 goal 5: ≥ 1.7× on a
 * 2-core machine). The signer runs in a child process (as in the lane); this process drives it
 * over the Unix socket with `inFlight` reads outstanding for `seconds` per round. Rounds alternate
 * the order (A B, B A, …) and the medians are compared: on this shared VM only ratios from one
 * run mean anything.
 *
 *   npx tsx bench/micro/sign-workers.ts [rounds=3] [seconds=4] [scenario=10|batch|ceiling] [inFlight] [driver=both|lean|client]
 *
 * Two drivers (the goal is judged on the lean one, docs/performance.md "Session 8: signing workers"):
 * - `lean`: writes pre-encoded SignRead frames (the bytes the runtime's writeSignReadFrame makes,
 *   built once per round; only the request id is patched per send) and only splits reply headers
 *   to count replies and match their ids. So that a broken signer cannot score, every reply must
 *   be a Reply frame for an id in flight, and a sample of replies (one in 64, up to 64 a round) is
 *   kept and verified with the verifier against the signer's key after the timed window.
 * - `client`: the runtime's SignerClient, encoding every frame and decoding every reply, as the
 *   lane does: its CPU competes with the signer's on this 2-core machine.
 * Scenarios `loop-10` / `loop-batch` run no socket and no pool: the same reads through Signer.handle
 * in a loop (pre-encoded payloads, the shared high-water table the workers use) on this main thread
 * alone, on one worker thread alone, and on two worker threads at once, alternating: thread CPU per
 * read (what an isolate of its own costs, apart from messages and sockets) and reads/s — two
 * loops at once against one is this machine's ceiling for the signer's ratio at that moment.
 * Scenarios `pool-10` / `pool-batch` run the pool without a socket or a driver: this process's
 * Signer with 2 workers, its SignWorkerPool.signMany fed the frames directly (each in a buffer of
 * its own, as FrameDecoder hands over a frame that spanned reads), `inFlight` outstanding, the frames
 * of SIGN_WORKERS_POOL_BATCH reads (default 1) per call, as one socket read brings them; CPU per read
 * of this (main) thread and of the workers — the pool's own cost, apart from sockets and driver.
 * Scenario `ceiling` runs no signer: 1 vs 2 threads of bare Ed25519 signing in this process, the
 * machine's own ratio under the load of the moment (the bound any signer ratio is read against).
 *
 * Printed per run: signs/s, the signer's CPU per read split by thread (main thread, the signing
 * workers, the rest of the process: V8's GC helpers and libuv), and the driver's own CPU per read.
 * With SIGN_WORKERS_CPU_PROF=<dir> the signer child runs under `--cpu-prof` (one profile per
 * thread, workers included) and each profile is summarised after the run (shares, not rates).
 *
 * Started from sources it bundles itself (dist/bench-sign-workers.js, dev/build.ts) and runs
 * the bundle: the signer and its workers run as bundled code, as in the enclave (under tsx every
 * cross-module access is a getter call, which distorts a per-read comparison). The child:
 * `node dist/bench-sign-workers.js --child <socket> <workers> <key hex>`; its workers run the same
 * bundle (enclave/sign-worker.ts starts when loaded as a worker).
 */
import { DEFAULT_REGISTRY } from "../../registry/views";
import { spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Signer } from "../../enclave/signer";
import { SealKeyring, type SealKey } from "../../enclave/seal";
import { SignerClient } from "../../runtime/signer-client";
import { BENCH_VIEW, benchEntityId, PROJECTED_FEATURES, sizedFeatureObject } from "../targets";
import { percentile } from "../../dev/stats";
import {
  decodeHelloReply,
  decodeSignedResponse,
  encodeFrame,
  FrameDecoder,
  FrameKind,
  FRAME_HEADER_BYTES,
  FRAME_PROTOCOL_VERSION,
  signReadFrameBound,
  writeSignReadFrame,
  type Frame,
  type SignedResponse,
  type SignReadRequest,
} from "../../wire/frames";
import type { Ed25519Jwk } from "../../wire/keys";
import { receivedFromSigned, verifyResponse } from "../../verifier/response";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { SharedHighWaterMarks } from "../../enclave/shared-high-water";
import { cpuMicros, processCpu } from "../proc-cpu";
// The bundle is also the workers' script: loaded in a worker thread, this runs the signing worker.
import "../../enclave/sign-worker";

type Threads = "1" | "2";
type DriverKind = "lean" | "client";

function sealKey(hex: string): SealKey {
  return { kid: "bench-workers", key: Buffer.from(hex, "hex"), writer: "bench" };
}

const taskIds = (pid: number): number[] => readdirSync(`/proc/${pid}/task`).map(Number);

async function child(socket: string, workers: number, keyHex: string): Promise<void> {
  // The threads the pool adds are the signing workers (the per-thread split below).
  const before = new Set(taskIds(process.pid));
  const signer = new Signer({ registry: DEFAULT_REGISTRY, keys: { keyring: new SealKeyring([sealKey(keyHex)]) }, workers });
  const server = await signer.listen(socket);
  const workerTids = workers > 1 ? taskIds(process.pid).filter((t) => !before.has(t)) : [];
  // A clean exit writes the --cpu-prof profiles (the workers' as they terminate, then this thread's).
  process.once("SIGTERM", () => {
    process.stdout.write(`stats ${JSON.stringify(signer.workerPool?.dispatched ?? null)}\n`);
    server.close();
    void signer.close().then(() => process.exit(0));
  });
  process.stdout.write(`ready ${JSON.stringify({ workerTids })}\n`);
}

interface Child {
  readonly proc: ChildProcess;
  readonly workerTids: readonly number[];
  /** What the pool dispatched (the child's last line, on SIGTERM). */
  readonly stats: Promise<{ messages: number; reads: number } | null>;
}

function startChild(socket: string, workers: number, keyHex: string, nodeArgs: readonly string[]): Promise<Child> {
  const proc = spawn(process.execPath, [...nodeArgs, __filename, "--child", socket, String(workers), keyHex], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    let onStats: (s: { messages: number; reads: number } | null) => void = () => undefined;
    const stats = new Promise<{ messages: number; reads: number } | null>((r) => (onStats = r));
    proc.stdout!.on("data", (data: Buffer) => {
      out += data.toString();
      const ready = /^ready (.*)$/m.exec(out);
      if (ready && !out.startsWith("done")) {
        const { workerTids } = JSON.parse(ready[1]) as { workerTids: number[] };
        out = `done${out.slice(ready.index + ready[0].length)}`;
        resolve({ proc, workerTids, stats });
      }
      const s = /^stats (.*)$/m.exec(out);
      if (s) onStats(JSON.parse(s[1]) as { messages: number; reads: number } | null);
    });
    proc.once("exit", () => onStats(null));
    proc.once("exit", (code) => reject(new Error(`signer child exited ${code}`)));
  });
}

/** Stop the child cleanly (its --cpu-prof profiles are written, it reports what its pool dispatched). */
async function stopChild(c: Child): Promise<{ messages: number; reads: number } | null> {
  if (c.proc.exitCode !== null) return null;
  const exited = new Promise((r) => c.proc.once("exit", r));
  c.proc.kill("SIGTERM");
  const timer = setTimeout(() => c.proc.kill("SIGKILL"), 10_000);
  const stats = await c.stats;
  await exited;
  clearTimeout(timer);
  return stats;
}

/** CPU µs of the signer child, per thread: main (the thread that owns the socket), the signing workers, the rest. */
interface SignerCpu {
  readonly total: number;
  readonly main: number;
  readonly workers: number;
}
function signerCpu(c: Child): SignerCpu {
  const pid = c.proc.pid!;
  const total = processCpu(pid);
  const main = processCpu(pid, pid);
  let workers = 0;
  for (const tid of c.workerTids) workers += processCpu(pid, tid);
  return { total, main, workers };
}
const driverCpu = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

interface Window {
  counted: number;
  t0: number;
  t1: number;
  signer0: SignerCpu;
  signer1: SignerCpu;
  driver0: number;
  driver1: number;
}
interface RunResult {
  readonly rate: number;
  /** µs per read. */
  readonly signer: SignerCpu;
  readonly driver: number;
  readonly verified: number;
}
function result(w: Window, verified: number): RunResult {
  const per = (a: number, b: number) => (b - a) / w.counted;
  return {
    rate: w.counted / ((w.t1 - w.t0) / 1000),
    signer: { total: per(w.signer0.total, w.signer1.total), main: per(w.signer0.main, w.signer1.main), workers: per(w.signer0.workers, w.signer1.workers) },
    driver: per(w.driver0, w.driver1),
    verified,
  };
}

/** A read the drivers send, with what its answer is verified against. */
interface Scenario {
  readonly requests: readonly SignReadRequest[];
}

function verifyAnswer(signed: SignedResponse, request: SignReadRequest, jwk: Ed25519Jwk): void {
  if (signed.status !== 200) throw new Error(`signer answered status ${signed.status}`);
  verifyResponse(receivedFromSigned(signed), { method: request.method, path: request.path, query: request.query, body: request.body }, { maxStaleness: Infinity, key: jwk });
}

/** Before the timed window: long enough for each isolate's optimising compiler to finish (a worker warms on half the reads; a shorter warm-up bills its JIT to the window). */
const WARM_MS = Number(process.env.SIGN_WORKERS_WARM_MS ?? 2000);
const SAMPLE_EVERY = 64;
const MAX_SAMPLES = 64;

/** The runtime's SignerClient: every frame encoded, every reply decoded (as the lane does). */
async function clientDrive(socket: string, scenario: Scenario, seconds: number, inFlight: number, c: Child): Promise<RunResult> {
  const client = new SignerClient({ socketPath: socket, timeoutMs: 30_000, maxInFlight: inFlight * 2 });
  const key = await client.ready(30_000);
  let i = 0;
  const start = performance.now();
  const until = start + WARM_MS + seconds * 1000;
  const w: Window = { counted: 0, t0: 0, t1: 0, signer0: signerCpu(c), signer1: signerCpu(c), driver0: 0, driver1: 0 };
  const samples: Array<[SignedResponse, SignReadRequest]> = [];
  const n = scenario.requests.length;
  const loop = async (): Promise<void> => {
    while (performance.now() < until) {
      const request = scenario.requests[i++ % n];
      const answer = await client.signRead(request);
      if (performance.now() >= start + WARM_MS) {
        if (w.t0 === 0) {
          w.t0 = performance.now();
          w.signer0 = signerCpu(c);
          w.driver0 = driverCpu();
        }
        w.counted++;
        if (w.counted % SAMPLE_EVERY === 0 && samples.length < MAX_SAMPLES) samples.push([answer, request]);
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  w.t1 = performance.now();
  w.signer1 = signerCpu(c);
  w.driver1 = driverCpu();
  client.close();
  for (const [answer, request] of samples) verifyAnswer(answer, request, key.jwk);
  return result(w, samples.length);
}

/**
 * The lean driver: pre-encoded frames out (one write per batch of replies received), reply headers
 * split and matched by id; a sample of the replies verified after the timed window.
 */
async function leanDrive(socket: string, scenario: Scenario, seconds: number, inFlight: number, c: Child): Promise<RunResult> {
  const sock: Socket = connect(socket);
  sock.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", reject);
  });
  // Hello (outside the timed window, with the shared decoders).
  const jwk = await new Promise<Ed25519Jwk>((resolve, reject) => {
    const decoder = new FrameDecoder();
    const onData = (chunk: Buffer): void => {
      const [frame] = decoder.push(chunk);
      if (frame === undefined) return;
      sock.off("data", onData);
      if (frame.kind !== FrameKind.Reply) return reject(new Error("hello refused"));
      resolve(decodeHelloReply(frame.payload).jwk);
    };
    sock.on("data", onData);
    sock.write(encodeFrame(1, FrameKind.Hello, { role: "read", protocol: FRAME_PROTOCOL_VERSION }));
  });
  // The frames, encoded once: the runtime's own field writer (wire/frames.ts writeSignReadFrame).
  const encoded = scenario.requests.map((r) => {
    const buf = Buffer.allocUnsafe(signReadFrameBound(r));
    return buf.subarray(0, writeSignReadFrame(buf, 0, 0, r));
  });
  // One slot per read in flight, each with frames of its own (its share of the requests, or a copy
  // of one): a slot's frame is only re-sent, its id patched in place, after its reply came back, so
  // every byte of the previous write has left. No copy and no allocation per send.
  const n = encoded.length;
  const slotFrames: Buffer[][] = Array.from({ length: inFlight }, (_, k) => {
    const mine: Buffer[] = [];
    for (let r = k; r < n; r += inFlight) mine.push(Buffer.from(encoded[r]));
    if (mine.length === 0) mine.push(Buffer.from(encoded[k % n]));
    return mine;
  });
  const slotRequests: number[][] = Array.from({ length: inFlight }, (_, k) => {
    const mine: number[] = [];
    for (let r = k; r < n; r += inFlight) mine.push(r);
    return mine.length === 0 ? [k % n] : mine;
  });
  const slotTurn = new Array<number>(inFlight).fill(0);
  const slotId = new Array<number>(inFlight).fill(-1); // the id in flight, -1 = idle
  let generation = 0;
  let inFlightNow = 0;
  const start = performance.now();
  const until = start + WARM_MS + seconds * 1000;
  const w: Window = { counted: 0, t0: 0, t1: 0, signer0: signerCpu(c), signer1: signerCpu(c), driver0: 0, driver1: 0 };
  const samples: Array<[Uint8Array, SignReadRequest]> = [];
  let failure: Error | null = null;
  let stopping = false;

  const ready: number[] = [];
  const sendReady = (): void => {
    if (ready.length === 0) return;
    sock.cork(); // one writev for the turn's frames
    for (const k of ready) {
      const frame = slotFrames[k][slotTurn[k] % slotFrames[k].length];
      const id = (2 + k + inFlight * generation++) >>> 0;
      frame.writeUInt32BE(id, 4);
      slotId[k] = id;
      inFlightNow++;
      sock.write(frame);
    }
    sock.uncork();
    ready.length = 0;
  };

  // Reply splitting: the 9-byte header (possibly across chunks), then the payload skipped or, for a sample, kept.
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  let headerHave = 0;
  let payloadLeft = 0;
  let keep: Buffer[] | null = null;
  let keepFor = 0;
  let done: () => void = () => undefined;
  const drained = new Promise<void>((r) => (done = r));
  const fail = (message: string): void => {
    failure ??= new Error(message);
    stopping = true;
  };
  const onReply = (id: number, kind: number): void => {
    const k = (id - 2) % inFlight;
    if (id < 2 || slotId[k] !== id) return fail(`reply for id ${id}, which is not in flight`);
    slotId[k] = -1;
    inFlightNow--;
    const r = slotRequests[k][slotTurn[k]++ % slotRequests[k].length];
    if (!stopping) ready.push(k);
    if (kind !== FrameKind.Reply) return fail(`error frame for id ${id}`);
    const now = performance.now();
    if (now < start + WARM_MS) return;
    if (w.t0 === 0) {
      w.t0 = now;
      w.signer0 = signerCpu(c);
      w.driver0 = driverCpu();
    }
    if (now < until) {
      w.counted++;
      if (w.counted % SAMPLE_EVERY === 0 && samples.length < MAX_SAMPLES && payloadLeft > 0) {
        keep = [];
        keepFor = r;
      }
    } else if (w.t1 === 0) {
      w.t1 = now;
      w.signer1 = signerCpu(c);
      w.driver1 = driverCpu();
      stopping = true;
    }
  };
  sock.on("data", (chunk: Buffer) => {
    let at = 0;
    while (at < chunk.length) {
      if (payloadLeft > 0) {
        const take = Math.min(payloadLeft, chunk.length - at);
        if (keep !== null) keep.push(Buffer.from(chunk.subarray(at, at + take)));
        payloadLeft -= take;
        at += take;
        if (payloadLeft === 0 && keep !== null) {
          samples.push([Buffer.concat(keep), scenario.requests[keepFor]]);
          keep = null;
        }
        continue;
      }
      const take = Math.min(FRAME_HEADER_BYTES - headerHave, chunk.length - at);
      chunk.copy(header, headerHave, at, at + take);
      headerHave += take;
      at += take;
      if (headerHave < FRAME_HEADER_BYTES) break;
      headerHave = 0;
      payloadLeft = header.readUInt32BE(0) - 5;
      onReply(header.readUInt32BE(4), header[8]);
    }
    if (!stopping) sendReady();
    else if (inFlightNow === 0) done();
  });
  sock.on("error", (err) => {
    fail(String(err));
    done();
  });
  sock.on("close", () => {
    fail("signer closed the connection");
    done();
  });
  for (let k = 0; k < inFlight; k++) ready.push(k);
  sendReady();
  await drained;
  sock.removeAllListeners("close");
  sock.destroy();
  if (failure !== null) throw failure;
  for (const [payload, request] of samples) verifyAnswer(decodeSignedResponse(payload), request, jwk);
  if (samples.length === 0) throw new Error("no reply was sampled for verification");
  return result(w, samples.length);
}

/** Scenario `ceiling`: `threads` threads signing with Ed25519 for `seconds` (no signer, no frames). */
async function ceiling(threads: number, seconds: number): Promise<number> {
  const code = `
    const { parentPort, workerData } = require("node:worker_threads");
    const { sign } = require("node:crypto");
    const msg = Buffer.alloc(200, 7);
    const until = Date.now() + workerData.ms;
    const warm = Date.now() + 300;
    let n = 0, t0 = 0;
    while (Date.now() < until) { sign(null, msg, workerData.key); if (Date.now() >= warm) { if (t0 === 0) t0 = Date.now(); n++; } }
    parentPort.postMessage(n / ((Date.now() - t0) / 1000));
  `;
  const { privateKey } = generateKeyPairSync("ed25519");
  void sign; // the same primitive the signer's key uses
  const rates = await Promise.all(
    Array.from({ length: threads }, () => {
      const worker = new Worker(code, { eval: true, workerData: { ms: seconds * 1000, key: privateKey } });
      return new Promise<number>((resolve, reject) => {
        worker.once("message", (r: number) => resolve(r));
        worker.once("error", reject);
      });
    }),
  );
  return rates.reduce((a, b) => a + b, 0);
}

const threadCpu = (): number => cpuMicros(readFileSync("/proc/thread-self/stat", "utf8"));

/** Scenario loop-*: Signer.handle over the scenario's frames for `seconds` (after a warm-up): reads per second and this thread's CPU µs per read. */
function signLoop(name: string, keyHex: string, seconds: number): { rate: number; cpu: number } {
  const signer = new Signer({ registry: DEFAULT_REGISTRY, keys: { keyring: new SealKeyring([sealKey(keyHex)]) }, highWater: new SharedHighWaterMarks() });
  const payloads = scenarioOf(name, keyHex).requests.map((r) => {
    const buf = Buffer.allocUnsafe(signReadFrameBound(r));
    return buf.subarray(FRAME_HEADER_BYTES, writeSignReadFrame(buf, 0, 0, r));
  });
  // SIGN_WORKERS_LOOP_FRESH=1: each read in a fresh ArrayBuffer and its reply copied into one, as the pool's messages carry them.
  const fresh = process.env.SIGN_WORKERS_LOOP_FRESH === "1";
  const run = (i: number): void => {
    let payload = payloads[i % payloads.length];
    if (fresh) {
      const ab = new ArrayBuffer(payload.length);
      new Uint8Array(ab).set(payload);
      payload = Buffer.from(ab);
    }
    const reply = signer.handle({ id: i, kind: FrameKind.SignRead, payload }, "read", 0);
    if (!Buffer.isBuffer(reply) || reply[8] !== FrameKind.Reply) throw new Error("loop: not a reply");
    if (fresh) new Uint8Array(new ArrayBuffer(reply.length)).set(reply);
  };
  let i = 0;
  for (const until = Date.now() + WARM_MS; Date.now() < until;) run(i++);
  const cpu0 = threadCpu();
  const t0 = performance.now();
  let n = 0;
  for (const until = Date.now() + seconds * 1000; Date.now() < until; n++) run(i++);
  return { rate: n / ((performance.now() - t0) / 1000), cpu: (threadCpu() - cpu0) / n };
}

function signLoopInWorker(name: string, keyHex: string, seconds: number): Promise<{ rate: number; cpu: number }> {
  const worker = new Worker(__filename, { workerData: { signWorkersLoop: { name, keyHex, seconds } } });
  return new Promise((resolve, reject) => {
    worker.once("message", (r: { rate: number; cpu: number }) => void worker.terminate().then(() => resolve(r)));
    worker.once("error", reject);
  });
}

/** Scenario pool-*: SignWorkerPool.signMany fed directly, `inFlight` reads outstanding, for `seconds` after the warm-up. */
async function poolRun(name: string, keyHex: string, seconds: number, inFlight: number, perCall: number): Promise<{ rate: number; main: number; workers: number }> {
  const before = new Set(taskIds(process.pid));
  const signer = new Signer({ registry: DEFAULT_REGISTRY, keys: { keyring: new SealKeyring([sealKey(keyHex)]) }, workers: 2 });
  await signer.workerPool!.ready();
  const tids = taskIds(process.pid).filter((t) => !before.has(t));
  const frames = scenarioOf(name, keyHex).requests.map((r) => {
    const buf = Buffer.allocUnsafe(signReadFrameBound(r));
    return buf.subarray(0, writeSignReadFrame(buf, 0, 0, r));
  });
  const workersCpu = (): number => tids.reduce((a, t) => a + processCpu(process.pid, t), 0);
  let i = 0;
  let counted = 0;
  let window: { t0: number; main0: number; workers0: number } | null = null;
  const start = performance.now();
  const until = start + WARM_MS + seconds * 1000;
  let finished: () => void = () => undefined;
  const done = new Promise<void>((r) => (finished = r));
  let outstanding = 0;
  const frame = (): Frame => {
    const f = frames[i++ % frames.length];
    const own = Buffer.allocUnsafeSlow(f.length); // a buffer of its own, as FrameDecoder gives a frame that spanned reads
    f.copy(own);
    return { id: i, kind: FrameKind.SignRead, payload: own.subarray(FRAME_HEADER_BYTES), exclusive: true };
  };
  // `perCall` frames per signMany call (SIGN_WORKERS_POOL_BATCH): as one socket read brings them; the answers come back per worker message.
  const send = (n: number): void => {
    outstanding += n;
    signer.workerPool!.signMany(Array.from({ length: n }, frame), 0, (replies) => {
      let count = 0;
      for (let at = 0; at < replies.length; at += 4 + replies.readUInt32BE(at)) {
        if (replies[at + 8] !== FrameKind.Reply) throw new Error("pool: not a reply");
        count++;
      }
      outstanding -= count;
      const now = performance.now();
      if (now >= start + WARM_MS && now < until) {
        window ??= { t0: now, main0: threadCpu(), workers0: workersCpu() };
        counted += count;
      }
      if (now < until) send(count);
      else if (outstanding === 0) finished();
    });
  };
  for (let k = 0; k < inFlight; k += perCall) send(Math.min(perCall, inFlight - k));
  await done;
  const w = window!;
  const result = { rate: counted / ((performance.now() - w.t0) / 1000), main: (threadCpu() - w.main0) / counted, workers: (workersCpu() - w.workers0) / counted };
  await signer.close();
  return result;
}

function scenarioOf(name: string, keyHex: string): Scenario {
  const seals = new SealKeyring([sealKey(keyHex)]);
  const now = Date.now();
  const objects = Array.from({ length: 200 }, (_, i) => seals.seal(sizedFeatureObject(i, 4096, now)));
  const projection = `?features=${PROJECTED_FEATURES.join(",")}`;
  if (name === "batch" || name === "loop-batch" || name === "pool-batch") {
    const body = Buffer.from(JSON.stringify({ entities: objects.slice(0, 100).map((_, i) => benchEntityId(i)), features: PROJECTED_FEATURES }));
    return { requests: [{ method: "POST", path: `/v1/features/${BENCH_VIEW}/batch`, query: "", contentType: "application/json", body, objects: objects.slice(0, 100) }] };
  }
  return { requests: objects.map((o, i) => ({ method: "GET", path: `/v1/features/${BENCH_VIEW}/${benchEntityId(i)}`, query: projection, objects: [o] })) };
}

const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const median = (xs: readonly number[]): number => percentile([...xs], 50);
const r0 = (x: number): number => Math.round(x);

async function main(): Promise<void> {
  const [rounds = 3, seconds = 4] = process.argv.slice(2, 4).map(Number);
  const scenarioName = process.argv[4] ?? "10";
  const inFlight = Number(process.argv[5] ?? (scenarioName === "batch" ? 4 : 64));
  const driverArg = process.argv[6] ?? "both";
  const drivers: DriverKind[] = driverArg === "both" ? ["lean", "client"] : [driverArg as DriverKind];
  if (!["10", "batch", "ceiling", "loop-10", "loop-batch", "pool-10", "pool-batch"].includes(scenarioName) || drivers.some((d) => d !== "lean" && d !== "client"))
    throw new Error("usage: [rounds] [seconds] 10|batch|ceiling [inFlight] both|lean|client");
  process.stderr.write(`machine: ${cpus().length} × ${cpus()[0]?.model}, load average ${load()}; scenario ${scenarioName}, ${rounds} rounds × ${seconds} s\n`);

  if (scenarioName === "ceiling") {
    const rates: Record<Threads, number[]> = { "1": [], "2": [] };
    for (let r = 0; r < rounds; r++) {
      for (const t of r % 2 === 0 ? (["1", "2"] as const) : (["2", "1"] as const)) {
        rates[t].push(await ceiling(Number(t), seconds));
        process.stderr.write(`round ${r + 1}: ${t} thread(s) ${r0(rates[t][rates[t].length - 1])} Ed25519 signs/s (load ${load()})\n`);
      }
    }
    const ratios = rates["2"].map((v, i) => +(v / rates["1"][i]).toFixed(2));
    process.stdout.write(
      `${JSON.stringify({ scenario: "ceiling", rounds, seconds, one: rates["1"].map(r0), two: rates["2"].map(r0), ratioOfMedians: +(median(rates["2"]) / median(rates["1"])).toFixed(2), ratiosPerRound: ratios, loadavg: loadavg() })}\n`,
    );
    return;
  }

  const keyHex = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7 + 1)).toString("hex");
  if (scenarioName.startsWith("pool-")) {
    const runs: Array<{ rate: number; main: number; workers: number }> = [];
    for (let r = 0; r < rounds; r++) {
      const x = await poolRun(scenarioName, keyHex, seconds, inFlight, Number(process.env.SIGN_WORKERS_POOL_BATCH ?? 1));
      runs.push(x);
      process.stderr.write(
        `round ${r + 1}: pool of 2, ${r0(x.rate)} reads/s; CPU per read: main thread ${x.main.toFixed(1)} µs, workers ${x.workers.toFixed(1)} µs (load ${load()})\n`,
      );
    }
    const med = (f: (x: (typeof runs)[number]) => number) => r0(median(runs.map(f)));
    process.stdout.write(
      `${JSON.stringify({ scenario: scenarioName, rounds, seconds, inFlight, readsPerSecond: med((x) => x.rate), mainUs: med((x) => x.main), workersUs: med((x) => x.workers), loadavg: loadavg() })}\n`,
    );
    return;
  }
  if (scenarioName.startsWith("loop-")) {
    type Where = "main" | "worker" | "2 workers";
    const wheres: Where[] = ["main", "worker", "2 workers"];
    const per: Record<Where, { rate: number[]; cpu: number[] }> = { main: { rate: [], cpu: [] }, worker: { rate: [], cpu: [] }, "2 workers": { rate: [], cpu: [] } };
    for (let r = 0; r < rounds; r++) {
      for (const where of r % 2 === 0 ? wheres : [...wheres].reverse()) {
        let x: { rate: number; cpu: number };
        if (where === "main") x = signLoop(scenarioName, keyHex, seconds);
        else if (where === "worker") x = await signLoopInWorker(scenarioName, keyHex, seconds);
        else {
          const both = await Promise.all([signLoopInWorker(scenarioName, keyHex, seconds), signLoopInWorker(scenarioName, keyHex, seconds)]);
          x = { rate: both[0].rate + both[1].rate, cpu: (both[0].cpu + both[1].cpu) / 2 };
        }
        per[where].rate.push(x.rate);
        per[where].cpu.push(x.cpu);
        process.stderr.write(`round ${r + 1}: ${where.padEnd(9)} ${r0(x.rate)} reads/s, ${x.cpu.toFixed(1)} µs CPU per read (load ${load()})\n`);
      }
    }
    const out = Object.fromEntries(wheres.map((w) => [w, { readsPerSecond: per[w].rate.map(r0), cpuPerReadUs: per[w].cpu.map(r0) }]));
    const ratio = +(median(per["2 workers"].rate) / median(per.worker.rate)).toFixed(2);
    process.stdout.write(`${JSON.stringify({ scenario: scenarioName, rounds, seconds, ...out, twoLoopsVsOneRatio: ratio, loadavg: loadavg() })}\n`);
    return;
  }
  const scenario = scenarioOf(scenarioName, keyHex);
  const profileDir = process.env.SIGN_WORKERS_CPU_PROF;
  const dir = mkdtempSync(join(tmpdir(), "sign-workers-bench-"));
  const runs: Record<DriverKind, Record<Threads, RunResult[]>> = { lean: { "1": [], "2": [] }, client: { "1": [], "2": [] } };
  try {
    for (let r = 0; r < rounds; r++) {
      for (const driver of drivers) {
        const order: Threads[] = r % 2 === 0 ? ["1", "2"] : ["2", "1"];
        for (const t of order) {
          const socket = join(dir, `s${r}-${driver}-${t}.sock`);
          const profile = profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${join(profileDir, `${driver}-${t}`)}`];
          if (profileDir !== undefined) mkdirSync(join(profileDir, `${driver}-${t}`), { recursive: true });
          const c = await startChild(socket, Number(t), keyHex, profile);
          const run = await (driver === "lean" ? leanDrive : clientDrive)(socket, scenario, seconds, inFlight, c).catch(async (err: unknown) => {
            await stopChild(c);
            throw err;
          });
          const stats = await stopChild(c);
          runs[driver][t].push(run);
          const s = run.signer;
          const perMessage = stats !== null && stats.messages > 0 ? `, ${(stats.reads / stats.messages).toFixed(1)} reads per worker message` : "";
          process.stderr.write(
            `round ${r + 1} ${driver.padEnd(6)} ${t === "1" ? "1 thread " : "2 workers"} ${r0(run.rate)} signs/s; signer CPU per read ${r0(s.total)} µs` +
              ` (main ${r0(s.main)}, workers ${r0(s.workers)}, other ${r0(s.total - s.main - s.workers)}), driver ${r0(run.driver)} µs${perMessage}; ${run.verified} replies verified; load ${load()}\n`,
          );
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const summary = Object.fromEntries(
    drivers.map((d) => {
      const one = runs[d]["1"];
      const two = runs[d]["2"];
      const m = (xs: RunResult[], f: (x: RunResult) => number) => r0(median(xs.map(f)));
      return [
        d,
        {
          oneThread: one.map((x) => r0(x.rate)),
          twoWorkers: two.map((x) => r0(x.rate)),
          ratioOfMedians: +(median(two.map((x) => x.rate)) / median(one.map((x) => x.rate))).toFixed(2),
          ratiosPerRound: two.map((x, i) => +(x.rate / one[i].rate).toFixed(2)),
          // The ratio two free cores would give at the CPU per read measured (the rate each side could
          // reach if nothing else ran: one thread is bound by its own core, unless signer + driver
          // exceed two; two workers by signer + driver over two cores, or by the main thread's own
          // core). A reading aid for a loaded VM, not the result.
          twoIdleCoresBound: +(
            Math.min(2e6 / (m(two, (x) => x.signer.total) + m(two, (x) => x.driver)), 1e6 / m(two, (x) => x.signer.main)) /
            Math.min(1e6 / m(one, (x) => x.signer.total), 2e6 / (m(one, (x) => x.signer.total) + m(one, (x) => x.driver)))
          ).toFixed(2),
          cpuPerReadUs: {
            oneThread: { signer: m(one, (x) => x.signer.total), driver: m(one, (x) => x.driver) },
            twoWorkers: { signer: m(two, (x) => x.signer.total), main: m(two, (x) => x.signer.main), workers: m(two, (x) => x.signer.workers), driver: m(two, (x) => x.driver) },
          },
        },
      ];
    }),
  );
  process.stdout.write(`${JSON.stringify({ scenario: scenarioName, inFlight, rounds, seconds, ...summary, loadavg: loadavg() })}\n`);
}

/** From sources: bundle, then run the bundle with the same arguments; summarise the profiles when asked for. */
async function viaBundle(): Promise<number> {
  // Not static imports: the bundle must not carry the bundler or the summariser.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { buildBundles } = require(join(__dirname, "../../dev/build")) as { buildBundles(names: readonly string[]): Promise<string[]> };
  const [bundle] = await buildBundles(["bench-sign-workers"]);
  const proc = spawn(process.execPath, [bundle, ...process.argv.slice(2)], { stdio: "inherit" });
  const code = await new Promise<number>((resolve) => proc.once("exit", (c) => resolve(c ?? 1)));
  const profileDir = process.env.SIGN_WORKERS_CPU_PROF;
  if (code === 0 && profileDir !== undefined) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { summarise } = require(join(__dirname, "../profile-lane")) as { summarise(p: unknown, top: number): { self: Array<[string, number]> } };
    for (const run of readdirSync(profileDir)) {
      for (const f of readdirSync(join(profileDir, run)).filter((f) => f.endsWith(".cpuprofile"))) {
        const s = summarise(JSON.parse(readFileSync(join(profileDir, run, f), "utf8")), 25);
        process.stdout.write(`\n== ${run} ${f} — self\n`);
        for (const [k, v] of s.self) process.stdout.write(`${(100 * v).toFixed(1).padStart(5)} % ${k}\n`);
      }
    }
  }
  return code;
}

const loopJob = (workerData as { signWorkersLoop?: { name: string; keyHex: string; seconds: number } } | null)?.signWorkersLoop;
if (!isMainThread) {
  // a signing worker (the import above runs it), or scenario loop-*'s thread
  if (loopJob !== undefined) parentPort!.postMessage(signLoop(loopJob.name, loopJob.keyHex, loopJob.seconds));
} else if (__filename.endsWith(".ts")) {
  viaBundle().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
} else if (process.argv[2] === "--child") {
  child(process.argv[3], Number(process.argv[4]), process.argv[5]).catch((err) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  });
} else {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
