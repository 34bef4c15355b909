/**
 * Extra lane processes under the caller's control (hardening tests, soak, overload measurement):
 * a signer or a runtime started from the dist/ bundles like startLane() does, but returned with
 * their pid, captured stdout (the runtime's JSON logs) and signal helpers. They attach to a lane
 * started by startLane() (its store, its data).
 */
import { ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { devSignerKeyArgs, lanePaths, LOCAL_STORE_CREDENTIALS, type Lane } from "./processes";

const ROOT = existsSync(resolve(__dirname, "../../package.json")) ? resolve(__dirname, "../..") : resolve(__dirname, "..");

export interface Child {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every stdout line so far (the runtime logs JSON there). */
  readonly lines: string[];
  /** Ready-event fields. */
  readonly ready: Record<string, unknown>;
  /** With `heapProbe`: a full GC in the child, then its live heap (dev/lane/heap-probe.cjs). */
  liveHeap(): Promise<LiveHeap>;
  readonly exited: Promise<number | null>;
  alive(): boolean;
  signal(sig: NodeJS.Signals): void;
  stop(): Promise<void>;
}

/** process.memoryUsage() of a child right after a full garbage collection, in bytes. */
export interface LiveHeap {
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly rss: number;
}

export interface ChildOptions {
  /** Preload dev/lane/heap-probe.cjs (with --expose-gc) so liveHeap() works; soak instrumentation only. */
  readonly heapProbe?: boolean;
}

const HEAP_PROBE_ARGS = ["--expose-gc", "--require", join(ROOT, "dev", "lane", "heap-probe.cjs")];

function start(bundle: string, args: string[], env: Record<string, string>, event: string, options: ChildOptions = {}): Promise<Child> {
  const nodeArgs = options.heapProbe ? HEAP_PROBE_ARGS : [];
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, "dist", bundle), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const probes: Array<(h: LiveHeap) => void> = [];
  if (options.heapProbe)
    createInterface({ input: child.stderr! }).on("line", (line) => {
      if (!line.startsWith("heap_probe ")) return;
      const h = JSON.parse(line.slice("heap_probe ".length)) as LiveHeap & { error?: string };
      if (!h.error) probes.shift()?.(h);
    });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`${bundle} not ready after 30 s\n${stderr}`)), 30_000);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      lines.push(line);
      if (lines.length > 200_000) lines.splice(0, 100_000);
      if (!line.includes(`"${event}"`)) return;
      try {
        const ready = JSON.parse(line) as Record<string, unknown>;
        if (ready.event !== event) return;
        clearTimeout(timer);
        const alive = (): boolean => child.exitCode === null && child.signalCode === null;
        resolveReady({
          child,
          pid: child.pid!,
          lines,
          ready,
          exited,
          alive,
          signal: (sig) => {
            if (alive()) child.kill(sig);
          },
          liveHeap: () => {
            if (!options.heapProbe) return Promise.reject(new Error(`${bundle} was started without heapProbe`));
            return new Promise<LiveHeap>((resolveHeap, rejectHeap) => {
              const timer = setTimeout(() => rejectHeap(new Error(`${bundle}: no heap_probe answer in 10 s`)), 10_000);
              probes.push((h) => {
                clearTimeout(timer);
                resolveHeap(h);
              });
              child.kill("SIGUSR2");
            });
          },
          stop: async () => {
            if (!alive()) return;
            const force = setTimeout(() => child.kill("SIGKILL"), 5000);
            child.kill("SIGTERM");
            await exited;
            clearTimeout(force);
          },
        });
      } catch {
        /* a log line */
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${bundle} exited with ${code} before it was ready\n${stderr}`));
    });
  });
}

/**
 * A dev signer on `socket` with the keys of the lane in `dataDir` (its trust config, dev writer key
 * and signed directory, lanePaths()), so it accepts the lane's sealed objects and signed pushes.
 */
export function spawnSigner(socket: string, dataDir: string, extraWriterKeyFiles: readonly string[] = [], options: ChildOptions = {}): Promise<Child> {
  return start("dev-signer.js", ["--socket", socket, "--dev-ca-dir", join(dataDir, "dev-ca"), ...devSignerKeyArgs(dataDir, extraWriterKeyFiles)], {}, "signer_ready", options);
}

export interface RuntimeChild extends Child {
  readonly url: string;
  readonly port: number;
}

/** A runtime reading the lane's store through `storeEndpoint` (default: the lane's s3rver). */
export async function spawnRuntime(
  lane: Pick<Lane, "storeEndpoint" | "bucket" | "dataDir">,
  options: {
    signerSocket: string;
    storeEndpoint?: string;
    port?: number;
    env?: Record<string, string>;
    keyDirectory?: string;
    /** Return only once /health/ready is 200 (signer, store, keys and the views' checkpoints), as a load balancer would send traffic. */
    waitForReady?: boolean;
  } & ChildOptions,
): Promise<RuntimeChild> {
  const c = await start(
    "runtime.js",
    // The lane's signed key directory (or another one, for revocation tests), forwarded to the signer.
    ["--key-directory", options.keyDirectory ?? lanePaths(lane.dataDir).directoryFile],
    {
      EXPRESS_LANE_HOST: "127.0.0.1",
      EXPRESS_LANE_PORT: String(options.port ?? 0),
      EXPRESS_LANE_SIGNER_SOCKET: options.signerSocket,
      EXPRESS_LANE_STORE: "s3",
      EXPRESS_LANE_BUCKET: lane.bucket,
      EXPRESS_LANE_REGION: "us-east-1",
      EXPRESS_LANE_S3_ENDPOINT: options.storeEndpoint ?? lane.storeEndpoint,
      EXPRESS_LANE_S3_ADDRESSING: "path",
      EXPRESS_LANE_S3_ACCESS_KEY_ID: LOCAL_STORE_CREDENTIALS.accessKeyId,
      EXPRESS_LANE_S3_SECRET_ACCESS_KEY: LOCAL_STORE_CREDENTIALS.secretAccessKey,
      EXPRESS_LANE_LOG_LEVEL: "warn",
      ...options.env,
    },
    "runtime_ready",
    options,
  );
  const port = Number(c.ready.port);
  const scheme = options.env?.EXPRESS_LANE_TLS_CERT ? "https" : "http";
  const url = `${scheme}://127.0.0.1:${port}`;
  if (options.waitForReady) {
    const until = Date.now() + 15_000;
    for (;;) {
      const res = await fetch(`${url}/health/ready`).catch(() => null);
      if (res?.status === 200) break;
      if (Date.now() > until) {
        await c.stop();
        throw new Error(`runtime not ready after 15 s: ${res ? await res.text() : "no answer"}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return Object.assign(c, { port, url });
}

/** Resident set size of a process in KiB (VmRSS from /proc/<pid>/status); NaN when unknown. */
export function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}
