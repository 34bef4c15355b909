/**
 * Signer process entry point (bundled to dist/signer.js; inside the enclave image it is started by
 * the image's entrypoint). Listens on a Unix socket; in the enclave a socat bridge connects that
 * socket to the vsock port the host reaches.
 */
import { existsSync, unlinkSync } from "node:fs";
import { Command, Option } from "commander";
import { createNsm } from "./nsm";
import { DEFAULT_DEV_CA_DIR } from "./nsm/local-nsm";
import { Signer } from "./signer";
import { FileSealKeySource, type SealKeyring, type SealKeySource } from "./seal";
import { attestedSealKeyUnwrap, readSealKmsConfig, SealKeyProvisioner } from "./seal-provisioning";

async function main(): Promise<void> {
  const program = new Command("express-lane-signer")
    .description("Express Lane signer: holds the enclave-born signing key and signs every read")
    .addOption(new Option("--socket <path>", "Unix socket to listen on").env("EXPRESS_LANE_SIGNER_SOCKET").default("/run/express-lane/signer.sock"))
    .addOption(new Option("--validity <seconds>", "signature validity").env("EXPRESS_LANE_SIGNATURE_VALIDITY").default("60"))
    .addOption(
      new Option("--nsm <mode>", "attestation source: device (/dev/nsm inside a Nitro Enclave) or local (dev CA twin)")
        .env("EXPRESS_LANE_NSM")
        .choices(["device", "local"])
        .default("local"),
    )
    .addOption(new Option("--dev-ca-dir <dir>", "local mode: dev CA folder (created on first use)").env("EXPRESS_LANE_DEV_CA_DIR").default(DEFAULT_DEV_CA_DIR))
    .addOption(new Option("--bundle <file>", "local mode: the signer bundle the local PCRs measure (default: this program)"))
    .addOption(
      new Option("--seal-key-file <paths>", "LOCAL DEV ONLY: comma-separated seal key files (first = active); production unwraps KMS-wrapped keys with attestation (docs/keys.md)").env(
        "EXPRESS_LANE_SEAL_KEY_FILE",
      ),
    )
    .addOption(
      new Option(
        "--seal-kms-config <file>",
        "production: the pinned seal KMS key ({keyArn, region}, baked into the image); seal keys then arrive KMS-wrapped from the host (FrameKind.ProvisionSealKeys) and are unwrapped with attestation",
      ).env("EXPRESS_LANE_SEAL_KMS_CONFIG"),
    )
    .parse();
  const opts = program.opts<{ socket: string; validity: string; nsm: "device" | "local"; devCaDir: string; bundle?: string; sealKeyFile?: string; sealKmsConfig?: string }>();
  const validitySeconds = Number(opts.validity);
  if (!Number.isInteger(validitySeconds) || validitySeconds < 1 || validitySeconds > 3600) {
    program.error("--validity must be an integer between 1 and 3600 seconds");
  }
  // Local PCRs measure the code actually running, so a code change changes them.
  const nsm = opts.nsm === "device" ? createNsm({ mode: "device" }) : createNsm({ mode: "local", bundlePath: opts.bundle ?? process.argv[1], devCaDir: opts.devCaDir });
  // Seal keys: without any, every stored object is refused (seal_key_unavailable) and pushes fail.
  // Production: none at start; the host provisions KMS-wrapped keys that we unwrap with attestation.
  if (opts.sealKeyFile && opts.sealKmsConfig) program.error("--seal-key-file (local dev) and --seal-kms-config (production) exclude each other");
  const sealKms = opts.sealKmsConfig ? readSealKmsConfig(opts.sealKmsConfig) : undefined;
  if (sealKms && opts.nsm === "device" && sealKms.endpoint !== undefined && !sealKms.endpoint.startsWith("https:")) {
    program.error("--seal-kms-config: a device-NSM signer talks to KMS over TLS only (endpoint must be https)");
  }
  const sealProvisioner = sealKms ? new SealKeyProvisioner(sealKms, attestedSealKeyUnwrap(sealKms, nsm)) : undefined;
  const sealSource: SealKeySource | null = opts.sealKeyFile ? new FileSealKeySource(opts.sealKeyFile.split(",").filter(Boolean)) : null;
  const seals: SealKeyring | null = sealSource ? await sealSource.load() : null;
  if (!seals && !sealProvisioner) process.stderr.write("signer: no seal keys configured; every stored object will be refused (seal_key_unavailable)\n");
  const signer = new Signer({ validitySeconds, nsm, seals, sealProvisioner });
  // One attestation before we say ready: proves the NSM works (device) or creates the dev CA
  // (local), so the first client request does not pay for it.
  await signer.attest({});
  if (existsSync(opts.socket)) unlinkSync(opts.socket); // a stale socket from a previous run
  const server = await signer.listen(opts.socket);
  // One line on stdout that the local lane (and systemd logs) read: where, and which key.
  process.stdout.write(`${JSON.stringify({ event: "signer_ready", socket: opts.socket, keyid: signer.key.keyid, nsm: nsm.kind, seal_kids: signer.sealKids, ...(sealKms ? { seal_kms_key: sealKms.keyArn } : {}) })}\n`);
  const stop = (): void => {
    server.close();
    try {
      unlinkSync(opts.socket);
    } catch {
      /* already gone */
    }
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`signer failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
