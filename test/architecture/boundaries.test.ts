/**
 * Trust boundaries show in the imports, and this keeps them there: the host runtime never imports
 * enclave code (key, seal, NSM), the enclave never imports host code, consumers' verifier depends
 * on neither, and infrastructure code depends on no application code. And no module imports
 * itself through others (an import cycle, like the old gate.ts ↔ server.ts one, means two modules
 * are one job split in two or a type in the wrong place).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
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
  ["runtime", ["enclave", "stacks", "constructs", "scripts", "cli", "bench"]],
  ["enclave", ["runtime", "stacks", "constructs", "scripts", "cli", "bench", "verifier"]],
  ["verifier", ["runtime", "enclave", "stacks", "constructs", "scripts"]],
  ["wire", ["registry", "runtime", "enclave", "verifier", "stacks", "constructs", "scripts", "cli", "bench"]],
  ["constructs", ["runtime", "enclave", "verifier", "wire", "cli", "bench"]],
  ["stacks", ["runtime", "enclave", "verifier", "wire", "cli", "bench"]],
  // The pinned default views are bundled into the signer: registry/ may use wire/ only.
  ["registry", ["runtime", "enclave", "verifier", "stacks", "constructs", "scripts", "cli", "bench"]],
];

/** The source files a file imports (relative imports, `import type` included, resolved to .ts). */
function importedFiles(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|require\(\s*)["'](\.{1,2}\/[^"']+)["']/g)) {
    const target = relative(ROOT, resolve(dirname(join(ROOT, file)), m[1]));
    const found = [`${target}.ts`, `${target}/index.ts`, target].find((c) => c.endsWith(".ts") && existsSync(join(ROOT, c)));
    if (found) out.push(found);
  }
  return out;
}

/** Every import cycle among these files, each as a → b → … → a (depth-first search, one per back edge). */
export function importCycles(files: readonly string[]): string[] {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const cycles: string[] = [];
  const visit = (file: string): void => {
    state.set(file, "open");
    stack.push(file);
    for (const dep of importedFiles(file)) {
      if (state.get(dep) === "open") cycles.push([...stack.slice(stack.indexOf(dep)), dep].join(" → "));
      else if (!state.has(dep)) visit(dep);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return cycles;
}

const SOURCE_FOLDERS = ["runtime", "wire", "enclave", "verifier", "registry", "cli", "bench", "scripts", "constructs", "stacks"].filter((d) => existsSync(join(ROOT, d)));

describe("import cycles", () => {
  it.each(SOURCE_FOLDERS)("none reachable from %s/", (folder) => {
    expect(importCycles(sources(folder))).toEqual([]);
  });

  it("finds a cycle when there is one (the check is not vacuous)", () => {
    // test/architecture/fixtures/cycle-a.ts ⇄ cycle-b.ts import each other.
    expect(importCycles(["test/architecture/fixtures/cycle-a.ts"])).toEqual(["test/architecture/fixtures/cycle-a.ts → test/architecture/fixtures/cycle-b.ts → test/architecture/fixtures/cycle-a.ts"]);
  });
});

describe("import boundaries", () => {
  it.each(RULES)("%s/ imports none of %j", (folder, forbidden) => {
    const violations = sources(folder).flatMap((file) => [...importedFolders(file)].filter((f) => forbidden.includes(f)).map((f) => `${file} → ${f}/`));
    expect(violations).toEqual([]);
  });

  it("sees the imports it checks (the scanner is not vacuous)", () => {
    expect([...importedFolders("runtime/server.ts")]).toEqual(expect.arrayContaining(["wire", "verifier"]));
    expect([...importedFolders("enclave/signer.ts")]).toContain("wire");
  });
});
