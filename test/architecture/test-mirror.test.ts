/**
 * Tests mirror the source: every module of wire/, runtime/, enclave/, verifier/, constructs/ and sequencer/ has
 * a test file at the mirrored path (runtime/x.ts → test/runtime/x.test.ts), so a reader looking for
 * a module's behaviour finds it in one place.
 *
 * Exempt: files with no behaviour of their own (types, re-exports, pinned data) and the entry
 * points (composition roots, run as child processes by test/e2e). NOT_YET_MIRRORED is the debt
 * this rule started with: it may only shrink (a listed file that gains its test must leave the
 * list; a module missing from both lists fails).
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const ROOT = resolve(__dirname, "../..");
const MIRRORED = ["wire", "runtime", "enclave", "verifier", "constructs", "sequencer"];

/** No behaviour of their own. */
const NO_BEHAVIOUR: Readonly<Record<string, string>> = {
  "runtime/store/types.ts": "the store interfaces and their error class",
  "enclave/nsm/types.ts": "the NSM interface",
  "constructs/aws.ts": "re-exports of the provider's resource classes",
  "verifier/roots/aws-nitro-enclaves-root-g1.ts": "the pinned AWS Nitro root certificate (data; test/verifier/attestation-roots.test.ts checks it)",
};

/** Composition roots: started as processes by test/e2e (dev/lane/processes.ts). */
const ENTRY_POINTS = [
  "runtime/main.ts",
  "enclave/main.ts",
  "enclave/dev-main.ts",
  "enclave/sign-worker.ts" /* a worker thread's entry: test/enclave/sign-workers.test.ts runs it */,
];

/** Modules without a mirrored test when this rule was introduced (issue #17). Only shrinks. */
const NOT_YET_MIRRORED = ["enclave/serve.ts", "wire/registry.ts"];

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(ROOT, dir, name);
    if (statSync(path).isDirectory()) return sources(relative(ROOT, path));
    return name.endsWith(".ts") && !name.endsWith(".d.ts") ? [relative(ROOT, path)] : [];
  });
}

const mirrorOf = (file: string): string => join("test", file.replace(/\.ts$/, ".test.ts"));
const hasMirror = (file: string): boolean => existsSync(join(ROOT, mirrorOf(file)));

describe("tests mirror the source", () => {
  const modules = MIRRORED.flatMap((dir) => sources(dir));
  const exempt = new Set([...Object.keys(NO_BEHAVIOUR), ...ENTRY_POINTS]);

  it("every module has a test at the mirrored path, or is exempt, or is listed as debt", () => {
    const missing = modules.filter((f) => !exempt.has(f) && !NOT_YET_MIRRORED.includes(f) && !hasMirror(f));
    expect(missing.map((f) => `${f}: write ${mirrorOf(f)}`)).toEqual([]);
  });

  it("the debt list only shrinks: a listed module that has its test now must leave the list", () => {
    expect(NOT_YET_MIRRORED.filter(hasMirror).map((f) => `${f} has ${mirrorOf(f)}: remove it from NOT_YET_MIRRORED`)).toEqual([]);
    expect(NOT_YET_MIRRORED.filter((f) => !modules.includes(f)).map((f) => `${f} no longer exists: remove it from NOT_YET_MIRRORED`)).toEqual([]);
  });

  it("exemptions name real files", () => {
    expect([...exempt].filter((f) => !modules.includes(f))).toEqual([]);
    expect(modules.length).toBeGreaterThan(60); // the scanner sees the tree
  });
});
