/**
 * docs/cli.md's flag tables match the commands: for each command, the flags (and their env
 * variables) its `--help` lists are exactly the rows of its table. A new flag, a renamed one or a
 * new command fails here until `npx tsx cli/docs-flags.ts --write` updates the page.
 */
import { readFileSync } from "node:fs";
import { buildProgram } from "../../cli/main";
import { CLI_DOC_PATH, leafCommands, withFlagTables } from "../../cli/docs-flags";

/** Long flags in a commander help text's Options section, with the env variable it names. */
export function helpFlags(help: string): Map<string, string | undefined> {
  const flags = new Map<string, string | undefined>();
  const options = help.split(/^Options:\n/m)[1]?.split(/^\S.*:\n/m)[0] ?? "";
  // One entry per option: a line starting with two spaces and a dash; continuation lines follow.
  const entries = options.split(/\n(?= {2}-)/);
  for (const entry of entries) {
    const flag = /^ {2}(?:-\w, )?(--[a-z][a-z0-9-]*)/.exec(entry)?.[1];
    if (!flag || flag === "--help") continue;
    flags.set(flag, /env: (\w+)/.exec(entry.replace(/\s+/g, " "))?.[1]);
  }
  return flags;
}

/** Per command heading in docs/cli.md, the long flags of its table and their env column. */
export function docFlags(page: string): Map<string, Map<string, string | undefined>> {
  const commands = new Map<string, Map<string, string | undefined>>();
  let current: Map<string, string | undefined> | undefined;
  for (const line of page.split("\n")) {
    const heading = /^### `express-lane ([a-z-]+(?: [a-z-]+)?)(?: [<[].*)?`$/.exec(line);
    if (heading) {
      current = new Map();
      commands.set(heading[1]!, current);
      continue;
    }
    const row = /^\| `(?:-\w, )?(--[a-z][a-z0-9-]*)[^`]*` \| (?:`(\w+)`|—) \|/.exec(line);
    if (row && current) current.set(row[1]!, row[2]);
  }
  return commands;
}

describe("docs/cli.md", () => {
  const page = readFileSync(CLI_DOC_PATH, "utf8");
  const documented = docFlags(page);
  const commands = leafCommands(buildProgram());

  it("documents every command, and only those", () => {
    expect([...documented.keys()].sort()).toEqual(commands.map((c) => c.name).sort());
  });

  it.each(leafCommands(buildProgram()).map((c) => [c.name]))("express-lane %s: the table lists exactly the flags --help shows, with their env variables", (name) => {
    const command = commands.find((c) => c.name === name)!.command;
    const help = helpFlags(command.helpInformation());
    // env "none" rather than undefined: toEqual would treat a missing flag as an undefined one.
    const shown = (m: Map<string, string | undefined>) => Object.fromEntries([...m].map(([flag, env]) => [flag, env ?? "none"]));
    expect(shown(documented.get(name) ?? new Map())).toEqual(shown(help));
  });

  it("sees the flags of a command with many (verify)", () => {
    expect(documented.get("verify")?.size).toBeGreaterThan(10);
    expect(documented.get("verify")?.get("--data-dir")).toBe("EXPRESS_LANE_DATA_DIR");
  });

  it("is what the generator writes (descriptions and defaults too)", () => {
    expect(page).toBe(withFlagTables(page));
  });

  it("the parsers see what they should (help text with wrapped lines and env)", () => {
    const help =
      "Usage: x\n\nOptions:\n  -X, --method <m>   request method (default: GET,\n                     or POST)\n  --url <url>        the lane (env:\n                     EXPRESS_LANE_URL)\n  -h, --help         display help\n";
    expect(Object.fromEntries(helpFlags(help))).toEqual({ "--method": undefined, "--url": "EXPRESS_LANE_URL" });
  });
});
