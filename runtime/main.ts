/**
 * Reader runtime entry point (bundled to dist/runtime.js): wires config → store → signer client →
 * HTTP service, and shuts down cleanly on SIGTERM/SIGINT.
 */
import { randomBytes } from "node:crypto";
import pino from "pino";
import { unverifiedPcr0 } from "../verifier/attestation";
import { parseRuntimeConfig, RuntimeConfig } from "./config";
import { buildInfoFromEnv, LaneMetrics } from "./metrics";
import { ReaderService } from "./server";
import { SignerClient } from "./signer-client";
import { KeyProvisioning } from "./key-provisioning";
import { RegistrySync } from "./registry-sync";
import { CheckpointFollower } from "./checkpoint-follower";
import { DEFAULT_REGISTRY, DEFAULT_REGISTRY_REF } from "../registry/views";
import { awsDefaultCredentials, StaticCredentials } from "./store/credentials";
import { FileStore } from "./store/file-store";
import { MemoryStore } from "./store/memory-store";
import { S3Store } from "./store/s3-store";
import type { ObjectStore } from "./store/types";
import { HedgedStore } from "./store/hedged-store";
import { describeModel, SimulatedLatencyStore } from "./store/simulated-latency";
import { gateFromConfig } from "./gate";
import { createListener, drain } from "./listener";
import { lifecycleLogger } from "./log";
import { StageTraceLog } from "./stage-trace";
import type { ProvisionKeysResponse } from "../wire/frames";

/** The configured store, wrapped: [hedging] → [SIMULATION latency] → store client. */
export function createStore(config: RuntimeConfig, metrics?: LaneMetrics, logger?: pino.Logger): ObjectStore {
  let store = createBaseStore(config);
  if (config.storeLatency) {
    logger?.warn(
      { simulation: true, model: describeModel(config.storeLatency) },
      "SIMULATION: store GETs are delayed by a what-if latency model (--store-latency); not for production",
    );
    store = new SimulatedLatencyStore(store, { model: config.storeLatency, registry: metrics?.registry });
  }
  if (config.hedge) store = new HedgedStore(store, { maxRatio: config.hedgeMaxRatio, registry: metrics?.registry, maxDelayMs: config.storeTimeoutMs });
  return store;
}

function createBaseStore(config: RuntimeConfig): ObjectStore {
  if (config.store === "file") return new FileStore({ root: config.storeDir!, etags: false });
  if (config.store === "memory") return MemoryStore.fromFileStoreDir(config.storeDir!);
  const credentials =
    config.accessKeyId && config.secretAccessKey ? new StaticCredentials({ accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey }) : undefined;
  const express = config.addressing === "express" || (config.addressing === undefined && config.bucket.endsWith("--x-s3"));
  return new S3Store({
    bucket: config.bucket,
    region: config.region,
    endpoint: config.endpoint,
    addressing: config.addressing,
    // Express mode gets session credentials from CreateSession (the SDK's default chain).
    credentials: express ? undefined : (credentials ?? awsDefaultCredentials()),
    connections: config.storeConnections,
    readClient: config.storeReadClient,
    timeoutMs: config.storeTimeoutMs,
    // The reader only reads: ask CreateSession for a ReadOnly session (the bucket policy allows
    // hosts nothing else).
    sessionMode: "ReadOnly",
  });
}

