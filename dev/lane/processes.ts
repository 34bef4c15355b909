/**
 * Starts the local lane as separate processes, exactly as they run in production but on loopback:
 * the local store (s3rver), the signer (the enclave's code) on a Unix socket, and the reader
 * runtime. Used by `npm start` and by the integration tests, so both exercise the same wiring.
 */
import { ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { S3Store } from "../../runtime/store/s3-store";
import { StaticCredentials } from "../../runtime/store/credentials";
import { FileStore } from "../../runtime/store/file-store";
import { objectKey } from "../../wire/object";
import { DEFAULT_REGISTRY } from "../../registry/views";
import { DEMO_VIEW, demoEntityId, demoSealedBytes } from "./demo-data";
import type { SealKeyring } from "../../enclave/seal";
// The local lane plays the writer and the lane admin too: it holds the dev writer key and the dev
// admin key (never the runtime), see ./dev-keys.ts.
import { readWriterKeyFile, writerKeyring } from "../../dev/key-files";
import { DEV_LANE, ensureDevLaneKey, ensureLaneKeys, ensureLaneRegistry, laneKeyPaths, type LaneKeyPaths } from "./dev-keys";
import { writeLaneConfig } from "../../dev/lane-config";
// The lane plays the views' checkpoint sequencer too (issue #16): a writer-side process, in-process here.
import { runSequencer, type RunningSequencer } from "../../sequencer/server";
import { SequencerReporter } from "../../sequencer/report";
import { jwkThumbprint } from "../../wire/keys";
import { entityMapValue } from "../../wire/checkpoint";
import { inspectSealed } from "../../runtime/store/conditional-write";
import type { Ed25519Jwk } from "../../wire/keys";

// From sources (dev/lane/) the repo is two levels up; from a bundle in dist/ it is one.
const ROOT = existsSync(resolve(__dirname, "../../package.json")) ? resolve(__dirname, "../..") : resolve(__dirname, "..");

/** `taskset` (util-linux) when present: CPU pinning for benchmarks. */
const TASKSET = ["/usr/bin/taskset", "/bin/taskset"].find((p) => existsSync(p));

/** Local-only credentials: s3rver accepts any; these are not secrets and grant nothing on AWS. */
export const LOCAL_STORE_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

export interface LaneOptions {
  /** Working folder: store data, signer socket, dev keys. @default ".lane" */
  readonly dataDir?: string;
  /** @default 8080 (0 = any free port) */
  readonly port?: number;
  /** @default 0 (any free port) */
  readonly storePort?: number;
  readonly bucket?: string;
  /** Demo entities to load; 0 loads nothing. @default 3000 */
  readonly demoEntities?: number;
  /** Run dist/*.js bundles (what production runs) instead of the TypeScript sources. @default true */
  readonly bundles?: boolean;
  /** Extra environment for the runtime process. */
  readonly runtimeEnv?: Readonly<Record<string, string>>;
  /** Extra environment for the dev signer process (benchmarks: stage tracing, workers). */
  readonly signerEnv?: Readonly<Record<string, string>>;
  readonly onProgress?: (done: number, total: number) => void;
  /** Child stderr goes here (default: inherited). */
  readonly quiet?: boolean;
  /**
   * Where the runtime reads objects: "s3" (the s3rver twin, via S3Store) or "file" (a FileStore
   * folder under dataDir, seeded with the same demo objects; benchmarks where the store must not
   * be the bottleneck). The s3rver twin is started either way. @default "s3"
   */
  readonly storeKind?: "s3" | "file" | "memory";
  /**
   * More dev writer key files for the signer besides the lane's own (rotation tests, other
   * writers). The start directory lists them for "verify" only (./dev-keys.ts ensureLaneKeys):
   * they read what they sealed but push nothing until an admin-signed directory says "write".
   */
  readonly extraWriterKeyFiles?: readonly string[];
  /**
   * Give the lane a dev lane signing key (ensureDevLaneKey): one trust anchor across signer
   * restarts and runtime+signer pairs. `npm start` turns it on. @default false
   */
  readonly laneKey?: boolean;
  /** Pin processes to CPUs with `taskset -c` when available (benchmarks). */
  readonly cpus?: { readonly runtime?: string; readonly signer?: string; readonly store?: string };
  /** Extra node flags per process, before the script (benchmarks: `--cpu-prof`, which NODE_OPTIONS refuses). */
  readonly nodeArgs?: { readonly runtime?: readonly string[]; readonly signer?: readonly string[] };
  /**
   * Run the checkpoint sequencer of every view of the lane's registry (provable freshness, issue
   * #16): the demo load reports to it, the runtime follows its log, answers carry fresh_as_of.
   * Off: no checkpoints (answers' fresh_as_of is null). @default true
   */
  readonly sequencer?: boolean;
}

export interface Lane {
  readonly url: string;
  readonly storeEndpoint: string;
  readonly bucket: string;
  readonly signerSocket: string;
  keyid: string;
  readonly dataDir: string;
  /** A store client on the lane's bucket (tests write objects with it). */
  readonly store: S3Store;
  /** What the runtime reads from; with "file", objectsDir is the FileStore root. */
  readonly storeKind: "s3" | "file" | "memory";
  readonly objectsDir: string;
  /** CPU pinning applied (empty when taskset is unavailable or none was asked). */
  readonly pinning: Readonly<Record<string, string>>;
  /** The dev writer key file (dataDir/keys/seal-dev.json, gitignored) given to the signer and to local writers. */
  readonly sealKeyFile: string;
  /** The same file under its current name, and the lane's other dev key files (lanePaths()). */
  readonly writerKeyFile: string;
  readonly keys: LaneKeyPaths;
  /** The dev writer's kid (the directory lists it for "write"). */
  readonly writerKid: string;
  /** The checkpoint sequencer's endpoint (writers report to it; lane.json `sequencer`); undefined when off. */
  readonly sequencerUrl?: string;
  /** Stop / start the in-process sequencer (its state stays in dataDir/sequencer): checkpoints stop, fresh_as_of ages. */
  stopSequencer(): Promise<void>;
  startSequencer(): Promise<void>;
  /** Report objects a local writer stored directly (entity → entityMapValue) to the sequencer, as the dev writer; a no-op when it is off. */
  reportWrites(view: string, writes: ReadonlyArray<readonly [string, Uint8Array | null]>): Promise<number>;
  /** Process ids of the running children (CPU accounting in bench/cpu.ts). */
  pids(): { readonly runtime?: number; readonly signer?: number; readonly store?: number };
  stopSigner(): Promise<void>;
  startSigner(): Promise<string>;
  stop(): Promise<void>;
}

type Program = "runtime" | "dev-signer" | "local-store";
const SOURCES: Record<Program, string> = {
  runtime: "runtime/main.ts",
  // The development entry point (LocalNsm, dev CA, dev key files); never in the measured image.
  "dev-signer": "enclave/dev-main.ts",
  "local-store": "dev/lane/local-store.ts",
};

/** The bundles a lane runs (dev/build.ts names): build these before startLane(). */
export const LANE_BUNDLES: readonly string[] = ["runtime", "signer", "dev-signer", "local-store"];

function command(program: Program, bundles: boolean): string[] {
  if (!bundles) return ["--import", "tsx", join(ROOT, SOURCES[program])];
  const bundle = join(ROOT, "dist", `${program}.js`);
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: build the lane's bundles first (buildBundles(LANE_BUNDLES), dev/build.ts)`);
  return [bundle];
}

/** Spawn a child and wait for its one-line JSON ready event on stdout. */
function spawnReady(
  program: Program,
  args: string[],
  options: { bundles: boolean; env?: NodeJS.ProcessEnv; quiet?: boolean; cpu?: string; nodeArgs?: readonly string[] },
  event: string,
) {
  const argv = [...(options.nodeArgs ?? []), ...command(program, options.bundles), ...args];
  const pinned = options.cpu !== undefined && TASKSET !== undefined;
  const child = spawn(pinned ? TASKSET! : process.execPath, pinned ? ["-c", options.cpu!, process.execPath, ...argv] : argv, {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", options.quiet ? "pipe" : "inherit"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  return new Promise<{ child: ChildProcess; ready: Record<string, unknown> }>((resolveReady, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`${program} not ready after 30 s\n${stderr}`)), 30_000);
    lines.on("line", (line) => {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed.event === event) {
          clearTimeout(timer);
          resolveReady({ child, ready: parsed });
        }
      } catch {
        /* a log line, not the ready event */
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${program} exited with ${code} before it was ready\n${stderr}`));
    });
  });
}

function stopChild(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(force);
      done();
    });
    child.kill("SIGTERM");
  });
}

/**
 * A restart of `npm start` need not rewrite 3,000 objects: skip when the first and last demo
 * objects are there, sealed by this lane's writer key and fresh for at least half the view's max
 * age (demo event times are the load time; older ones would soon read OUTSIDE_MAX_AGE).
 */
async function demoAlreadyLoaded(store: S3Store | FileStore, count: number, seals: SealKeyring): Promise<boolean> {
  const maxAgeMs = (DEFAULT_REGISTRY.get(DEMO_VIEW)?.ttlSeconds ?? 0) * 1000;
  for (const i of [0, count - 1]) {
    const got = await store.get(objectKey(DEMO_VIEW, demoEntityId(i))).catch(() => null);
    if (!got || !got.found) return false;
    const opened = seals.open(got.body, DEMO_VIEW, demoEntityId(i));
    if (!opened.ok || Date.now() - opened.object.event_time > maxAgeMs / 2) return false;
  }
  return true;
}

async function loadDemo(
  store: S3Store | FileStore,
  count: number,
  seals: SealKeyring,
  onProgress?: (done: number, total: number) => void,
  reporter?: SequencerReporter,
): Promise<void> {
  const now = Date.now();
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const bytes = demoSealedBytes(i, now, seals);
      await store.put(objectKey(DEMO_VIEW, demoEntityId(i)), bytes, { contentType: "application/msgpack" });
      // A writer reports what it stored (the sequencer never scans the store).
      reporter?.add(demoEntityId(i), entityMapValue(inspectSealed(bytes)!.eventTime, bytes));
      done++;
      if (done % 250 === 0 || done === count) onProgress?.(done, count);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

/**
 * The runtime listens before its signer connection is up (in production it must answer 503 rather
 * than refuse connections); the lane is handed out only once /health/ready says store and signer
 * are both reachable, so callers never race the signer handshake.
 */
async function waitUntilReady(url: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < until) {
    try {
      const res = await fetch(`${url}/health/ready`);
      last = await res.text();
      if (res.status === 200) return;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`lane not ready after ${timeoutMs} ms: ${last}`);
}

/**
 * Where a lane in `dataDir` keeps its dev keys (./dev-keys.ts: writer key, admin key, trust config,
 * signed directory) and (file/memory stores) its objects. The one place that names these files.
 */
export function lanePaths(dataDir: string): LaneKeyPaths & { readonly sealKeyFile: string; readonly objectsDir: string } {
  const keys = laneKeyPaths(dataDir);
  return { ...keys, sealKeyFile: keys.writerKeyFile, objectsDir: join(dataDir, "objects") };
}

/** The dev signer's key arguments for a lane in `dataDir` (startLane and children.ts spawnSigner). */
export function devSignerKeyArgs(dataDir: string, extraWriterKeyFiles: readonly string[] = []): string[] {
  const p = lanePaths(dataDir);
  // The dev lane key when the lane has one (npm start makes it): every signer of the lane signs with it.
  const lane = existsSync(p.laneKeyFile) ? ["--lane-key-file", p.laneKeyFile] : [];
  // The registry document too (when the lane has one): answers name it from the first read on.
  const registry = existsSync(p.registryFile) ? ["--registry-document", p.registryFile] : [];
  return ["--trust-config", p.trustConfigFile, "--writer-key-file", [p.writerKeyFile, ...extraWriterKeyFiles].join(","), "--key-directory", p.directoryFile, ...registry, ...lane];
}

export async function startLane(options: LaneOptions = {}): Promise<Lane> {
  const dataDir = resolve(options.dataDir ?? join(ROOT, ".lane"));
  const bundles = options.bundles ?? true;
  const bucket = options.bucket ?? "lane";
  mkdirSync(dataDir, { recursive: true });
  const signerSocket = join(dataDir, "signer.sock");
  const paths = lanePaths(dataDir);
  const { sealKeyFile, objectsDir } = paths;
  const laneKeys = await ensureLaneKeys(dataDir, Date.now(), (options.extraWriterKeyFiles ?? []).map(readWriterKeyFile));
  if (options.laneKey) ensureDevLaneKey(dataDir);
  await ensureLaneRegistry(dataDir);
  const seals = writerKeyring([laneKeys.writer]);
  const storeKind = options.storeKind ?? "s3";
  const cpus = options.cpus ?? {};
  const pinning: Record<string, string> = {};
  if (TASKSET) for (const [k, v] of Object.entries(cpus)) if (v !== undefined) pinning[k] = v;
  const children: { store: ChildProcess | null; signer: ChildProcess | null; runtime: ChildProcess | null } = { store: null, signer: null, runtime: null };
  let sequencer = null as RunningSequencer | null;
  let viewsWatch: NodeJS.Timeout | undefined;
  const base = { bundles, quiet: options.quiet };

  try {
    const storeStarted = await spawnReady(
      "local-store",
      ["--port", String(options.storePort ?? 0), "--dir", join(dataDir, "store"), "--bucket", bucket],
      { ...base, cpu: cpus.store },
      "store_ready",
    );
    children.store = storeStarted.child;
    const storeEndpoint = String(storeStarted.ready.endpoint);
    const store = new S3Store({ bucket, endpoint: storeEndpoint, addressing: "path", region: "us-east-1", credentials: new StaticCredentials(LOCAL_STORE_CREDENTIALS) });
    // "memory": the runtime preloads the same folder into RAM at start (benchmarks).
    const demoTarget = storeKind !== "s3" ? new FileStore({ root: objectsDir }) : store;
    if (storeKind !== "s3") mkdirSync(objectsDir, { recursive: true });
    const demoCount = options.demoEntities ?? 3000;
    // The sequencer publishes where the runtime reads (the file folder behind file/memory stores).
    const sequencerOn = options.sequencer ?? true;
    let pinned: Ed25519Jwk[] | undefined;
    // Views applied while the lane runs get a sequencer too (watchViews below): one per view.
    const sequencedViews = new Set(DEFAULT_REGISTRY.all.map((v) => v.name));
    const startSequencer = async (): Promise<void> => {
      sequencer = await runSequencer({
        views: [...sequencedViews],
        lane: DEV_LANE,
        key: laneKeys.writer,
        store: demoTarget,
        stateDir: join(dataDir, "sequencer"),
        pinned,
      });
    };
    if (sequencerOn) await startSequencer();
    const demoHeld = (sequencer?.sequencers.get(DEMO_VIEW)?.size ?? 0) >= demoCount;
    if (demoCount > 0 && !((sequencer === null || demoHeld) && (await demoAlreadyLoaded(demoTarget, demoCount, seals)))) {
      const reporter = sequencer ? new SequencerReporter({ url: sequencer.url, view: DEMO_VIEW, key: laneKeys.writer }) : undefined;
      await loadDemo(demoTarget, demoCount, seals, options.onProgress, reporter);
      const r = await reporter?.close();
      if (r && r.failed > 0) throw new Error(`the demo load could not report to the sequencer: ${r.errors[0]}`);
    }

    const startSigner = async (): Promise<string> => {
      const started = await spawnReady(
        "dev-signer",
        ["--socket", signerSocket, "--dev-ca-dir", join(dataDir, "dev-ca"), ...devSignerKeyArgs(dataDir, options.extraWriterKeyFiles)],
        { ...base, cpu: cpus.signer, env: options.signerEnv, nodeArgs: options.nodeArgs?.signer },
        "signer_ready",
      );
      children.signer = started.child;
      // The key answers are signed with: the lane key when there is one, else the signer's own.
      return String(started.ready.signing_keyid ?? started.ready.keyid);
    };
    const keyid = await startSigner();

    const runtimeStarted = await spawnReady(
      "runtime",
      // The runtime forwards the signed directory to the signer (at start, reconnect, SIGHUP); it cannot make one.
      // Likewise the registry document (views), and it polls the store's fleet copy that `apply` writes.
      ["--key-directory", paths.directoryFile, "--registry-document", paths.registryFile],
      {
        ...base,
        cpu: cpus.runtime,
        // Same heap growth as the production unit (constructs/host-units.ts): after each full GC the
        // old generation may grow to 1.5× what survived instead of V8's up to 4× on a machine with
        // this much memory — runtime peak RSS 116–120 MB against 130–163 MB, no cap on live data
        // (a large view's entity map still fits), batch latency no worse (docs/performance.md
        // "Session 7: runtime read path"). A V8 flag NODE_OPTIONS does not accept: a node argument.
        nodeArgs: ["--heap-growing-percent=50", ...(options.nodeArgs?.runtime ?? [])],
        env: {
          EXPRESS_LANE_HOST: "127.0.0.1",
          EXPRESS_LANE_PORT: String(options.port ?? 8080),
          EXPRESS_LANE_SIGNER_SOCKET: signerSocket,
          EXPRESS_LANE_STORE: "s3",
          EXPRESS_LANE_BUCKET: bucket,
          EXPRESS_LANE_REGION: "us-east-1",
          EXPRESS_LANE_S3_ENDPOINT: storeEndpoint,
          EXPRESS_LANE_S3_ADDRESSING: "path",
          EXPRESS_LANE_S3_ACCESS_KEY_ID: LOCAL_STORE_CREDENTIALS.accessKeyId,
          EXPRESS_LANE_S3_SECRET_ACCESS_KEY: LOCAL_STORE_CREDENTIALS.secretAccessKey,
          EXPRESS_LANE_LOG_LEVEL: "warn",
          // Same heap shape as the production unit (constructs/host-units.ts).
          NODE_OPTIONS: [process.env.NODE_OPTIONS, "--max-semi-space-size=2"].filter(Boolean).join(" "),
          ...(storeKind !== "s3" ? { EXPRESS_LANE_STORE: storeKind, EXPRESS_LANE_STORE_DIR: objectsDir } : {}),
          ...options.runtimeEnv,
        },
      },
      "runtime_ready",
    );
    children.runtime = runtimeStarted.child;
    const url = `http://127.0.0.1:${String(runtimeStarted.ready.port)}`;
    await waitUntilReady(url);
    // The CLI's defaults for this lane (cli/lane-config.ts): `verify`, `load`, `push`… need no flags.
    const keyPaths = laneKeyPaths(dataDir);
    writeLaneConfig(dataDir, {
      version: 1,
      url,
      store: { endpoint: storeEndpoint, bucket, region: "us-east-1" },
      keys: {
        ...(options.laneKey ? { lane_jwks: keyPaths.laneJwksFile } : {}),
        writer_key: keyPaths.writerKeyFile,
        admin_key: keyPaths.adminKeyFile,
        directory: keyPaths.directoryFile,
        trust_config: keyPaths.trustConfigFile,
      },
      dev_ca_dir: join(dataDir, "dev-ca"),
      keyid,
      ...(sequencer ? { sequencer: sequencer.url } : {}),
    });
    // Push answers reported to the sequencer are checked against the lane's signing key.
    const pinSequencer = async (): Promise<void> => {
      if (!sequencer) return;
      pinned = options.laneKey ? (JSON.parse(readFileSync(keyPaths.laneJwksFile, "utf8")) as { keys: Ed25519Jwk[] }).keys : await signingKeyOf(url, lane.keyid);
      if (pinned) sequencer.pin(pinned);
    };

    const lane: Lane = {
      url,
      storeEndpoint,
      bucket,
      signerSocket,
      keyid,
      dataDir,
      store,
      storeKind,
      objectsDir,
      pinning,
      sealKeyFile,
      writerKeyFile: sealKeyFile,
      keys: laneKeyPaths(dataDir),
      writerKid: laneKeys.writer.kid,
      get sequencerUrl() {
        return sequencer?.url;
      },
      stopSequencer: async () => {
        await sequencer?.stop();
        sequencer = null;
      },
      startSequencer: async () => {
        if (!sequencer) await startSequencer();
      },
      reportWrites: async (view, writes) => {
        if (!sequencer) return 0;
        const reporter = new SequencerReporter({ url: sequencer.url, view, key: laneKeys.writer, batch: 5000 });
        for (const [entity, value] of writes) reporter.add(entity, value);
        const r = await reporter.close();
        if (r.failed > 0) throw new Error(`${r.failed} writes not reported to the sequencer: ${r.errors[0]}`);
        return r.reported;
      },
      pids: () => ({ runtime: children.runtime?.pid, signer: children.signer?.pid, store: children.store?.pid }),
      stopSigner: async () => {
        await stopChild(children.signer);
        children.signer = null;
      },
      startSigner: async () => {
        lane.keyid = await startSigner();
        await pinSequencer().catch(() => undefined);
        return lane.keyid;
      },
      stop: async () => {
        clearInterval(viewsWatch);
        await sequencer?.stop();
        sequencer = null;
        await Promise.all([stopChild(children.runtime), stopChild(children.signer)]);
        await store.close();
        await stopChild(children.store);
      },
    };
    await pinSequencer();
    // A view applied later (express-lane apply, PUT /v1/registry, the fleet copy) is served at once;
    // the local lane starts its sequencer as soon as the runtime lists it, so its answers are proven
    // within a poll or two. (In production each view's sequencer is started with it: docs/operations.md.)
    const watchViews = async (): Promise<void> => {
      if (!sequencer) return;
      const res = await fetch(`${url}/v1/views`);
      if (!res.ok) return;
      const { views } = (await res.json()) as { views: Array<{ name: string }> };
      for (const { name } of views) {
        if (sequencedViews.has(name)) continue;
        sequencedViews.add(name);
        await sequencer.addView(name);
      }
    };
    viewsWatch = setInterval(() => void watchViews().catch(() => undefined), 200);
    viewsWatch.unref();
    // Ready means the runtime has a view's first checkpoint once it has seen one; it may not have
    // seen the sequencer's first head yet (it polls every 250 ms), and until then its answers are
    // unproven, which consumers reject. Hand the lane out once the demo view's answers are proven.
    if (sequencer && demoCount > 0) await waitUntilProven(url, DEMO_VIEW);
    return lane;
  } catch (err) {
    await sequencer?.stop().catch(() => undefined);
    await Promise.all([stopChild(children.runtime), stopChild(children.signer), stopChild(children.store)]);
    throw err;
  }
}

/**
 * Until a read of `view` carries a checkpoint proof (`fresh_as_of` set on a not-found answer for an
 * id never written). A runtime that asks for API keys cannot be probed without one: not waited for.
 */
async function waitUntilProven(url: string, view: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < until) {
    const res = await fetch(`${url}/v1/features/${view}/never-written`);
    if (res.status === 401 || res.status === 403) return;
    last = await res.text();
    if (res.status === 404 && (JSON.parse(last) as { fresh_as_of?: unknown }).fresh_as_of) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`view ${view} not proven after ${timeoutMs} ms: ${last.slice(0, 300)}`);
}

/**
 * The lane's signing key as the runtime offers it (GET /v1/signer), kept only when its thumbprint is
 * the keyid the signer announced at start to this process (the local lane's own child): the pin the
 * in-process sequencer verifies push answers against. Not a trust anchor for anyone else.
 */
async function signingKeyOf(url: string, keyid: string): Promise<Ed25519Jwk[] | undefined> {
  const res = await fetch(`${url}/v1/signer`);
  if (!res.ok) return undefined;
  const info = (await res.json()) as { jwk?: Ed25519Jwk; lane_keys?: Array<{ jwk: Ed25519Jwk }>; enclave_key?: { jwk: Ed25519Jwk } };
  const offered = [info.jwk, info.enclave_key?.jwk, ...(info.lane_keys ?? []).map((k) => k.jwk)].filter((k): k is Ed25519Jwk => k !== undefined);
  const match = offered.find((k) => jwkThumbprint(k) === keyid);
  return match ? [match] : undefined;
}
