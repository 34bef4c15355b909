import { createHash } from "node:crypto";
import fc from "fast-check";
import { EMPTY, EntityMap, entityMapKey, keyBit, leafHash, nodeHash, verifyEntityMapProof, type EntityMapProof } from "../../wire/entity-map";
import { ReferenceEntityMap } from "../helpers/entity-map-reference";

/** The canonical root straight from the definition (docs/object-layout.md), independent of EntityMap. */
function referenceRoot(pairs: ReadonlyMap<string, Buffer>, depth = 0): Buffer {
  const entries = [...pairs].map(([k, v]) => [Buffer.from(k, "hex"), v] as const);
  const go = (set: (readonly [Buffer, Buffer])[], d: number): Buffer => {
    if (set.length === 0) return EMPTY;
    if (set.length === 1) return leafHash(set[0][0], set[0][1]);
    const left = set.filter(([k]) => keyBit(k, d) === 0);
    const right = set.filter(([k]) => keyBit(k, d) === 1);
    return nodeHash(go(left, d + 1), go(right, d + 1));
  };
  return go(entries, depth);
}

// A 40-byte leaf value (wire/checkpoint.ts entityMapValue layout: 8 bytes of time, then a digest).
const digest = (s: string): Buffer => Buffer.concat([Buffer.alloc(8), createHash("sha256").update(s).digest()]);
const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a));
/** Keys that share long prefixes, so deep paths and splits get exercised. */
const clusteredKey = fc.tuple(fc.integer({ min: 0, max: 3 }), key32).map(([shared, k]) => {
  const out = Buffer.from(k);
  out.fill(0xa5, 0, shared * 8); // 0, 8, 16 or 24 equal leading bytes
  return out;
});

