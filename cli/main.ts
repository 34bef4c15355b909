#!/usr/bin/env node
/**
 * `express-lane`: the command line for consumers and operators. Each command lives in its own
 * module and registers itself here.
 */
import { Command } from "commander";
import { registerAttestCommand } from "./attest";
import { registerVerifyCommand } from "./verify";
import { registerLoadCommand } from "./load";
import { registerParityCommand } from "./parity";
import { registerWriterKeyCommand } from "./writer-key";
import { registerLaneKeyCommand } from "./lane-key";
import { registerDirectoryCommands } from "./directory";
import { registerPushCommand } from "./push";
import { registerPurgeCommand } from "./purge";
import { registerBenchDataCommand } from "./bench-data";
import { registerApplyCommand, registerViewsCommand } from "./apply";
import { registerCheckpointsCommand } from "./checkpoints";
import { useLaneConfig } from "./lane-config";

export function buildProgram(): Command {
  const program = new Command("express-lane").description("Express Lane: signed online features").showHelpAfterError();
  registerVerifyCommand(program);
  registerAttestCommand(program);
  registerLoadCommand(program);
  registerParityCommand(program);
  registerWriterKeyCommand(program);
  registerLaneKeyCommand(program);
  registerDirectoryCommands(program);
  registerPushCommand(program);
  registerPurgeCommand(program);
  registerBenchDataCommand(program);
  registerApplyCommand(program);
  registerViewsCommand(program);
  registerCheckpointsCommand(program);
  // Last: adds --data-dir to the commands above that read the local lane's lane.json.
  useLaneConfig(program);
  return program;
}

/** Run the command line (bin/express-lane.js calls this, from the bundle or the sources); usage errors exit 2. */
export async function runCli(argv: readonly string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync([...argv]);
  } catch (err) {
    process.stderr.write(`express-lane: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
}

if (require.main === module) void runCli();
