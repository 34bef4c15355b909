/**
 * The flag tables of docs/cli.md, generated from the commands themselves (cli/main.ts
 * buildProgram): every visible option of every command, its environment variable, default and
 * description. test/cli/docs-flags.test.ts compares the page with each command's `--help`. It lives
 * with the CLI because it reads the commands' own option objects (flags, env vars, defaults,
 * choices); it is not part of the CLI bundle (nothing in cli/main.ts imports it).
 *
 *   npx tsx cli/docs-flags.ts          prints the tables
 *   npx tsx cli/docs-flags.ts --write  rewrites them in docs/cli.md
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command, Option } from "commander";
import { buildProgram } from "./main";

export const CLI_DOC_PATH = join(__dirname, "../docs/cli.md");
export const FLAGS_MARKERS = ["<!-- cli-flags:start -->", "<!-- cli-flags:end -->"] as const;

/** Every command with options, subcommands as `group sub`, in program order. */
export function leafCommands(program: Command = buildProgram()): { name: string; command: Command }[] {
  const out: { name: string; command: Command }[] = [];
  const walk = (command: Command, prefix: string) => {
    for (const sub of command.commands) {
      const name = prefix ? `${prefix} ${sub.name()}` : sub.name();
      if (sub.commands.length > 0) walk(sub, name);
      else out.push({ name, command: sub });
    }
  };
  walk(program, "");
  return out;
}

const visible = (o: Option): boolean => !o.hidden;
const cell = (text: string): string => text.replaceAll("|", "\\|").replaceAll("\n", " ");

function usage(c: Command): string {
  const args = (c.registeredArguments ?? []).map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`)).join(" ");
  return args;
}

export function flagTables(program: Command = buildProgram()): string {
  const parts: string[] = [];
  for (const { name, command } of leafCommands(program)) {
    parts.push(`### \`express-lane ${name}${usage(command) ? ` ${usage(command)}` : ""}\``, "", cell(command.description()), "");
    const options = command.options.filter(visible);
    if (options.length === 0) {
      parts.push("No options.", "");
      continue;
    }
    parts.push("| flag | env | default | meaning |", "|---|---|---|---|");
    for (const o of options) {
      const dflt = o.defaultValue === undefined ? "—" : `\`${Array.isArray(o.defaultValue) ? o.defaultValue.join(",") : String(o.defaultValue)}\``;
      const choices = o.argChoices ? ` (${o.argChoices.map((c) => `\`${c}\``).join(", ")})` : "";
      parts.push(`| \`${cell(o.flags)}\` | ${o.envVar ? `\`${o.envVar}\`` : "—"} | ${cell(dflt)} | ${cell(o.description)}${choices} |`);
    }
    parts.push("");
  }
  return parts.join("\n").trimEnd();
}

/** The page with its generated section replaced. */
export function withFlagTables(page: string, program: Command = buildProgram()): string {
  const [start, end] = FLAGS_MARKERS;
  const from = page.indexOf(start);
  const to = page.indexOf(end);
  if (from < 0 || to < from) throw new Error(`docs/cli.md has no ${start} … ${end} section`);
  return `${page.slice(0, from + start.length)}\n${flagTables(program)}\n${page.slice(to)}`;
}

if (require.main === module) {
  if (process.argv.includes("--write")) {
    writeFileSync(CLI_DOC_PATH, withFlagTables(readFileSync(CLI_DOC_PATH, "utf8")));
    process.stdout.write(`updated ${CLI_DOC_PATH}\n`);
  } else {
    process.stdout.write(`${flagTables()}\n`);
  }
}