describe("entity map", () => {
  it("an empty map's root is EMPTY and proves every key absent", () => {
    const map = new EntityMap();
    expect(map.rootHash()).toEqual(EMPTY);
    const k = entityMapKey("user_profile", "u1");
    expect(verifyEntityMapProof(map.rootHash(), k, map.prove(k))).toEqual({ ok: true, present: false });
  });

  it("key = SHA-256(domain ‖ 0x00 ‖ view ‖ 0x00 ‖ UTF-8(entity)), as documented, for any text", () => {
    const { createHash } = jest.requireActual<typeof import("node:crypto")>("node:crypto");
    const definition = (view: string, entity: string) =>
      createHash("sha256")
        .update("express-lane/entity-map/key/v1\0", "utf8")
        .update(view, "utf8")
        .update(Buffer.from([0]))
        .update(entity, "utf8")
        .digest();
    const first = entityMapKey("user_profile", "user_000042");
    for (const [view, entity] of [
      ["user_profile", "user_000042"],
      ["v", "ü-ß-€"],
      ["v", "😀x"],
      ["v", "x".repeat(5000)],
      ["user_profile", "user_000042"],
    ] as const) {
      expect(entityMapKey(view, entity).equals(definition(view, entity))).toBe(true);
    }
    expect(first.equals(definition("user_profile", "user_000042"))).toBe(true); // not overwritten by later calls
  });

  it("keys separate view and entity (no concatenation ambiguity)", () => {
    expect(entityMapKey("ab", "c").equals(entityMapKey("a", "bc"))).toBe(false);
    expect(entityMapKey("v", "1").equals(entityMapKey("v", "1"))).toBe(true);
  });

  it("root equals the canonical definition after any sequence of sets and deletes", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), clusteredKey, fc.string()), { maxLength: 60 }), (ops) => {
        const map = new EntityMap();
        const model = new Map<string, Buffer>();
        for (const [isSet, k, v] of ops) {
          if (isSet || !model.size) {
            map.set(k, digest(v));
            model.set(k.toString("hex"), digest(v));
          } else {
            const victim = Buffer.from([...model.keys()][v.length % model.size], "hex");
            expect(map.delete(victim)).toBe(true);
            model.delete(victim.toString("hex"));
          }
          expect(map.size).toBe(model.size);
        }
        expect(map.rootHash()).toEqual(referenceRoot(model));
      }),
      { numRuns: 100 },
    );
  });

  it("every present key proves its value, every other key proves absence", () => {
    fc.assert(
      fc.property(fc.uniqueArray(clusteredKey, { maxLength: 40, selector: (k) => k.toString("hex") }), fc.array(clusteredKey, { maxLength: 10 }), (present, probes) => {
        const map = new EntityMap();
        present.forEach((k, i) => map.set(k, digest(String(i))));
        const root = map.rootHash();
        present.forEach((k, i) => expect(verifyEntityMapProof(root, k, map.prove(k))).toEqual({ ok: true, present: true, value: digest(String(i)) }));
        for (const k of probes) {
          if (present.some((p) => p.equals(k))) continue;
          expect(verifyEntityMapProof(root, k, map.prove(k))).toEqual({ ok: true, present: false });
        }
      }),
      { numRuns: 60 },
    );
  });

  describe("hostile proofs", () => {
    const map = new EntityMap();
    for (let i = 0; i < 1000; i++) map.set(entityMapKey("v", `e${i}`), digest(`object ${i}`));
    const root = map.rootHash();
    const k = entityMapKey("v", "e7");
    const proof = map.prove(k);

    it("the honest proof holds (the legitimate path)", () => {
      expect(verifyEntityMapProof(root, k, proof)).toEqual({ ok: true, present: true, value: digest("object 7") });
      expect(proof.siblings.length).toBeGreaterThan(5);
      expect(proof.siblings.length).toBeLessThan(30);
    });

    it("an older value for the entity (roll-back) does not verify", () => {
      const old: EntityMapProof = { ...proof, leaf: { key: k, value: digest("object 7, an older version") } };
      expect(verifyEntityMapProof(root, k, old)).toEqual({ ok: false, reason: "root_mismatch" });
    });

    it("another entity's proof does not prove this one", () => {
      const other = entityMapKey("v", "e8");
      const r = verifyEntityMapProof(root, k, map.prove(other));
      expect(r.ok && r.present).toBe(false);
    });

    it("an absence proof for an entity that exists does not verify", () => {
      const dropLeaf: EntityMapProof = { siblings: proof.siblings };
      expect(verifyEntityMapProof(root, k, dropLeaf)).toEqual({ ok: false, reason: "root_mismatch" });
      // Absence by "another leaf at the end of the path": the path must end at k's own leaf.
      const neighbour = map.prove(entityMapKey("v", "e8")).leaf!;
      expect(verifyEntityMapProof(root, k, { siblings: proof.siblings, leaf: neighbour }).ok).toBe(false);
      // A shortened path whose end is a node hash claimed as EMPTY.
      expect(verifyEntityMapProof(root, k, { siblings: proof.siblings.slice(0, -1) }).ok).toBe(false);
    });

    it("a proof against an older root (a replayed checkpoint) does not verify against the new one", () => {
      const before = map.prove(k);
      const map2 = new EntityMap();
      for (let i = 0; i < 1000; i++) map2.set(entityMapKey("v", `e${i}`), digest(i === 7 ? "object 7 v2" : `object ${i}`));
      expect(verifyEntityMapProof(map2.rootHash(), k, before)).toEqual({ ok: false, reason: "root_mismatch" });
    });

    it("malformed proofs are refused without throwing", () => {
      const bad: unknown[] = [
        { siblings: [Buffer.alloc(31)] },
        { siblings: "x" },
        { siblings: Array.from({ length: 257 }, () => Buffer.alloc(32)) },
        { siblings: [], leaf: { key: Buffer.alloc(32), value: Buffer.alloc(3) } },
      ];
      for (const p of bad) expect(verifyEntityMapProof(root, k, p as EntityMapProof)).toEqual({ ok: false, reason: "malformed" });
    });
  });
});

