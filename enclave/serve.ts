/**
 * What both signer entry points share once they have an NSM and the image trust config: key state,
 * provisioning, the signer, one attestation before ready, the socket, the ready line. The
 * production entry point (enclave/main.ts, the only one in the EIF) and the development one
 * (enclave/dev-main.ts, local NSM and dev key files) differ only in what they pass in.
 */
import type { KeyObject } from "node:crypto";
import { existsSync, unlinkSync } from "node:fs";
import pino from "pino";
import { availableParallelism } from "node:os";
import { KeyState } from "./key-state";
import { attestedLaneKeyUnwrap, attestedSealKeyUnwrap, KeyProvisioner } from "./key-provisioning";
import { LaneKeys } from "./lane-keys";
import { RegistryState } from "./registry-state";
import type { Nsm } from "./nsm/types";
import { Signer } from "./signer";
import type { ImageTrust } from "./trust-config";
import type { Registry } from "../wire/registry";
import type { RegistryRef } from "../wire/registry-document";

export interface ServeOptions {
  readonly socket: string;
  readonly validitySeconds: number;
  readonly nsm: Nsm;
  readonly trust: ImageTrust;
  /**
   * The pinned default views of this build (registry/views.json, bundled so PCR0 covers it): served
   * until the host delivers a newer admin-signed registry document.
   */
  readonly defaultRegistry: { readonly registry: Registry; readonly ref: RegistryRef };
  /** Development only: writer key material from files (production: KMS-wrapped, via ProvisionKeys). */
  readonly devKeys?: readonly { readonly kid: string; readonly key: Buffer }[];
  /** Development only: a signed key directory to start with (production: the host provisions it). */
  readonly initialDirectory?: Buffer;
  /** Development only: a signed registry document to start with (production: the host provisions it). */
  readonly initialRegistryDocument?: Buffer;
  /** Development only: lane signing keys from files (production: KMS-wrapped, via ProvisionKeys). */
  readonly devLaneKeys?: readonly { readonly kid: string; readonly privateKey: KeyObject; readonly notBefore: number; readonly notAfter: number }[];
  /** Development only (benchmarks): timing trailers on traced reads (enclave/stage-trace.ts). */
  readonly traceStages?: boolean;
  /** Signing threads (enclave/sign-workers.ts). @default 1 */
  readonly workers?: number;
}

export function parseValidity(value: string): number {
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) throw new Error("--validity must be an integer between 1 and 3600 seconds");
  return seconds;
}

/** `--workers`: 1..64, or `auto` = one per vCPU this process may use (the enclave's cpu_count). */
export function parseWorkers(value: string): number {
  if (value === "auto") return Math.min(64, Math.max(1, availableParallelism()));
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error("--workers must be auto or an integer between 1 and 64");
  return n;
}

export async function serveSigner(options: ServeOptions): Promise<void> {
  const state = new KeyState(options.trust);
  if (options.devKeys) state.offerKeys(options.devKeys);
  if (options.initialDirectory) state.acceptDirectory(options.initialDirectory);
  const laneKeys = new LaneKeys();
  for (const k of options.devLaneKeys ?? []) laneKeys.offer(k.kid, k.privateKey, k.notBefore, k.notAfter);
  const kms = options.trust.sealKms;
  const provisioner = new KeyProvisioner(
    state,
    kms ? { config: kms, unwrap: attestedSealKeyUnwrap(kms, options.nsm), unwrapLaneKey: attestedLaneKeyUnwrap(kms, options.trust.lane, options.nsm) } : undefined,
    laneKeys,
  );
  // Views: the image default until an admin-signed registry document arrives (same admin keys).
  const registryState = new RegistryState(options.trust, options.defaultRegistry);
  if (options.initialRegistryDocument) registryState.accept(options.initialRegistryDocument);
  const signer = new Signer({ validitySeconds: options.validitySeconds, nsm: options.nsm, provisioner, registryState, traceStages: options.traceStages, workers: options.workers });
  // One attestation before we say ready: proves the NSM works (device) or creates the dev CA
  // (local), so the first client request does not pay for it.
  await signer.attest({});
  if (existsSync(options.socket)) unlinkSync(options.socket); // a stale socket from a previous run
  const server = await signer.listen(options.socket);
  // The same line format as the runtime's (pino JSON); the ready line at info whatever else is logged.
  const logger = pino({ base: { service: "express-lane-signer" } });
  if (!state.keyring) logger.warn("no key directory yet; every stored object and push is refused until the host provisions one");
  // One line that the local lane (and systemd logs) read: where, and which key.
  logger.info(
    {
      event: "signer_ready",
      socket: options.socket,
      keyid: signer.key.keyid,
      signing_keyid: laneKeys.current(Date.now())?.keyid ?? signer.key.keyid,
      nsm: options.nsm.kind,
      lane: options.trust.lane,
      lane_keys: laneKeys.list(Date.now()).map((h) => h.key.keyid),
      workers: options.workers ?? 1,
      key_epoch: state.epoch,
      registry_version: registryState.current.ref.version,
      registry_digest: registryState.current.ref.digest,
      seal_kids: signer.sealKids,
      ...(kms ? { seal_kms_key: kms.keyArn } : {}),
    },
    "signer ready",
  );
  // close() unlinks the socket file: "net.createServer() may create a Unix domain socket and
  // server.close() will unlink it" (https://nodejs.org/api/net.html#identifying-paths-for-ipc-connections).
  const stop = (): void => {
    server.close();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

export function fail(err: unknown): never {
  process.stderr.write(`signer failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
}
