import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { etagOf, MemoryStore } from "../../../runtime/store/memory-store";
import { fileNameForKey } from "../../../runtime/store/file-store";

describe("MemoryStore", () => {
  it("ETags are quoted MD5 hex, as S3 gives for single-part uploads", () => {
    expect(etagOf(Buffer.from("abc"))).toBe(`"${createHash("md5").update("abc").digest("hex")}"`);
  });

  it("is seeded with copies of the bodies, unless the caller hands them over", async () => {
    const body = Buffer.from("one");
    const copied = new MemoryStore([["k", body]]);
    const owned = new MemoryStore([["k", body]], { owned: true });
    body[0] = 0x4f; // "One"
    expect(((await copied.get("k")) as { body: Buffer }).body.toString()).toBe("one");
    expect(((await owned.get("k")) as { body: Buffer }).body.toString()).toBe("One");
  });

  it("conditional puts: If-None-Match: * on an existing key, If-Match on a stale or absent ETag → 412", async () => {
    const s = new MemoryStore();
    const { etag } = await s.put("k", Buffer.from("a"));
    await expect(s.put("k", Buffer.from("b"), { ifNoneMatch: "*" })).rejects.toMatchObject({ code: "precondition_failed", httpStatus: 412 });
    await expect(s.put("k", Buffer.from("b"), { ifMatch: '"stale"' })).rejects.toMatchObject({ code: "precondition_failed" });
    await expect(s.put("absent", Buffer.from("b"), { ifMatch: etag })).rejects.toMatchObject({ code: "precondition_failed" });
    await expect(s.put("k", Buffer.from("b"), { ifMatch: etag })).resolves.toEqual({ etag: etagOf(Buffer.from("b")) });
  });

  it("a get with an aborted signal is a timeout", async () => {
    const s = new MemoryStore([["k", Buffer.from("a")]]);
    await expect(s.get("k", AbortSignal.abort())).rejects.toMatchObject({ code: "timeout" });
  });

  it("delete removes, size counts", async () => {
    const s = new MemoryStore([
      ["a", Buffer.from("1")],
      ["b", Buffer.from("2")],
    ]);
    expect(s.size).toBe(2);
    await s.delete("a");
    expect(s.size).toBe(1);
    await expect(s.get("a")).resolves.toEqual({ found: false });
  });

  it("fromFileStoreDir maps FileStore names back to keys and skips hashed and hidden files", async () => {
    const root = mkdtempSync(join(tmpdir(), "memstore-"));
    try {
      writeFileSync(join(root, fileNameForKey("views/user/u 1")), "body");
      writeFileSync(join(root, fileNameForKey("x".repeat(300))), "hashed"); // cannot be mapped back
      writeFileSync(join(root, ".tmp-123"), "partial");
      const s = MemoryStore.fromFileStoreDir(root);
      expect(s.size).toBe(1);
      expect(((await s.get("views/user/u 1")) as { body: Buffer }).body.toString()).toBe("body");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
