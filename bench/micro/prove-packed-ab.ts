/**
 * The host's proof per served entity (wire/entity-map.ts `EntityMap.provePacked`): this tree's
 * against another checkout's, in one process, rounds alternating which side goes first, median ns
 * per proof; plus what one 32-byte sibling copy costs each way (`Buffer.copy` against eight Uint32
 * assignments — why provePacked copies words). Quoted in docs/performance.md "Session 8 (lead)".
 *
 *   git worktree add /tmp/old <commit>
 *   npx tsx bench/micro/prove-packed-ab.ts /tmp/old [entities=2000] [proofs=200000] [rounds=7]
 *
 * Each side's entity map is bundled (esbuild, one CommonJS file per checkout), as the runtime runs it.
 * The proofs of both sides are compared byte for byte first.
 */
import { build } from "esbuild";
import { mkdtempSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";

interface MapModule {
  EntityMap: new () => { set(key: Uint8Array, value: Uint8Array): void; provePacked(key: Uint8Array): { siblings: Buffer; leaf?: { key: Buffer; value: Buffer } } };
  entityMapKey(view: string, entity: string): Buffer;
}

async function bundled(tree: string, dir: string, name: string): Promise<MapModule> {
  const outfile = join(dir, `${name}.js`);
  await build({ entryPoints: [join(tree, "wire/entity-map.ts")], bundle: true, platform: "node", format: "cjs", outfile, logLevel: "warning" });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(outfile) as MapModule;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function copyCosts(rounds: number): { copy: number; words: number } {
  const src = Buffer.alloc(32 * 100_000, 7);
  const out = Buffer.allocUnsafe(32 * 16);
  const s32 = new Uint32Array(src.buffer, src.byteOffset, src.length >>> 2);
  const o32 = new Uint32Array(out.buffer, out.byteOffset, out.length >>> 2);
  const n = 1_000_000;
  const copy = (): number => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const at = ((i * 977) % 100_000) * 32;
      src.copy(out, (i & 15) * 32, at, at + 32);
    }
    return Number(process.hrtime.bigint() - t) / n;
  };
  const words = (): number => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const at = ((i * 977) % 100_000) * 8;
      const o = (i & 15) * 8;
      for (let k = 0; k < 8; k++) o32[o + k] = s32[at + k]!;
    }
    return Number(process.hrtime.bigint() - t) / n;
  };
  const c: number[] = [];
  const w: number[] = [];
  for (let r = 0; r < rounds; r++) {
    c.push(copy());
    w.push(words());
  }
  return { copy: median(c), words: median(w) };
}

async function main(): Promise<void> {
  const other = process.argv[2];
  if (!other) throw new Error("usage: prove-packed-ab.ts <other checkout> [entities] [proofs] [rounds]");
  const entities = Number(process.argv[3] ?? 2000);
  const proofs = Number(process.argv[4] ?? 200_000);
  const rounds = Number(process.argv[5] ?? 7);
  const dir = mkdtempSync(join(tmpdir(), "prove-packed-ab-"));
  const sides = { this: await bundled(resolve(__dirname, "../.."), dir, "this"), other: await bundled(resolve(other), dir, "other") };
  const keys = Array.from({ length: entities }, (_, i) => sides.this.entityMapKey("user_profile", `user_${i}`));
  const value = Buffer.alloc(40, 3);
  const maps = { this: new sides.this.EntityMap(), other: new sides.other.EntityMap() };
  for (const k of keys) for (const m of Object.values(maps)) m.set(k, value);
  for (const k of keys) {
    const a = maps.this.provePacked(k);
    const b = maps.other.provePacked(k);
    if (!a.siblings.equals(b.siblings) || (a.leaf === undefined) !== (b.leaf === undefined)) throw new Error("the two sides prove differently");
  }
  const time = (side: "this" | "other"): number => {
    const m = maps[side];
    const t = process.hrtime.bigint();
    for (let i = 0; i < proofs; i++) m.provePacked(keys[i % entities]!);
    return Number(process.hrtime.bigint() - t) / proofs;
  };
  const ns: Record<"this" | "other", number[]> = { this: [], other: [] };
  for (let r = 0; r < rounds; r++) for (const side of r % 2 === 0 ? (["other", "this"] as const) : (["this", "other"] as const)) ns[side].push(time(side));
  const copy = copyCosts(3);
  console.log(
    JSON.stringify({
      entities,
      proofs,
      rounds,
      nsPerProof: { other: Math.round(median(ns.other)), this: Math.round(median(ns.this)) },
      ratio: +(median(ns.this) / median(ns.other)).toFixed(2),
      perRound: { other: ns.other.map(Math.round), this: ns.this.map(Math.round) },
      siblingCopyNs: { bufferCopy: +copy.copy.toFixed(1), uint32Words: +copy.words.toFixed(1) },
      loadavg: loadavg().map((l) => +l.toFixed(2)),
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
