// Runs an express-lane command in-process, the way the binary would: stdout, stderr and the exit
// code it set are captured (and process.exitCode is reset for the next test).
import { Command } from "commander";

export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export async function runProgram(program: Command, args: readonly string[]): Promise<CliRun> {
  let out = "";
  let err = "";
  const stdout = jest.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
  const stderr = jest.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => ((err += String(chunk)), true));
  process.exitCode = 0;
  try {
    await program.parseAsync([...args], { from: "user" });
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { code, out, err };
}

/** A program with just the commands `register` adds (and commander's exits turned into throws). */
export function programWith(register: (program: Command) => void): Command {
  const program = new Command("express-lane").exitOverride();
  register(program);
  return program;
}
