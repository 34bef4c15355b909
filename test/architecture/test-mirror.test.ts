/**
 * Tests mirror the source: every module of wire/, runtime/, enclave/, verifier/, constructs/ and sequencer/ has
 * a test file at the mirrored path (runtime/x.ts → test/runtime/x.test.ts), so a reader looking for
 * a module's behaviour finds it in one place.
 *
 * Exempt: files with no behaviour of their own (types, re-exports, pinned data) and the entry
 * points (composition roots, run as child processes by test/e2e). There is no debt list: the
 * modules this rule started without (issue #17) all have their tests now, and a new module without
 * one fails here.
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

  it("every module has a test at the mirrored path, or is exempt", () => {
    const missing = modules.filter((f) => !exempt.has(f) && !hasMirror(f));
    expect(missing.map((f) => `${f}: write ${mirrorOf(f)}`)).toEqual([]);
  });

  it("exemptions name real files", () => {
    expect([...exempt].filter((f) => !modules.includes(f))).toEqual([]);
    expect(modules.length).toBeGreaterThan(60); // the scanner sees the tree
  });
});