describe("entityMapKey is its definition, H(domain ‖ 0x00-joined view and entity), for any names", () => {
  it("short, non-ASCII and long (past the one-shot scratch) names", () => {
    const definition = (view: string, entity: string) =>
      createHash("sha256")
        .update(Buffer.from("express-lane/entity-map/key/v1\0", "utf8"))
        .update(view, "utf8")
        .update(Buffer.from([0]))
        .update(entity, "utf8")
        .digest();
    for (const [view, entity] of [
      ["user_profile", "user_000042"],
      ["v", "é漢字🙂"],
      ["x", "a".repeat(3000)],
      ["", ""],
    ] as const)
      expect(entityMapKey(view, entity).equals(definition(view, entity))).toBe(true);
  });

  it("the slot pool answers exactly as the object tree it replaced: roots, values, proofs, through growth and reuse", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), clusteredKey, fc.string()), { maxLength: 300 }), (ops) => {
        const map = new EntityMap();
        const reference = new ReferenceEntityMap();
        const keys: Buffer[] = [];
        for (const [op, k, v] of ops) {
          // 0–5 set a new or (half the time) an existing key, 6–8 delete one, 9 compare every proof.
          const key = op % 2 === 1 && keys.length > 0 ? keys[v.length % keys.length]! : k;
          if (op <= 5) {
            map.set(key, digest(v));
            reference.set(key, digest(v));
            keys.push(key);
          } else if (op <= 8 && keys.length > 0) {
            const victim = keys[v.length % keys.length]!;
            expect(map.delete(victim)).toBe(reference.delete(victim));
          } else {
            for (const probe of [...keys, k]) {
              expect(map.prove(probe)).toEqual(reference.prove(probe));
              expect(map.get(probe)).toEqual(reference.get(probe));
            }
          }
          expect(map.size).toBe(reference.size);
          expect(map.rootHash()).toEqual(reference.rootHash());
        }
      }),
      { numRuns: 60 },
    );
  });

  it("proofs are the same bytes whether the output buffer is word-aligned (word copies) or not (Buffer.copy)", () => {
    const map = new EntityMap();
    const keys = Array.from({ length: 300 }, (_, i) => entityMapKey("v", `e${i}`));
    keys.forEach((k, i) => i % 3 !== 0 && map.set(k, digest(String(i)))); // every third absent
    const aligned = keys.map((k) => map.provePacked(k));
    expect(aligned.every((p) => (p.siblings.byteOffset & 3) === 0)).toBe(true);
    // Node's pool hands out 8-byte-aligned slices; force odd offsets to take the fallback.
    const real = Buffer.allocUnsafe;
    const spy = jest.spyOn(Buffer, "allocUnsafe").mockImplementation((n: number) => real(n + 1).subarray(1));
    try {
      const unaligned = keys.map((k) => map.provePacked(k));
      expect(unaligned.every((p) => (p.siblings.byteOffset & 3) !== 0)).toBe(true);
      expect(unaligned).toEqual(aligned);
    } finally {
      spy.mockRestore();
    }
  });

  it("what it hands out are copies: later updates (and pool growth) change no root, value or proof already returned", () => {
    const map = new EntityMap();
    const k = entityMapKey("v", "first");
    map.set(k, digest("a"));
    const root = map.rootHash();
    const value = map.get(k)!;
    const proof = map.prove(k);
    const held = [Buffer.from(root), Buffer.from(value), Buffer.from(proof.leaf!.value)];
    map.set(k, digest("b"));
    for (let i = 0; i < 500; i++) map.set(entityMapKey("v", `e${i}`), digest(String(i))); // grows the pools
    expect([root, value, proof.leaf!.value]).toEqual(held);
    expect(map.get(k)).toEqual(digest("b"));
  });
});
