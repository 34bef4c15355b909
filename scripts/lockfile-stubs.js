#!/usr/bin/env node
/**
 * The registry this project is built from lacks some *other-platform* builds of optional native
 * packages (e.g. @unrs/resolver-binding-win32-x64-msvc, @msgpackr-extract/…-darwin-arm64). npm then
 * leaves them out of package-lock.json, and `npm ci` refuses the lock as "not in sync".
 *
 * This adds, for every optional dependency the lock names but does not contain, an entry with the
 * package's os/cpu (from its name) and no download address. `npm ci` then validates the lock and
 * skips those entries on this platform, exactly as it skips any other-platform optional package.
 * Run it after every `npm install`: `node scripts/lockfile-stubs.js` (idempotent; --check only
 * reports). Plain JavaScript because it must run before dependencies are installed.
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const OS = ["darwin", "win32", "linux", "android", "freebsd", "openharmony", "netbsd", "openbsd", "sunos", "aix"];
const CPU = ["arm64", "x64", "ia32", "arm", "loong64", "ppc64", "riscv64", "s390x", "mips64el", "wasm32"];

function platformOf(name) {
  const parts = name.split("/").pop().split("-");
  const os = OS.find((o) => parts.includes(o));
  let cpu = CPU.find((c) => parts.includes(c));
  if (!cpu && parts.includes("eabi")) cpu = "arm";
  return os && cpu ? { os: [os], cpu: [cpu] } : null;
}

function main() {
  const file = path.join(__dirname, "..", "package-lock.json");
  const lock = JSON.parse(fs.readFileSync(file, "utf8"));
  const added = [];
  for (const [location, entry] of Object.entries(lock.packages)) {
    for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
      // npm resolves a dependency next to its dependent first, then at the top level.
      const nested = `${location}/node_modules/${dep}`;
      const top = `node_modules/${dep}`;
      if (lock.packages[nested] || lock.packages[top]) continue;
      const platform = platformOf(dep);
      if (!platform) continue; // an optional non-platform package npm chose to skip: npm ci accepts that
      if (platform.os[0] === process.platform && platform.cpu[0] === process.arch) {
        throw new Error(`${dep}@${version} is missing from the lock and is built for this platform: install it properly`);
      }
      lock.packages[top] = { version, optional: true, ...platform };
      added.push(`${dep}@${version}`);
    }
  }
  if (process.argv.includes("--check")) {
    if (added.length) {
      console.error(`package-lock.json lacks ${added.length} other-platform optional packages; run node scripts/lockfile-stubs.js`);
      process.exit(1);
    }
    return;
  }
  if (added.length) {
    lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : a > b ? 1 : 0)));
    fs.writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
  }
  console.log(added.length ? `added ${added.length} other-platform stubs: ${added.join(", ")}` : "lock complete");
}

main();
