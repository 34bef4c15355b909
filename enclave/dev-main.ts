/**
 * The DEVELOPMENT signer entry point (dist/dev-signer.js): the same signer as enclave/main.ts, with
 * the local NSM twin (Nitro-format documents under the local dev root in .lane/dev-ca) and writer
 * keys from dev files instead of KMS. Never part of the enclave image. The key directory still
 * decides which of those keys are used, exactly as in production.
 */
import { readFileSync } from "node:fs";
import { isMainThread } from "node:worker_threads";
import { Command, Option } from "commander";
import { DEFAULT_DEV_CA_DIR, LocalNsm } from "./nsm/local-nsm";
import { readDevLaneKeyFile, readSealKeyFile } from "./seal";
import { fail, parseValidity, parseWorkers, serveSigner } from "./serve";
import { readImageTrust } from "./trust-config";
import { DEFAULT_REGISTRY, DEFAULT_REGISTRY_REF } from "../registry/views";
// This bundle is also the code of its signing worker threads (--workers): started as one, it runs that.
import "./sign-worker";

async function main(): Promise<void> {
  const opts = new Command("express-lane-dev-signer")
    .description("Express Lane signer, DEVELOPMENT build: local NSM twin and dev key files (never in an enclave image)")
    .addOption(new Option("--socket <path>", "Unix socket to listen on").env("EXPRESS_LANE_SIGNER_SOCKET").default("/run/express-lane/signer.sock"))
    .addOption(new Option("--validity <seconds>", "signature validity").env("EXPRESS_LANE_SIGNATURE_VALIDITY").default("60"))
    .addOption(new Option("--dev-ca-dir <dir>", "dev CA folder (created on first use)").env("EXPRESS_LANE_DEV_CA_DIR").default(DEFAULT_DEV_CA_DIR))
    .addOption(new Option("--bundle <file>", "the signer bundle the local PCRs measure (default: this program)"))
    .addOption(
      new Option("--trust-config <file>", "trust config: lane and admin public keys (the local lane writes .lane/keys/trust.json)")
        .env("EXPRESS_LANE_TRUST_CONFIG")
        .makeOptionMandatory(),
    )
    .addOption(new Option("--writer-key-file <paths>", "comma-separated dev writer key files").env("EXPRESS_LANE_WRITER_KEY_FILE"))
    .addOption(new Option("--key-directory <file>", "signed key directory to start with (the host can provision newer ones)").env("EXPRESS_LANE_KEY_DIRECTORY"))
    .addOption(new Option("--registry-document <file>", "signed registry document to start with (the host can provision newer ones)").env("EXPRESS_LANE_REGISTRY_DOCUMENT"))
    .addOption(new Option("--lane-key-file <paths>", "comma-separated dev lane signing key files (one trust anchor for the lane)").env("EXPRESS_LANE_LANE_KEY_FILE"))
    .addOption(new Option("--workers <n>", "signing threads: 1 = this thread; N ≥ 2 = N worker threads, one key").env("EXPRESS_LANE_SIGNER_WORKERS").default("1"))
    .addOption(new Option("--trace-stages", "benchmarks: timing trailers on reads that ask for them (runtime --trace-stages)").env("EXPRESS_LANE_SIGNER_TRACE_STAGES"))
    .parse()
    .opts<{
      socket: string;
      validity: string;
      devCaDir: string;
      bundle?: string;
      trustConfig: string;
      writerKeyFile?: string;
      keyDirectory?: string;
      registryDocument?: string;
      laneKeyFile?: string;
      traceStages?: boolean;
      workers: string;
    }>();
  const trust = readImageTrust(opts.trustConfig);
  // Local PCRs measure the code actually running, so a code change changes them.
  const nsm = new LocalNsm({ bundlePath: opts.bundle ?? process.argv[1], devCaDir: opts.devCaDir });
  const devKeys = (opts.writerKeyFile ?? "").split(",").filter(Boolean).map(readSealKeyFile);
  await serveSigner({
    socket: opts.socket,
    validitySeconds: parseValidity(opts.validity),
    nsm,
    defaultRegistry: { registry: DEFAULT_REGISTRY, ref: DEFAULT_REGISTRY_REF },
    trust: trust.sealKms ? { lane: trust.lane, adminKeys: trust.adminKeys } : trust,
    devKeys,
    initialDirectory: opts.keyDirectory ? readFileSync(opts.keyDirectory) : undefined,
    initialRegistryDocument: opts.registryDocument ? readFileSync(opts.registryDocument) : undefined,
    devLaneKeys: (opts.laneKeyFile ?? "").split(",").filter(Boolean).map(readDevLaneKeyFile),
    traceStages: opts.traceStages === true,
    workers: parseWorkers(opts.workers),
  });
}

if (isMainThread) main().catch(fail);
