/** The local lane for a run: processes (store twin, signer, runtime), pinning, seeded objects, the direct baseline; machine facts for the result. (Split out of bench/main.ts by job, issue #17.) */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, hostname, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { seedObjects } from "./targets";
import { type BenchResult } from "./report";
import { lanePaths, startLane, LOCAL_STORE_CREDENTIALS, type Lane } from "../dev/lane/processes";
import { FileStore } from "../runtime/store/file-store";
import { S3Store } from "../runtime/store/s3-store";
import { StaticCredentials, awsDefaultCredentials } from "../runtime/store/credentials";
import type { ObjectStore, ObjectWriter } from "../runtime/store/types";
import { MemoryStore } from "../runtime/store/memory-store";
import { DEFAULT_STORE_CONNECTIONS } from "../runtime/config";
import { ensureDevSealKeyFile, SealKeyring } from "../enclave/seal";
import { BenchOptions, root } from "./options";
import { entityMapValue } from "../wire/checkpoint";
import { BENCH_VIEW } from "./targets";

/**
 * Pin the lane (runtime → CPU 0, signer → CPU 1) only where the load generator keeps cores of its
 * own. taskset pins every thread of a process, V8's GC helpers and libuv's pool included: on a
 * 2-vCPU machine that put each process's GC on its own main thread's core and multiplied the batch
 * P99 by ≈ 4 in side-by-side runs (docs/performance.md). `--pin` forces it.
 */
export function pinLane(opts: Pick<BenchOptions, "pin">, cpuCount: number): boolean {
  if (cpuCount < 2) return false;
  return opts.pin ?? cpuCount >= 4;
}

/**
 * CPUs for the load generator when the lane is pinned (runtime 0, signer and store 1): the rest,
 * or none when there is no rest.
 */
export function generatorCpus(cpuCount: number): string | undefined {
  if (cpuCount < 3) return undefined;
  return cpuCount === 3 ? "2" : `2-${cpuCount - 1}`;
}

/** The open-loop pacing this run uses (auto resolved against this machine's CPU count). */

export function machine(): BenchResult["machine"] {
  const c = cpus();
  return {
    hostname: hostname(),
    cpus: c.length,
    cpuModel: c[0]?.model ?? "?",
    memoryBytes: totalmem(),
    node: process.version,
    platform: process.platform,
    kernel: release(),
    loadavg: loadavg(),
  };
}

export function gitCommit(): string | undefined {
  const r = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root(), encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export interface LocalLane {
  lane: Lane;
  dataDir: string;
  direct: ObjectStore;
  objectBytes: number;
  stop(): Promise<void>;
}

export async function startLocal(opts: BenchOptions, runtimeEnv: Record<string, string>, log: (s: string) => void, signerEnv: Record<string, string> = {}): Promise<LocalLane> {
  for (const b of ["runtime", "signer", "local-store"]) {
    if (!existsSync(join(root(), "dist", `${b}.js`))) throw new Error(`dist/${b}.js is missing: run \`npx tsx dev/build.ts\` (npm run bench does)`);
  }
  const dataDir = mkdtempSync(join(tmpdir(), "express-lane-bench-"));
  const cpuCount = cpus().length;
  // Runtime on core 0, signer on core 1 (the goal's layout); the store twin shares core 1.
  const pins = pinLane(opts, cpuCount) ? { runtime: "0", signer: "1", store: "1" } : undefined;
  // The lane's signer only signs sealed objects (layout v2): seal with the lane's dev seal key, as
  // the local lane's own demo loader does.
  const paths = lanePaths(dataDir);
  const seals = new SealKeyring([ensureDevSealKeyFile(paths.sealKeyFile)]);
  // What the seeding writer stored, for the view's checkpoint sequencer (issue #16): unreported
  // objects older than the report window would be refused as rolled_back.
  const seeded: Array<readonly [string, Buffer]> = [];
  const seed = async (writer: ObjectWriter): Promise<number> => {
    log(`seeding ${opts.entities} objects of ~${opts.size} bytes into the ${opts.store} store…`);
    return seedObjects(writer, opts.entities, opts.size, (o) => {
      const bytes = seals.seal(o);
      seeded.push([o.entity, entityMapValue(o.event_time, bytes)]);
      return bytes;
    });
  };
  const report = async (lane: Lane): Promise<void> => {
    if (!lane.sequencerUrl) return;
    log(`reported ${await lane.reportWrites(BENCH_VIEW, seeded)} seeded objects to the checkpoint sequencer`);
  };
  // memory: the runtime loads the folder into RAM when it starts, so the objects go in first.
  let objectBytes = opts.store === "memory" ? await seed(new FileStore({ root: paths.objectsDir, etags: false })) : 0;
  // EXPRESS_LANE_BENCH_SEQUENCER=off: no checkpoints (answers carry fresh_as_of null): the "before" of issue #16's read-path cost.
  const sequencer = process.env.EXPRESS_LANE_BENCH_SEQUENCER !== "off";
  const lane = await startLane({ dataDir, port: 0, demoEntities: 0, storeKind: opts.store, cpus: pins, quiet: true, runtimeEnv, signerEnv, sequencer });
  try {
    if (opts.store === "file") objectBytes = await seed(new FileStore({ root: lane.objectsDir, etags: false }));
    if (opts.store === "s3") objectBytes = await seed(lane.store);
    await report(lane);
    // The baseline uses exactly the store client the runtime builds for this --store.
    const direct: ObjectStore =
      opts.store === "memory"
        ? MemoryStore.fromFileStoreDir(lane.objectsDir)
        : opts.store === "file"
          ? new FileStore({ root: lane.objectsDir, etags: false })
          : new S3Store({
              bucket: lane.bucket,
              endpoint: lane.storeEndpoint,
              addressing: "path",
              region: "us-east-1",
              credentials: new StaticCredentials(LOCAL_STORE_CREDENTIALS),
              connections: DEFAULT_STORE_CONNECTIONS, // the runtime's default --store-connections
            });
    return {
      lane,
      dataDir,
      direct,
      objectBytes,
      stop: async () => {
        await direct.close();
        await lane.stop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await lane.stop();
    throw err;
  }
}

export function remoteDirect(opts: BenchOptions): ObjectStore | undefined {
  if (opts.directDir) return new FileStore({ root: opts.directDir, etags: false });
  if (!opts.directBucket) return undefined;
  const express = opts.directBucket.endsWith("--x-s3");
  return new S3Store({
    bucket: opts.directBucket,
    region: opts.directRegion,
    endpoint: opts.directEndpoint,
    credentials: express ? undefined : awsDefaultCredentials(),
    connections: 64,
  });
}
