/**
 * The production signer entry point — the only one in the enclave image (bundled to dist/signer.js,
 * started by enclave/image/entrypoint.sh). Device NSM only; the trust config is the one baked into
 * the image (/app/trust.json, part of PCR0). There is no flag that selects a local NSM, a dev CA or
 * key files: those live in enclave/dev-main.ts, which the EIF does not contain
 * (test/architecture/boundaries.test.ts checks this bundle's inputs).
 */
import { isMainThread } from "node:worker_threads";
import { Command, Option } from "commander";
import { DeviceNsm } from "./nsm/device-nsm";
import { fail, parseValidity, parseWorkers, serveSigner } from "./serve";
import { readImageTrust } from "./trust-config";
import { DEFAULT_REGISTRY, DEFAULT_REGISTRY_REF } from "../registry/views";
// This bundle is also the code of its signing worker threads (--workers): started as one, it runs that.
import "./sign-worker";

async function main(): Promise<void> {
  const opts = new Command("express-lane-signer")
    .description("Express Lane signer (enclave): holds the enclave-born signing key and signs every answer")
    .addOption(new Option("--socket <path>", "Unix socket to listen on (the vsock bridge connects to it)").default("/run/express-lane/signer.sock"))
    .addOption(new Option("--validity <seconds>", "signature validity").default("60"))
    .addOption(new Option("--trust-config <file>", "the image trust config baked into the EIF").default("/app/trust.json"))
    .addOption(new Option("--workers <n>", "signing threads: 1 = this thread; N ≥ 2 = N worker threads, one key (docs/performance.md: one per enclave vCPU)").default("1"))
    .parse()
    .opts<{ socket: string; validity: string; trustConfig: string; workers: string }>();
  const trust = readImageTrust(opts.trustConfig);
  if (!trust.sealKms) throw new Error(`${opts.trustConfig}: the production image must pin sealKms (writer keys arrive KMS-wrapped)`);
  if (trust.sealKms.endpoint !== undefined && !trust.sealKms.endpoint.startsWith("https:"))
    throw new Error(`${opts.trustConfig}: sealKms.endpoint must be https (KMS over TLS only)`);
  await serveSigner({
    socket: opts.socket,
    validitySeconds: parseValidity(opts.validity),
    nsm: new DeviceNsm(),
    trust,
    defaultRegistry: { registry: DEFAULT_REGISTRY, ref: DEFAULT_REGISTRY_REF },
    workers: parseWorkers(opts.workers),
  });
}

if (isMainThread) main().catch(fail);
