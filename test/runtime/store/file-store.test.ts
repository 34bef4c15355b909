import { mkdtempSync, readdirSync, rmSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStore, fileNameForKey } from "../../../runtime/store/file-store";
import { etagOf } from "../../../runtime/store/memory-store";

let root: string;
beforeEach(() => (root = mkdtempSync(join(tmpdir(), "filestore-"))));
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe("fileNameForKey", () => {
  it("encodes the whole key into one flat name: no key names a path outside the root", () => {
    expect(fileNameForKey("views/user/u1")).toBe("views%2Fuser%2Fu1");
    expect(fileNameForKey("../../etc/passwd")).not.toContain("/");
  });

  it.each([".", "..", ".hidden"])("never produces %p or a hidden file", (key) => {
    const name = fileNameForKey(key);
    expect(name.startsWith(".")).toBe(false);
  });

  it("hashes over-long keys under a prefix the encoding never produces", () => {
    const name = fileNameForKey("k".repeat(241));
    expect(name).toMatch(/^=sha256-[0-9a-f]{64}$/);
    expect(fileNameForKey("=sha256-abc")).not.toMatch(/^=/); // "=" is encoded, so no collision
    expect(fileNameForKey("k".repeat(240))).toBe("k".repeat(240));
  });

  it("refuses the empty key", () => {
    expect(() => fileNameForKey("")).toThrow(expect.objectContaining({ code: "bad_response" }));
  });
});

describe("FileStore", () => {
  it("stores each key as one file under the root, leaving no temporary files", async () => {
    const s = new FileStore({ root });
    await s.put("views/user/u1", Buffer.from("a"));
    await s.put("views/user/u2", Buffer.from("b"));
    expect(readdirSync(root).sort()).toEqual(["views%2Fuser%2Fu1", "views%2Fuser%2Fu2"]);
    await expect(s.get("views/user/u1")).resolves.toEqual({ found: true, body: Buffer.from("a"), etag: etagOf(Buffer.from("a")) });
  });

  it("omits ETags when asked to (no hash per read)", async () => {
    const s = new FileStore({ root, etags: false });
    await s.put("k", Buffer.from("a"));
    await expect(s.get("k")).resolves.toEqual({ found: true, body: Buffer.from("a") });
  });

  it("conditional puts: 412 on a failed precondition, the object unchanged", async () => {
    const s = new FileStore({ root });
    const { etag } = await s.put("k", Buffer.from("a"), { ifNoneMatch: "*" });
    await expect(s.put("k", Buffer.from("b"), { ifNoneMatch: "*" })).rejects.toMatchObject({ code: "precondition_failed", httpStatus: 412 });
    await expect(s.put("k", Buffer.from("b"), { ifMatch: '"other"' })).rejects.toMatchObject({ httpStatus: 412 });
    await expect(s.put("absent", Buffer.from("b"), { ifMatch: etag })).rejects.toMatchObject({ httpStatus: 412 });
    expect(((await s.get("k")) as { body: Buffer }).body.toString()).toBe("a");
  });

  it("serialises conditional writers to one key: of many racing If-None-Match creates exactly one wins", async () => {
    const s = new FileStore({ root });
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => s.put("k", Buffer.from(String(i)), { ifNoneMatch: "*" })));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
  });

  it("creates its root on first write, and ping fails while the root is missing", async () => {
    const s = new FileStore({ root: join(root, "later") });
    await expect(s.ping()).rejects.toMatchObject({ code: "unavailable" });
    await s.put("k", Buffer.from("a"));
    await expect(s.ping()).resolves.toBeUndefined();
  });

  it("maps an aborted read to timeout", async () => {
    const s = new FileStore({ root });
    await s.put("k", Buffer.from("a"));
    await expect(s.get("k", AbortSignal.abort())).rejects.toMatchObject({ code: "timeout" });
  });

  (process.getuid?.() === 0 ? it.skip : it)("maps permission errors to denied", async () => {
    const s = new FileStore({ root });
    await s.put("k", Buffer.from("a"));
    chmodSync(s.pathForKey("k"), 0o000);
    await expect(s.get("k")).rejects.toMatchObject({ code: "denied" });
  });
});
