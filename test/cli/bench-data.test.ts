import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchRows } from "../../cli/bench-data";
import { load } from "../../cli/load";
import { sizedFeatureObject, BENCH_VIEW, benchEntityId } from "../../bench/targets";
import { generateSealKey, SealKeyring } from "../../enclave/seal";
import { MemoryStore } from "../../runtime/store/memory-store";
import { objectKey } from "../../wire/object";

describe("express-lane bench-data", () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-data-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("loads (express-lane load) into exactly the objects the benchmark reads", async () => {
    const now = 1_800_000_000_000;
    const file = join(dir, "bench.jsonl");
    writeFileSync(
      file,
      benchRows(5, 4096, now)
        .map((r) => JSON.stringify(r))
        .join("\n") + "\n",
    );
    const store = new MemoryStore();
    const seals = new SealKeyring([generateSealKey("bench")]);
    const summary = await load({ file, view: BENCH_VIEW, store, seals, now });
    expect(summary).toMatchObject({ rows: 5, entities: 5, written: 5, rejected: 0, failed: 0 });
    for (let i = 0; i < 5; i++) {
      const got = await store.get(objectKey(BENCH_VIEW, benchEntityId(i)));
      if (!got.found) throw new Error(`bench entity ${i} was not stored`);
      const opened = seals.open(got.body, BENCH_VIEW, benchEntityId(i));
      if (!opened.ok) throw new Error(opened.message);
      const expected = sizedFeatureObject(i, 4096, now);
      expect(opened.object.event_time).toBe(expected.event_time);
      expect(opened.object.features).toEqual(expected.features);
      expect(Math.abs(got.body.length - 4096)).toBeLessThan(200); // + the seal envelope
    }
  });
});
