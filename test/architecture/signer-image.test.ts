/**
 * P6, the measured image is production-only: the bundle that goes into the EIF (enclave/main.ts →
 * dist/signer.js) contains no local NSM twin, no dev CA and no dev entry point. Checked on what
 * esbuild actually bundles (its metafile), not on import statements, so an indirect import counts.
 */
import { build } from "esbuild";
import { join, resolve } from "node:path";

const ROOT = resolve(__dirname, "../..");

async function bundleInputs(entry: string): Promise<string[]> {
  const result = await build({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    platform: "node",
    format: "cjs",
    write: false,
    metafile: true,
    external: ["msgpackr-extract", "cbor-extract"],
    logLevel: "silent",
  });
  return Object.keys(result.metafile.inputs).filter((p) => !p.includes("node_modules"));
}

const DEV_ONLY = ["enclave/nsm/local-nsm.ts", "enclave/nsm/dev-ca.ts", "enclave/dev-main.ts"];

describe("the enclave image's signer bundle", () => {
  it("contains none of the development-only modules", async () => {
    const inputs = await bundleInputs("enclave/main.ts");
    expect(inputs).toContain("enclave/signer.ts");
    expect(inputs.filter((p) => DEV_ONLY.includes(p))).toEqual([]);
  });

  it("measures the pinned default views (registry/views.json) and carries no YAML parser", async () => {
    const result = await build({
      entryPoints: [join(ROOT, "enclave/main.ts")],
      bundle: true,
      platform: "node",
      format: "cjs",
      write: false,
      metafile: true,
      external: ["msgpackr-extract", "cbor-extract"],
      logLevel: "silent",
    });
    const all = Object.keys(result.metafile.inputs);
    expect(all).toContain("registry/views.json");
    expect(all.filter((p) => p.includes("node_modules/yaml/"))).toEqual([]);
  });

  it("the development signer does contain them (the check is not vacuous)", async () => {
    const inputs = await bundleInputs("enclave/dev-main.ts");
    expect(inputs).toEqual(expect.arrayContaining(["enclave/nsm/local-nsm.ts", "enclave/signer.ts"]));
  });
});
