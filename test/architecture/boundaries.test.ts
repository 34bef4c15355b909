/**
 * Trust boundaries show in the imports, and this keeps them there: the host runtime never imports
 * enclave code (key, seal, NSM), the enclave never imports host code, consumers' verifier depends
 * on neither, and infrastructure code depends on no application code.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";

const ROOT = resolve(__dirname, "../..");

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = join(ROOT, dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(relative(ROOT, path)));
    else if (name.endsWith(".ts")) out.push(relative(ROOT, path));
  }
  return out;
}

/** Top-level folders a file imports from (relative imports only; packages are not boundaries). */
function importedFolders(file: string): Set<string> {
  const text = readFileSync(join(ROOT, file), "utf8");
  const folders = new Set<string>();
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|require\(\s*)["'](\.{1,2}\/[^"']+)["']/g)) {
    const target = relative(ROOT, resolve(dirname(join(ROOT, file)), m[1]));
    folders.add(target.split("/")[0]);
  }
  return folders;
}

const RULES: Array<[folder: string, forbidden: string[]]> = [
  ["runtime", ["enclave", "stacks", "constructs", "scripts", "cli", "bench", "dev"]],
  ["enclave", ["runtime", "stacks", "constructs", "scripts", "cli", "bench", "verifier", "dev"]],
  ["verifier", ["runtime", "enclave", "stacks", "constructs", "scripts"]],
  ["wire", ["runtime", "enclave", "verifier", "stacks", "constructs", "scripts", "cli", "bench", "dev"]],
  ["constructs", ["runtime", "enclave", "verifier", "wire", "cli", "bench"]],
  ["stacks", ["runtime", "enclave", "verifier", "wire", "cli", "bench"]],
  // Dev tooling rooms (issue #17). dev/: what the benchmark, the scripts and the CLI's bench-data
  // share (seeded randomness, the one percentile definition, demo and benchmark data); it depends on
  // no tool. bench/: the benchmark; scripts/: the local lane and operator scripts; neither imports
  // the other, and the product CLI imports no benchmark.
  ["dev", ["runtime", "stacks", "constructs", "scripts", "cli", "bench"]],
  ["bench", ["stacks", "constructs", "cli", "scripts"]],
  ["scripts", ["bench", "cli"]],
  ["cli", ["bench", "scripts", "stacks", "constructs"]],
];

/**
 * Imports these rules forbid that are still there, each with its way out (issue #17). The list may
 * only shrink: a new violation fails, and so does an entry that no longer occurs.
 */
const KNOWN: ReadonlyArray<[file: string, folder: string, why: string]> = [
  ["bench/local.ts", "scripts", "startLane (scripts/lane/processes.ts) should move to dev/lane"],
  ["bench/cpu.ts", "scripts", "startLane and buildBundles (scripts/build.ts) should move to dev/"],
  ["scripts/lint-infra.ts", "bench", "lints bench's wrk Lua scripts: belongs in test/bench"],
  ["scripts/remote-bench.ts", "bench", "a benchmark job: belongs in bench/ (workflow and docs name its path)"],
  ["scripts/lane/processes.ts", "cli", "writer key files (cli/writer-key.ts) should move to dev/ or wire/"],
  ["scripts/lane/dev-keys.ts", "cli", "key directory and key file helpers (cli/directory.ts, cli/writer-key.ts, cli/lane-key.ts)"],
  ["scripts/measure-write-path.ts", "cli", "uses cli/load and cli/writer-key as a client would: run the CLI instead"],
];

describe("import boundaries", () => {
  const known = new Set(KNOWN.map(([file, folder]) => `${file} → ${folder}/`));
  const violationsOf = (folder: string, forbidden: string[]): string[] =>
    sources(folder).flatMap((file) => [...importedFolders(file)].filter((f) => forbidden.includes(f)).map((f) => `${file} → ${f}/`));

  it.each(RULES)("%s/ imports none of %j", (folder, forbidden) => {
    expect(violationsOf(folder, forbidden).filter((v) => !known.has(v))).toEqual([]);
  });

  it("lists only known exceptions that still occur (the list only shrinks)", () => {
    const all = new Set(RULES.flatMap(([folder, forbidden]) => violationsOf(folder, forbidden)));
    expect([...known].filter((k) => !all.has(k))).toEqual([]);
  });

  it("keeps demo and benchmark helpers out of the runtime and the enclave", () => {
    expect(sources("runtime").filter((f) => /bench/.test(f))).toEqual([]);
    expect(readFileSync(join(ROOT, "runtime/store/simulated-latency.ts"), "utf8")).not.toMatch(/export function seededRandom/);
  });

  it("sees the imports it checks (the scanner is not vacuous)", () => {
    expect([...importedFolders("runtime/server.ts")]).toEqual(expect.arrayContaining(["wire", "verifier"]));
    expect([...importedFolders("enclave/signer.ts")]).toContain("wire");
  });
});
