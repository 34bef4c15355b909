/**
 * Trust boundaries show in the imports, and this keeps them there: the host runtime never imports
 * enclave code (key, seal, NSM), the enclave never imports host code, consumers' verifier depends
 * on neither, and infrastructure code depends on no application code. Every folder has a rule,
 * the rules have no exceptions (the last, scripts/ → cli/, went when the docs/cli.md generator
 * moved into cli/, issue #17), and the source tree has no import cycles. docs/architecture.md
 * explains the rooms.
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
  ["verifier", ["registry", "runtime", "enclave", "stacks", "constructs", "scripts", "cli", "bench", "dev"]],
  // The registry is passed in by the composition roots (runtime/main.ts, enclave/main.ts, cli, scripts).
  ["wire", ["registry", "runtime", "enclave", "verifier", "stacks", "constructs", "scripts", "cli", "bench", "dev"]],
  ["registry", ["runtime", "enclave", "verifier", "stacks", "constructs", "scripts", "cli", "bench", "dev"]],
  ["constructs", ["runtime", "enclave", "verifier", "wire", "registry", "stacks", "cli", "bench", "scripts", "dev"]],
  ["stacks", ["runtime", "enclave", "verifier", "wire", "registry", "cli", "bench", "scripts", "dev"]],
  ["types", ["runtime", "enclave", "verifier", "wire", "registry", "constructs", "stacks", "cli", "bench", "scripts", "dev"]],
  // The consumers' SDK ships the verifier, never lane internals.
  ["clients/typescript/src", ["runtime", "enclave", "registry", "stacks", "constructs", "scripts", "cli", "bench", "dev"]],
  // Dev tooling rooms (issue #17). dev/: what the benchmark, the scripts and the CLI's bench-data
  // share (seeded randomness, the one percentile definition, demo and benchmark data); it depends on
  // no tool. bench/: the benchmark; scripts/: the local lane and operator scripts; neither imports
  // the other, and the product CLI (which may use the application, never infrastructure code)
  // imports no benchmark.
  ["dev", ["runtime", "stacks", "constructs", "scripts", "cli", "bench"]],
  // dev/lane/: the local lane (startLane), a composition root like runtime/main.ts: it starts the
  // runtime, the dev signer and the store twin and seeds the store through the runtime's store
  // clients. bench/, scripts/ and the tests start lanes with it.
  ["dev/lane", ["stacks", "constructs", "scripts", "cli", "bench"]],
  ["bench", ["stacks", "constructs", "cli", "scripts"]],
  ["scripts", ["bench", "cli", "test"]],
  ["cli", ["bench", "scripts", "stacks", "constructs"]],
  // The views' checkpoint sequencer (issue #16): writer-side and trusted like the CLI's writers; it
  // seals with a writer key and writes the store through the runtime's store clients, never enclave
  // or tool code. The CLI command and the local lane both run it.
  ["sequencer", ["enclave", "stacks", "constructs", "scripts", "cli", "bench", "dev"]],
];

/** Every top-level folder that holds TypeScript, and the subfolders ruled on their own. */
const FOLDERS_WITH_SOURCES = readdirSync(ROOT).filter(
  (name) =>
    !name.startsWith(".") &&
    !["node_modules", "dist", "build", "coverage", "cdktf.out", "docs"].includes(name) &&
    statSync(join(ROOT, name)).isDirectory() &&
    sources(name).length > 0,
);
/** Folders that may import anything: the tests, and the clients' folder (its src/ is ruled above; its tests are tests). */
const UNRULED = ["test", "clients"];

/** Cycles that exist today and are being removed: none (the last, gate.ts ↔ server.ts, went with the error catalog). */
const KNOWN_CYCLES: string[][] = [];

/** Relative imports of a file, resolved to repository files; `import type` included (they shape the design even if erased). */
function importedFiles(file: string, known: ReadonlySet<string>): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|require\(\s*)["'](\.{1,2}\/[^"']+)["']/g)) {
    const target = relative(ROOT, resolve(dirname(join(ROOT, file)), m[1]));
    const hit = [`${target}.ts`, `${target}/index.ts`, target].find((c) => known.has(c));
    if (hit) out.push(hit);
  }
  return out;
}

/** Strongly connected components with more than one file (Tarjan): the import cycles. */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe("import boundaries", () => {
  // A subfolder with a rule of its own (dev/lane) is judged by that rule only.
  const ruledBy = (file: string): string =>
    RULES.map(([f]) => f)
      .filter((f) => file.startsWith(`${f}/`))
      .sort((a, b) => b.length - a.length)[0]!;
  const violationsOf = (folder: string, forbidden: string[]): string[] =>
    sources(folder)
      .filter((file) => ruledBy(file) === folder)
      .flatMap((file) => [...importedFolders(file)].filter((f) => forbidden.includes(f)).map((f) => `${file} → ${f}/`));

  it.each(RULES)("%s/ imports none of %j", (folder, forbidden) => {
    expect(violationsOf(folder, forbidden)).toEqual([]);
  });

  it("keeps demo and benchmark helpers out of the runtime and the enclave", () => {
    expect(sources("runtime").filter((f) => /bench/.test(f))).toEqual([]);
    expect(readFileSync(join(ROOT, "runtime/store/simulated-latency.ts"), "utf8")).not.toMatch(/export function seededRandom/);
  });

  it("every folder with sources has a rule (a new folder needs one)", () => {
    const ruled = new Set(RULES.map(([folder]) => folder.split("/")[0]));
    expect(FOLDERS_WITH_SOURCES.filter((f) => !ruled.has(f) && !UNRULED.includes(f))).toEqual([]);
    expect(FOLDERS_WITH_SOURCES).toEqual(expect.arrayContaining(["wire", "runtime", "enclave", "verifier", "registry", "constructs", "stacks", "cli", "bench", "scripts"]));
  });

  it("no import cycles in the source tree", () => {
    const files = FOLDERS_WITH_SOURCES.filter((f) => f !== "test").flatMap((f) => sources(f));
    const known = new Set(files);
    const graph = new Map(files.map((f) => [f, importedFiles(f, known)]));
    // Exact match: the list only shrinks, and a new cycle fails here.
    expect(cycles(graph)).toEqual(KNOWN_CYCLES);
    // Not vacuous: a cycle made up here is found.
    expect(
      cycles(
        new Map([
          ["a", ["b"]],
          ["b", ["c"]],
          ["c", ["a"]],
          ["d", ["a"]],
        ]),
      ),
    ).toEqual([["a", "b", "c"]]);
  });

  it("sees the imports it checks (the scanner is not vacuous)", () => {
    expect([...importedFolders("runtime/server.ts")]).toEqual(expect.arrayContaining(["wire", "verifier"]));
    expect([...importedFolders("enclave/signer.ts")]).toContain("wire");
    expect([...importedFolders("runtime/main.ts")]).toContain("registry");
  });
});