async function main(): Promise<void> {
  let config: RuntimeConfig;
  try {
    config = parseRuntimeConfig(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`express-lane-runtime: ${(err as Error).message}\n`);
    process.exit(2);
  }
  // Never log credentials, even if a header object ends up in a log call.
  const logger = pino({
    level: config.logLevel,
    base: { service: "express-lane-runtime" },
    redact: ["req.headers.authorization", 'req.headers["x-api-key"]', "headers.authorization", 'headers["x-api-key"]'],
  });
  // The view label follows the registry the runtime serves now (a new view gets its own series).
  const metrics = new LaneMetrics({
    isKnownView: (view) => (registrySync?.current.registry ?? DEFAULT_REGISTRY).get(view) !== undefined,
    buildInfo: { ...buildInfoFromEnv(), registry_version: process.env.EXPRESS_LANE_REGISTRY_VERSION ?? String(DEFAULT_REGISTRY_REF.version) },
  });
  const store = createStore(config, metrics, logger);
  // One connection per role (the signer refuses other frames on each). Keys: the signer starts
  // without a directory in production; every (re)connect of the provision connection sends it.
  let sealProvisioning: KeyProvisioning | undefined;
  let registrySync: RegistrySync | undefined;
  let checkpointFollower: CheckpointFollower | undefined;
  const stageTrace = config.traceStages ? new StageTraceLog(config.traceStages) : undefined;
  if (stageTrace) logger.warn({ file: config.traceStages }, "stage tracing on (--trace-stages): a benchmark instrument, not for production");
  const signer = new SignerClient({
    role: "read",
    socketPath: config.signerSocket,
    timeoutMs: config.signerTimeoutMs,
    traceStages: stageTrace !== undefined,
    onStateChange: (up, key) => {
      metrics.signerUp.set(up ? 1 : 0);
      // The signer may have restarted (it then holds no checkpoint): reads wait (503
      // checkpoint_pending) until the follower has handed it the views' checkpoints again.
      checkpointFollower?.signerReconnected();
      logger.info({ up, keyid: key?.keyid }, up ? "signer connected" : "signer disconnected");
      // lane_build_info's pcr0 from the signer's own attestation document (a label, not a check),
      // unless the host unit named it.
      if (up && process.env.EXPRESS_LANE_PCR0 === undefined) {
        signer
          .attest(randomBytes(32))
          .then((reply) => metrics.updateBuildInfo({ pcr0: unverifiedPcr0(Buffer.from(reply.document)) ?? "" }))
          .catch((err: unknown) => logger.debug({ err }, "no attestation for lane_build_info"));
      }
    },
  });
  const writeSigner = new SignerClient({ role: "write", socketPath: config.signerSocket, timeoutMs: config.signerTimeoutMs });
  const provisionSigner = new SignerClient({
    role: "provision",
    socketPath: config.signerSocket,
    timeoutMs: config.signerTimeoutMs,
    onStateChange: (up) => {
      if (up) void sealProvisioning?.trigger();
      // A restarted enclave starts from the image default: forward the newest document again.
      if (up) void registrySync?.sync();
      // Nor any checkpoint: forward the current ones again before proving against them.
      if (up) checkpointFollower?.signerReconnected();
    },
  });
  if (config.keyDirectory) {
    const roleCredentials = config.sealKeysFile || config.laneKeysFile ? awsDefaultCredentials() : undefined;
    sealProvisioning = new KeyProvisioning({
      directoryFile: config.keyDirectory,
      file: config.sealKeysFile,
      laneKeysFile: config.laneKeysFile,
      credentials: roleCredentials ? () => roleCredentials.resolve() : undefined,
      signer: provisionSigner,
      logger,
    });
    if (provisionSigner.up) void sealProvisioning.trigger();
  }
  registrySync = new RegistrySync({
    signer: provisionSigner,
    imageDefault: { registry: DEFAULT_REGISTRY, ref: DEFAULT_REGISTRY_REF },
    file: config.registryDocument,
    store,
    keyPrefix: config.keyPrefix,
    pollMs: config.registryPollMs,
    logger,
    onChange: (held) => metrics.updateBuildInfo({ registry_version: String(held.ref.version) }),
  });
  if (config.registryPollMs > 0) registrySync.start();
  else if (provisionSigner.up) void registrySync.sync();
  if (config.checkpointPollMs > 0) {
    const sync = registrySync;
    checkpointFollower = new CheckpointFollower({
      // A memory store is a copy taken at start: follow the log in the folder it was loaded from.
      store: config.store === "memory" ? new FileStore({ root: config.storeDir!, etags: false }) : store,
      signer: provisionSigner,
      views: () => sync.current.registry.all.map((v) => v.name),
      keyPrefix: config.keyPrefix,
      pollMs: config.checkpointPollMs,
      logger,
      registry: metrics.registry,
    });
    checkpointFollower.start();
  }
  const { gate, reload } = await gateFromConfig(config, metrics.registry, logger);
  const keysReady = config.keyDirectory ? () => (sealProvisioning?.last?.kids.length ?? 0) > 0 : undefined;
  const service = new ReaderService({
    store,
    signer,
    writeSigner,
    keysReady,
    metrics,
    logger,
    keyPrefix: config.keyPrefix,
    selfVerifyRate: config.selfVerifyRate,
    gate,
    accessLog: config.accessLog,
    registry: registrySync,
    stageTrace,
    checkpoints: checkpointFollower,
  });
  // The lane keys the signer holds: /v1/signer publishes them, the self-check verifies with them.
  if (sealProvisioning) {
    const provisioned = (reply: ProvisionKeysResponse): void => {
      service.setLaneKeys(reply.laneKeys);
      metrics.observeProvisioned(reply);
    };
    sealProvisioning.onProvisioned = provisioned;
    if (sealProvisioning.last) provisioned(sealProvisioning.last);
  }
  const server = createListener(service, config.tlsCert ? { certFile: config.tlsCert, keyFile: config.tlsKey!, clientCaFile: config.tlsClientCa } : undefined, config.httpServer);
  await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  // The ready line the local lane and systemd logs wait for: a pino line at any --log-level.
  lifecycleLogger(logger).info({ event: "runtime_ready", host: config.host, port, httpServer: config.httpServer }, "runtime listening");

  // SIGTERM: stop accepting, answer what is in flight, then close store and signer connections.
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, inFlight: gate.inFlight }, "shutting down: draining in-flight requests");
    gate.startDraining();
    const drained = await drain(server, () => gate.inFlight, config.shutdownTimeoutMs);
    sealProvisioning?.stop();
    registrySync?.stop();
    checkpointFollower?.stop();
    signer.close();
    writeSigner.close();
    provisionSigner.close();
    await store.close().catch(() => undefined);
    await stageTrace?.close();
    logger.info({ drained }, "stopped");
    process.exit(drained ? 0 : 1);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  // SIGHUP: re-read the API keys document (a bad one keeps the old), re-provision the signer's
  // seal keys (the user data may have fetched a rotated directory) and re-sync the registry.
  process.on("SIGHUP", () => {
    void reload();
    void sealProvisioning?.trigger();
    void registrySync?.sync();
  });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`runtime failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
