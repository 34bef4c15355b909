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
  ["runtime", ["enclave", "stacks", "constructs", "scripts", "cli", "bench"]],
  ["enclave", ["runtime", "stacks", "constructs", "scripts", "cli", "bench", "verifier"]],
  ["verifier", ["runtime", "enclave", "stacks", "constructs", "scripts"]],
  ["wire", ["runtime", "enclave", "verifier", "stacks", "constructs", "scripts", "cli", "bench"]],
  ["constructs", ["runtime", "enclave", "verifier", "wire", "cli", "bench"]],
  ["stacks", ["runtime", "enclave", "verifier", "wire", "cli", "bench"]],
  // The pinned default views are bundled into the signer: registry/ may use wire/ only.
  ["registry", ["runtime", "enclave", "verifier", "stacks", "constructs", "scripts", "cli", "bench"]],
];

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
