import { mkdtempSync, rmSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryStore } from "../../../runtime/store/memory-store";
import { FileStore, fileNameForKey } from "../../../runtime/store/file-store";
import type { ObjectStore, ObjectWriter } from "../../../runtime/store/types";

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

const factories: Array<[string, () => ObjectStore & ObjectWriter]> = [
  ["MemoryStore", () => new MemoryStore()],
  [
    "FileStore",
    () => {
      const root = mkdtempSync(join(tmpdir(), "filestore-"));
      roots.push(root);
      return new FileStore({ root });
    },
  ],
];

describe.each(factories)("%s", (_name, make) => {
  it("round-trips, 404s, and copies on put", async () => {
    const store = make();
    const body = Buffer.from("hello");
    const { etag } = await store.put("views/user/1", body);
    body[0] = 0; // the store must have copied
    const got = await store.get("views/user/1");
    expect(got).toEqual({ found: true, body: Buffer.from("hello"), etag });
    await expect(store.get("views/user/2")).resolves.toEqual({ found: false });
    await expect(store.ping()).resolves.toBeUndefined();
  });

  it("If-None-Match: * fails when the key exists", async () => {
    const store = make();
    await store.put("k", Buffer.from("a"), { ifNoneMatch: "*" });
    await expect(store.put("k", Buffer.from("b"), { ifNoneMatch: "*" })).rejects.toMatchObject({ code: "precondition_failed", httpStatus: 412 });
    const got = await store.get("k");
    expect(got.found && got.body.toString()).toBe("a");
  });

  it("If-Match succeeds on the current ETag only, and fails on an absent key", async () => {
    const store = make();
    const first = await store.put("k", Buffer.from("a"));
    const second = await store.put("k", Buffer.from("b"), { ifMatch: first.etag });
    expect(second.etag).not.toBe(first.etag);
    await expect(store.put("k", Buffer.from("c"), { ifMatch: first.etag })).rejects.toMatchObject({ code: "precondition_failed" });
    await expect(store.put("absent", Buffer.from("c"), { ifMatch: first.etag })).rejects.toMatchObject({ code: "precondition_failed" });
    const got = await store.get("k");
    expect(got.found && got.body.toString()).toBe("b");
  });

  it("concurrent If-None-Match writers: exactly one wins", async () => {
    const store = make();
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => store.put("race", Buffer.from(String(i)), { ifNoneMatch: "*" })));
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
  });
});

describe("FileStore key → file name", () => {
  it("keeps every key inside the root as one flat file", async () => {
    const root = mkdtempSync(join(tmpdir(), "filestore-"));
    roots.push(root);
    const store = new FileStore({ root });
    const keys = ["../escape", "..", ".", "a/../../b", "/abs/path", "x".repeat(600), "ü/日本 +%~"];
    for (const key of keys) {
      await store.put(key, Buffer.from(key));
      const got = await store.get(key);
      expect(got.found && got.body.toString()).toBe(key);
      expect(store.pathForKey(key).startsWith(root + "/")).toBe(true);
      expect(fileNameForKey(key)).not.toMatch(/\/|^\.\.?$/);
    }
    expect(readdirSync(root)).toHaveLength(keys.length);
    expect(fileNameForKey("..")).toBe("%2E.");
  });
});

describe("MemoryStore.fromFileStoreDir", () => {
  it("preloads exactly the objects a FileStore holds, under the same keys", async () => {
    const root = mkdtempSync(join(tmpdir(), "mem-from-file-"));
    try {
      const files = new FileStore({ root });
      const keys = ["user_profile/dXNlcl8wMDAwNDI", "v/a b/ünï", ".hidden/../x"];
      for (const [i, key] of keys.entries()) await files.put(key, Buffer.from(`body-${i}`));
      const memory = MemoryStore.fromFileStoreDir(root);
      for (const [i, key] of keys.entries()) {
        const got = await memory.get(key);
        expect(got.found && got.body.toString()).toBe(`body-${i}`);
      }
      expect((await memory.get("user_profile/other")).found).toBe(false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
