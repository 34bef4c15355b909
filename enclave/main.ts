/**
 * Signer process entry point (bundled to dist/signer.js; inside the enclave image it is started by
 * the image's entrypoint). Listens on a Unix socket; in the enclave a socat bridge connects that
 * socket to the vsock port the host reaches.
 */
import { existsSync, unlinkSync } from "node:fs";
import { Command, Option } from "commander";
import { Signer } from "./signer";

async function main(): Promise<void> {
  const program = new Command("express-lane-signer")
    .description("Express Lane signer: holds the enclave-born signing key and signs every read")
    .addOption(new Option("--socket <path>", "Unix socket to listen on").env("EXPRESS_LANE_SIGNER_SOCKET").default("/run/express-lane/signer.sock"))
    .addOption(new Option("--validity <seconds>", "signature validity").env("EXPRESS_LANE_SIGNATURE_VALIDITY").default("60"))
    .parse();
  const opts = program.opts<{ socket: string; validity: string }>();
  const validitySeconds = Number(opts.validity);
  if (!Number.isInteger(validitySeconds) || validitySeconds < 1 || validitySeconds > 3600) {
    program.error("--validity must be an integer between 1 and 3600 seconds");
  }
  const signer = new Signer({ validitySeconds });
  if (existsSync(opts.socket)) unlinkSync(opts.socket); // a stale socket from a previous run
  const server = await signer.listen(opts.socket);
  // One line on stdout that the local lane (and systemd logs) read: where, and which key.
  process.stdout.write(`${JSON.stringify({ event: "signer_ready", socket: opts.socket, keyid: signer.key.keyid })}\n`);
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
