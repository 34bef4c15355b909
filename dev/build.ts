/**
 * esbuild bundles: each deployable is one file (dist/runtime.js on the host, dist/signer.js in the
 * enclave image, dist/cli.js for consumers, dist/bench.js for the nodes).
 */
import { build, BuildOptions } from "esbuild";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(__dirname, "..");

export const BUNDLES: Record<string, string> = {
  runtime: "runtime/main.ts",
  /** The enclave image's signer: device NSM only. */
  signer: "enclave/main.ts",
  /** The development signer: local NSM twin, dev key files. Never in an image. */
  "dev-signer": "enclave/dev-main.ts",
  cli: "cli/main.ts",
  bench: "bench/main.ts",
  "local-store": "dev/lane/local-store.ts",
  /** Goal 5's micro-benchmark, bundled like the signer it measures (tsx's module getters distort it). */
  "bench-sign-workers": "bench/micro/sign-workers.ts",
};

/**
 * What the runtime's lane_build_info says it is (runtime/metrics.ts): package.json's version and
 * the commit checked out, when git knows one. Only code that names __EXPRESS_LANE_BUILD__ changes
 * with it (the runtime), so the signer bundle, hence PCR0, does not move with every commit.
 */
export function buildIdentity(): { version: string; commit: string } {
  const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
  let commit = "";
  try {
    commit = execFileSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    /* not a git checkout */
  }
  return { version, commit };
}

export async function buildBundles(names: readonly string[] = Object.keys(BUNDLES), outdir = join(ROOT, "dist")): Promise<string[]> {
  const built: string[] = [];
  const define = { __EXPRESS_LANE_BUILD__: JSON.stringify(buildIdentity()) };
  for (const name of names) {
    const entry = join(ROOT, BUNDLES[name]);
    if (!existsSync(entry)) continue; // a bundle whose source is not written yet
    const options: BuildOptions = {
      entryPoints: [entry],
      outfile: join(outdir, `${name}.js`),
      bundle: true,
      platform: "node",
      target: "node20",
      format: "cjs",
      sourcemap: true,
      legalComments: "linked",
      // Optional native accelerators: used when installed next to the bundle, else pure JS.
      external: ["msgpackr-extract", "cbor-extract"],
      logLevel: "warning",
      define,
    };
    await build(options);
    built.push(options.outfile as string);
  }
  return built;
}

if (require.main === module) {
  buildBundles(process.argv.slice(2).length ? process.argv.slice(2) : undefined).then(
    (files) => process.stdout.write(files.map((f) => `built ${f}\n`).join("")),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
