// `load` as one writer among several (in-process, memory store with conditional writes): it seals
// with its own writer key; a stored object under one of its own kids that does not verify is
// replaced; an object under another writer's kid is judged by its claimed event time (this writer
// cannot check it and must not overwrite what may be newer genuine data).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { load } from "../../cli/load";
import { generateWriterKey, writerKeyring } from "../../dev/key-files";
import { MemoryStore } from "../../runtime/store/memory-store";
import { decodeStoredObject, objectKey } from "../../wire/object";

const NOW = Date.now();
let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), "load-writers-"))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, rows: Array<{ id: string; t: number; n: number }>): string {
  const path = join(dir, name);
  writeFileSync(path, rows.map((r) => JSON.stringify({ merchant_id: r.id, event_time: r.t, txn_count_1h: r.n })).join("\n") + "\n");
  return path;
}

test("seals under its own kid; replaces a forged object under its kid; leaves another writer's newer object alone", async () => {
  const loader = writerKeyring([generateWriterKey("loader")]);
  const stream = writerKeyring([generateWriterKey("stream")]);
  const store = new MemoryStore();
  const key = (e: string) => objectKey("merchant_risk", e);
  const sealAs = (ring: typeof loader, e: string, t: number, n: number) =>
    ring.seal({ view: "merchant_risk", entity: e, event_time: t, written_time: t, features: { txn_count_1h: n } });

  // Another writer's genuine, newer object; and a "newer" object under loader's kid with a bad seal.
  await store.put(key("m-stream"), sealAs(stream, "m-stream", NOW - 1000, 7));
  const forged = sealAs(loader, "m-forged", NOW + 3_600_000, 666);
  forged[forged.length - 1] ^= 1; // the body changed: the seal no longer verifies
  await store.put(key("m-forged"), forged);

  const s = await load({
    file: file("a.jsonl", [
      { id: "m-stream", t: NOW - 5000, n: 1 },
      { id: "m-forged", t: NOW - 5000, n: 2 },
      { id: "m-new", t: NOW - 5000, n: 3 },
    ]),
    view: "merchant_risk",
    store,
    seals: loader,
  });
  expect(s).toMatchObject({ written: 2, skipped_older: 1, rejected: 0 });
  const kidOf = async (e: string) => {
    const got = await store.get(key(e));
    if (!got.found) throw new Error(`no ${e}`);
    const o = decodeStoredObject(got.body);
    return o.v === 2 ? o.seal?.kid : undefined;
  };
  expect(await kidOf("m-stream")).toBe(stream.activeKid); // untouched
  expect(await kidOf("m-forged")).toBe(loader.activeKid); // replaced with a genuine one
  expect(await kidOf("m-new")).toBe(loader.activeKid);
  const forgedNow = await store.get(key("m-forged"));
  expect(forgedNow.found && loader.open(forgedNow.body, "merchant_risk", "m-forged").ok).toBe(true);
});

test("merges by default into objects its keyring verifies (other features and their times kept); --mode replace drops them; refuses to merge into another writer's older object", async () => {
  const loader = writerKeyring([generateWriterKey("loader")]);
  const stream = writerKeyring([generateWriterKey("stream")]);
  const store = new MemoryStore();
  const raw = (name: string, rows: unknown[]) => {
    const path = join(dir, name);
    writeFileSync(path, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
    return path;
  };
  const stored = async (e: string) => {
    const got = await store.get(objectKey("merchant_risk", e));
    if (!got.found) throw new Error(`no ${e}`);
    const opened = loader.open(got.body, "merchant_risk", e);
    if (!opened.ok) throw new Error(opened.code);
    return opened.object;
  };
  await load({ file: raw("m1.jsonl", [{ merchant_id: "mm", event_time: NOW - 5000, txn_count_1h: 1, category: "a" }]), view: "merchant_risk", store, seals: loader });
  expect(await load({ file: raw("m2.jsonl", [{ merchant_id: "mm", event_time: NOW - 4000, txn_count_1h: 2 }]), view: "merchant_risk", store, seals: loader })).toMatchObject({
    written: 1,
  });
  expect(await stored("mm")).toMatchObject({ event_time: NOW - 4000, features: { txn_count_1h: 2, category: "a" }, feature_times: { category: NOW - 5000 } });
  expect(
    await load({ file: raw("m3.jsonl", [{ merchant_id: "mm", event_time: NOW - 3000, txn_count_1h: 3 }]), view: "merchant_risk", store, seals: loader, mode: "replace" }),
  ).toMatchObject({ written: 1 });
  expect((await stored("mm")).features).toEqual({ txn_count_1h: 3 });

  await store.put(
    objectKey("merchant_risk", "theirs"),
    stream.seal({ view: "merchant_risk", entity: "theirs", event_time: NOW - 9000, written_time: NOW, features: { category: "s" } }),
  );
  const s = await load({
    file: raw("m4.jsonl", [{ merchant_id: "theirs", event_time: NOW - 1000, txn_count_1h: 4 }]),
    view: "merchant_risk",
    store,
    seals: loader,
    rejectsFile: join(dir, "m4.rejects.jsonl"),
  });
  expect(s).toMatchObject({ written: 0, rejected: 1 });
});
