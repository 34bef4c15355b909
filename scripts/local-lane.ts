/**
 * `npm start`: the whole lane on this machine, no cloud, no Docker. Builds the bundles, starts the
 * local store, loads demo features, starts the signer and the runtime, and prints how to use it.
 */
import { createServer } from "node:net";
import { resolve } from "node:path";
import { Command, Option } from "commander";
import { buildBundles } from "../dev/build";
import { LANE_BUNDLES, startLane } from "../dev/lane/processes";
import { DEMO_VIEW, demoEntityId } from "../dev/lane/demo-data";

/** Why `port` cannot be listened on at 127.0.0.1 (in use, not permitted), or undefined. 0 is always free. */
export function portProblem(port: number): Promise<string | undefined> {
  if (!Number.isInteger(port) || port < 0 || port > 65535) return Promise.resolve("is not a port number");
  if (port === 0) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "EADDRINUSE" ? "is already in use" : `cannot be used (${err.code ?? err.message})`));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(undefined)));
  });
}

async function main(): Promise<void> {
  const opts = new Command("npm start")
    .description("Run the Express Lane locally: store, signer, runtime, demo data")
    .addOption(new Option("--port <n>", "runtime port").env("EXPRESS_LANE_PORT").default("8080"))
    .addOption(new Option("--store-port <n>", "local store port (0 = any)").env("EXPRESS_LANE_STORE_PORT").default("0"))
    .addOption(new Option("--data-dir <dir>", "working folder").env("EXPRESS_LANE_DATA_DIR").default(".lane"))
    .addOption(new Option("--entities <n>", "demo entities to load").env("EXPRESS_LANE_DEMO_ENTITIES").default("3000"))
    .addOption(
      new Option("--log-level <level>", "the runtime's log level").env("EXPRESS_LANE_LOG_LEVEL").choices(["fatal", "error", "warn", "info", "debug", "trace"]).default("warn"),
    )
    .parse()
    .opts<{ port: string; storePort: string; dataDir: string; entities: string; logLevel: string }>();

  // A port in use is a one-line error now, not an EADDRINUSE stack after the build and the load.
  for (const [flag, port] of [
    ["--port", Number(opts.port)],
    ["--store-port", Number(opts.storePort)],
  ] as const) {
    const problem = await portProblem(port);
    if (problem) {
      process.stderr.write(`npm start: ${flag} ${port} ${problem} (choose another: npm start -- ${flag} <n>)\n`);
      process.exit(1);
    }
  }

  process.stdout.write("building bundles…\n");
  await buildBundles(LANE_BUNDLES);
  const lane = await startLane({
    port: Number(opts.port),
    storePort: Number(opts.storePort),
    dataDir: opts.dataDir,
    demoEntities: Number(opts.entities),
    // One trust anchor for the lane: every signer it starts signs with the dev lane key.
    laneKey: true,
    runtimeEnv: { EXPRESS_LANE_LOG_LEVEL: opts.logLevel },
    onProgress: (done, total) => process.stdout.write(`\rloading demo features ${done}/${total}`),
  });
  const entity = demoEntityId(42);
  // Commands find lane.json in .lane by themselves; another data dir has to be named.
  const defaultDir = resolve(".lane") === resolve(lane.dataDir);
  const dataDirFlag = defaultDir ? "" : ` --data-dir ${lane.dataDir}`;
  const dataDirHint = defaultDir ? "" : `; pass --data-dir ${lane.dataDir} or export EXPRESS_LANE_DATA_DIR=${lane.dataDir}`;
  process.stdout.write(`
\nExpress Lane is running (local mode: signer key is a dev key, not enclave-attested).

  runtime   ${lane.url}
  store     ${lane.storeEndpoint} (bucket ${lane.bucket}, data in ${lane.dataDir}/store)
  signer    ${lane.signerSocket}
  keyid     ${lane.keyid} (the lane key: pin ${lane.keys.laneJwksFile} once, it survives signer restarts)
  key       curl -s ${lane.url}/v1/signer
  writer    ${lane.writerKid} (dev writer "loader": ${lane.writerKeyFile}; directory ${lane.keys.directoryFile})
  sequencer ${lane.sequencerUrl ?? "off"} (checkpoints every second: answers carry fresh_as_of; state in ${lane.dataDir}/sequencer)

  lane.json ${lane.dataDir}/lane.json (defaults for express-lane verify/attest/load/parity/push${dataDirHint})

Try (the README's first-run walk):
  curl -si '${lane.url}/v1/features/${DEMO_VIEW}/${entity}?features=country,segment,risk_score' \\
       -H 'Accept-Signature: sig1=("@status" "content-digest");nonce="my-nonce-1"'
  npx express-lane verify '/v1/features/${DEMO_VIEW}/${entity}?features=country,risk_score'${dataDirFlag}
  npx express-lane push rows.jsonl --view ${DEMO_VIEW}${dataDirFlag}

Ctrl-C stops everything.
`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write("\nstopping…\n");
    void lane.stop().finally(() => process.exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`local lane failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
