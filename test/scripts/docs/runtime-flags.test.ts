/** docs/operations.md's configuration table names exactly the runtime's flags (runtime/config.ts). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runtimeCommand } from "../../../runtime/config";

it("docs/operations.md lists every runtime flag, and no flag the runtime does not have", () => {
  const page = readFileSync(join(__dirname, "../../../docs/operations.md"), "utf8");
  const table = page.split("## Configuration")[1]!.split("\n## ")[0]!;
  const documented = new Set<string>();
  for (const line of table.split("\n")) {
    const first = /^\| ([^|]+) \|/.exec(line)?.[1] ?? "";
    for (const m of first.matchAll(/`(--[a-z][a-z0-9-]*)`/g)) documented.add(m[1]!);
  }
  const flags = runtimeCommand()
    .options.filter((o) => !o.hidden)
    .map((o) => o.long!)
    .filter((f) => f !== "--help");
  expect([...documented].sort()).toEqual([...new Set(flags)].sort());
});
