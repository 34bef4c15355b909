/**
 * Signer A/B: this tree's signer against another checkout's, in one process, scenarios
 * interleaved (alternating which side goes first), median CPU µs per answer. Same inputs for both:
 * this tree's demo objects, sealed by each side's own keyring. Quoted in docs/performance.md.
 *
 *   git worktree add /tmp/old <commit>
 *   npx tsx bench/micro/signer-ab.ts /tmp/old [rounds]
 *
 * The other checkout needs this tree's packages: a missing `<other>/node_modules` is linked to
 * ours. Both sides must take Signer({ seals | keys, now, registry }) / signRead(raw) (true since the sealed
 * layout, commit c177714; `keys` since the key directory).
 *
 * Each side is bundled first (esbuild, one CommonJS file per checkout: its signer, seal and
 * registry modules), as the enclave runs it: under tsx every cross-module access is a getter call,
 * which distorts a per-answer comparison. Each side answers with its own bundled registry.
 */
import { build } from "esbuild";
import { existsSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DEMO_VIEW, demoEntityId, demoObject } from "../../dev/demo-data";

interface SignerModule {
  Signer: new (options: { seals: unknown; keys: unknown; now: () => number; registry: unknown }) => { signRead(raw: Record<string, unknown>): unknown };
}
interface SealModule {
  generateSealKey(kid: string): unknown;
  SealKeyring: new (keys: unknown[]) => { seal(object: unknown): Buffer };
}

const TEN = "country,risk_score,segment,txn_count_1d,flag_0,spend_30d_cat_0,spend_30d_cat_1,device,referrer,signup_time";
const SCENARIOS = ["batch 100×10", "10 features", "3 embeddings", "full JSON", "full msgpack"] as const;
type Scenario = (typeof SCENARIOS)[number];

/** One checkout's signer, seal and registry modules as one bundle (what its enclave would run). */
async function bundledSide(tree: string, dir: string, name: string): Promise<SignerModule & SealModule & { registry: unknown }> {
  const entry = join(dir, `${name}-entry.ts`);
  const registry = existsSync(join(tree, "registry/views.ts")) ? `import * as views from ${JSON.stringify(join(tree, "registry/views"))};` : "const views = {};";
  writeFileSync(
    entry,
    `export { Signer } from ${JSON.stringify(join(tree, "enclave/signer"))};\nexport { SealKeyring, generateSealKey } from ${JSON.stringify(join(tree, "enclave/seal"))};\n${registry}\nexport const registry = (views as Record<string, unknown>).DEFAULT_REGISTRY;\n`,
  );
  const outfile = join(dir, `${name}.js`);
  await build({ entryPoints: [entry], outfile, bundle: true, platform: "node", target: "node20", format: "cjs", logLevel: "error", nodePaths: [join(tree, "node_modules")] });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(outfile) as SignerModule & SealModule & { registry: unknown };
}

function side(signerModule: SignerModule, sealModule: SealModule, registry: unknown): Record<Scenario, () => unknown> {
  const now = Date.now();
  const seals = new sealModule.SealKeyring([sealModule.generateSealKey("ab")]);
  // `seals` for checkouts before the key directory (issue #11), `keys` after it; no registry = the checkout's bundled default.
  const signer = new signerModule.Signer({ seals, keys: { keyring: seals }, now: () => now, registry });
  const objects = Array.from({ length: 100 }, (_, i) => seals.seal(demoObject(i, now)));
  const batchBody = Buffer.from(JSON.stringify({ entities: objects.map((_, i) => demoEntityId(i)), features: TEN.split(",") }));
  const path = `/v1/features/${DEMO_VIEW}/${demoEntityId(7)}`;
  return {
    "batch 100×10": () => signer.signRead({ method: "POST", path: `/v1/features/${DEMO_VIEW}/batch`, query: "", contentType: "application/json", body: batchBody, objects }),
    "10 features": () => signer.signRead({ method: "GET", path, query: `?features=${TEN}`, objects: [objects[7]] }),
    "3 embeddings": () => signer.signRead({ method: "GET", path, query: "?features=embedding_0,embedding_1,embedding_2", objects: [objects[7]] }),
    "full JSON": () => signer.signRead({ method: "GET", path, query: "", objects: [objects[7]] }),
    "full msgpack": () => signer.signRead({ method: "GET", path, query: "", accept: "application/msgpack", objects: [objects[7]] }),
  };
}

async function main(): Promise<void> {
  const other = resolve(process.argv[2] ?? "");
  const rounds = Number(process.argv[3] ?? 11);
  if (!process.argv[2] || !existsSync(`${other}/enclave/signer.ts`)) throw new Error("usage: signer-ab.ts <other checkout> [rounds]");
  if (!existsSync(`${other}/node_modules`)) symlinkSync(resolve(__dirname, "../../node_modules"), `${other}/node_modules`);
  const dir = mkdtempSync(join(tmpdir(), "signer-ab-"));
  const [otherMod, thisMod] = [await bundledSide(other, dir, "other"), await bundledSide(resolve(__dirname, "../.."), dir, "this")];
  const sides = {
    other: side(otherMod, otherMod, otherMod.registry),
    this: side(thisMod, thisMod, thisMod.registry),
  };
  const samples = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const scenario of SCENARIOS) {
      for (const name of round % 2 ? (["other", "this"] as const) : (["this", "other"] as const)) {
        const run = sides[name][scenario];
        const n = scenario.startsWith("batch") ? 60 : 3000;
        for (let i = 0; i < n / 10; i++) run();
        const t0 = process.cpuUsage();
        for (let i = 0; i < n; i++) run();
        const t = process.cpuUsage(t0);
        const key = `${scenario}|${name}`;
        samples.set(key, [...(samples.get(key) ?? []), (t.user + t.system) / n]);
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  process.stdout.write(
    `signer A/B (bundled) — node ${process.version}, ${rounds} interleaved rounds, CPU µs per answer (median), load average ${loadavg()[0].toFixed(2)}\nother = ${other}\n`,
  );
  for (const scenario of SCENARIOS) {
    const a = median(samples.get(`${scenario}|other`)!);
    const b = median(samples.get(`${scenario}|this`)!);
    // Per round: this/other of that round's two samples (run back to back), lowest and highest.
    const perRound = samples
      .get(`${scenario}|this`)!
      .map((x, i) => x / samples.get(`${scenario}|other`)![i])
      .sort((p, q) => p - q);
    process.stdout.write(
      `${scenario.padEnd(14)} other ${a.toFixed(1).padStart(8)}   this ${b.toFixed(1).padStart(8)}   this/other ${(b / a).toFixed(2)}   per round ${perRound[0].toFixed(2)}–${perRound[perRound.length - 1].toFixed(2)}\n`,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
