#!/usr/bin/env node
"use strict";
/**
 * The `express-lane` command (package.json "bin"). It runs dist/cli.js, the bundle
 * (`npm run build`), when that is there and newer than the CLI's sources; in a checkout where
 * nothing is built (right after `npm ci`) or the sources changed since, it runs cli/main.ts
 * through tsx, in this process. Either way the command line is the same (cli/main.ts runCli).
 */
const { existsSync, readdirSync, statSync } = require("node:fs");
const { join } = require("node:path");

/** Folders whose .ts files the CLI is built from (a change there makes the bundle stale). */
const SOURCE_DIRS = ["cli", "verifier", "wire", "registry", "clients/typescript/src"];

function newestSourceMs(root) {
  let newest = 0;
  for (const dir of SOURCE_DIRS) {
    const full = join(root, dir);
    if (!existsSync(full)) continue;
    for (const name of readdirSync(full)) {
      if (name.endsWith(".ts")) newest = Math.max(newest, statSync(join(full, name)).mtimeMs);
    }
  }
  return newest;
}

/** Which entry to run from `root`: the bundle, the sources (through tsx), or neither. */
function chooseEntry(root) {
  const bundle = join(root, "dist", "cli.js");
  const sources = join(root, "cli", "main.ts");
  const hasBundle = existsSync(bundle);
  if (!existsSync(sources)) return hasBundle ? { kind: "bundle", path: bundle } : { kind: "none" };
  if (hasBundle && statSync(bundle).mtimeMs >= newestSourceMs(root)) return { kind: "bundle", path: bundle };
  return { kind: "sources", path: sources };
}

function main() {
  const root = join(__dirname, "..");
  const entry = chooseEntry(root);
  if (entry.kind === "none") {
    process.stderr.write("express-lane: neither dist/cli.js nor cli/main.ts is here; run `npm run build`\n");
    process.exit(2);
  }
  if (entry.kind === "sources") {
    let register;
    try {
      ({ register } = require("tsx/cjs/api"));
    } catch {
      process.stderr.write("express-lane: dist/cli.js is not built and tsx is not installed: run `npm ci` (or `npm run build`)\n");
      process.exit(2);
    }
    register();
  }
  return require(entry.path).runCli(process.argv);
}

module.exports = { chooseEntry };

if (require.main === module) void main();
