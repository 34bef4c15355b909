/**
 * The local twin of the directory bucket: s3rver (an S3-compatible server from npm) on loopback,
 * data in a folder. It speaks the S3 REST protocol, so the runtime's real store client (SigV4,
 * path-style) talks to it unchanged. Prints one JSON line when ready.
 */
import pino from "pino";
import { mkdirSync } from "node:fs";
import { Command, Option } from "commander";
// eslint-disable-next-line @typescript-eslint/no-require-imports
import S3rver = require("s3rver");
import { conditionalWritesMiddleware } from "./conditional-writes";

export interface LocalStoreOptions {
  readonly host: string;
  readonly port: number;
  readonly directory: string;
  readonly bucket: string;
}

export interface RunningStore {
  readonly endpoint: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startLocalStore(options: LocalStoreOptions): Promise<RunningStore> {
  mkdirSync(options.directory, { recursive: true });
  const server = new S3rver({
    address: options.host,
    port: options.port,
    directory: options.directory,
    silent: true,
    configureBuckets: [{ name: options.bucket, configs: [] }],
  });
  // S3 conditional writes (If-Match / If-None-Match on PUT), which s3rver ignores: prepended so it
  // runs before s3rver's routes (dev/lane/conditional-writes.ts).
  server.middleware.unshift(conditionalWritesMiddleware() as (typeof server.middleware)[number]);
  const address = (await server.run()) as { address: string; port: number };
  return {
    endpoint: `http://${options.host}:${address.port}`,
    port: address.port,
    close: () => server.close() as Promise<void>,
  };
}

async function main(): Promise<void> {
  const opts = new Command("express-lane-local-store")
    .addOption(new Option("--host <addr>").default("127.0.0.1"))
    .addOption(new Option("--port <n>").default("0"))
    .addOption(new Option("--dir <dir>").default(".lane/store"))
    .addOption(new Option("--bucket <name>").default("lane"))
    .parse()
    .opts<{ host: string; port: string; dir: string; bucket: string }>();
  const store = await startLocalStore({ host: opts.host, port: Number(opts.port), directory: opts.dir, bucket: opts.bucket });
  // A pino line like every lane process's; processes.ts waits for its `event`.
  pino({ base: { service: "express-lane-local-store" } }).info({ event: "store_ready", endpoint: store.endpoint, port: store.port }, "local store ready");
  const stop = (): void => void store.close().finally(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`local store failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
