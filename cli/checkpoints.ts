/**
 * `express-lane checkpoints serve`: the sequencer of one or more views (sequencer/server.ts) with
 * the writer key, the store and the pinned lane key taken from the usual CLI options.
 */
import { Command, Option } from "commander";
import { runSequencer } from "../sequencer/server";
import type { ReportKey } from "../sequencer/report";
import { storeOptions, writerStore } from "./load";
import { pinnedKeys } from "./push";
import { writerKeyOptions, writerKeysFromOptions } from "./writer-key";
import { readWriterKeyFile } from "../dev/key-files";

export function registerCheckpointsCommand(program: Command): void {
  const checkpoints = program.command("checkpoints").description("a view's checkpoint sequencer (provable freshness, docs/operations.md)");
  writerKeyOptions(
    storeOptions(
      checkpoints
        .command("serve")
        .description("run the sequencer of the given views: writers report their writes, it seals and publishes a checkpoint after each batch and every second")
        .requiredOption("--view <name>", "a view this sequencer owns (repeatable; one sequencer per view)", (v: string, all: string[] = []) => [...all, v])
        .addOption(new Option("--lane <name>", "the lane name the key directory carries (checkpoints name it)").env("EXPRESS_LANE_NAME").makeOptionMandatory())
        .addOption(
          new Option("--state-dir <dir>", "where the sequencer keeps each view's map and seq (its own disk, never the store)")
            .env("EXPRESS_LANE_SEQUENCER_STATE")
            .default(".lane/sequencer"),
        )
        .addOption(new Option("--host <host>", "listen address").env("EXPRESS_LANE_SEQUENCER_HOST").default("127.0.0.1"))
        .addOption(new Option("--port <n>", "listen port (0: any)").env("EXPRESS_LANE_SEQUENCER_PORT").default("8090"))
        .option("--reporter-key-file <file>", "another writer key file whose reports are accepted (repeatable; the sealing key's always are)", (v: string, all: string[] = []) => [
          ...all,
          v,
        ])
        .option("--key <jwk file|keyid>", "pin the lane's signing key: push answers verified against it are accepted as reports (repeatable)", (v: string, all: string[] = []) => [
          ...all,
          v,
        ])
        .option("--url <url>", "the lane URL (only to resolve a --key given as a keyid)"),
    ),
  ).action(
    async (o: {
      view: string[];
      lane: string;
      stateDir: string;
      host: string;
      port: string;
      reporterKeyFile?: string[];
      key?: string[];
      url?: string;
      endpoint?: string;
      bucket: string;
      region: string;
      keyPrefix: string;
      writerKeyFile: string;
      sealKeyKms?: string;
      writer?: string;
      kmsEndpoint?: string;
    }) => {
      const { keys } = await writerKeysFromOptions({ writerKeyFile: o.writerKeyFile, sealKeyKms: o.sealKeyKms, writer: o.writer, kmsEndpoint: o.kmsEndpoint });
      const key: ReportKey = keys[0]!;
      const reporters = new Map<string, Uint8Array>([[key.kid, key.key]]);
      for (const f of o.reporterKeyFile ?? []) {
        const k = readWriterKeyFile(f);
        reporters.set(k.kid, k.key);
      }
      const pinned = o.key ? await pinnedKeys({ key: o.key }, o.url ?? "http://127.0.0.1:8080") : undefined;
      const store = writerStore(o);
      const log = (event: object): void => void process.stdout.write(`${JSON.stringify(event)}\n`);
      const running = await runSequencer({
        views: o.view,
        lane: o.lane,
        key,
        reporters,
        pinned,
        store,
        stateDir: o.stateDir,
        keyPrefix: o.keyPrefix,
        host: o.host,
        port: Number(o.port),
        onError: (view, err) => log({ event: "checkpoint_publish_failed", view, error: err.message }),
      });
      log({ event: "sequencer_ready", host: o.host, port: running.port, url: running.url, views: o.view, kid: key.kid });
      const stop = async (): Promise<void> => {
        await running.stop();
        await store.close();
        process.exit(0);
      };
      process.on("SIGTERM", () => void stop());
      process.on("SIGINT", () => void stop());
    },
  );
}
