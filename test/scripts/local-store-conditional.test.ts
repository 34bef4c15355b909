/**
 * The local store's conditional writes against S3's documented PutObject behaviour
 * (dev/lane/conditional-writes.ts quotes the statements each case checks).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { startLocalStore, RunningStore } from "../../dev/lane/local-store";
import { S3Store } from "../../runtime/store/s3-store";
import { StaticCredentials } from "../../runtime/store/credentials";
import { StoreError } from "../../runtime/store/types";
import { KeyedLock, sameEtag } from "../../dev/lane/conditional-writes";

let store: RunningStore;
let client: S3Store;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "cond-store-"));
  store = await startLocalStore({ host: "127.0.0.1", port: 0, directory: dir, bucket: "lane" });
  client = new S3Store({
    bucket: "lane",
    endpoint: store.endpoint,
    addressing: "path",
    region: "us-east-1",
    credentials: new StaticCredentials({ accessKeyId: "S3RVER", secretAccessKey: "S3RVER" }),
  });
});

afterAll(async () => {
  await client?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function rawPut(key: string, body: string, headers: Record<string, string>) {
  const res = await request(`${store.endpoint}/lane/${key}`, { method: "PUT", body, headers });
  return { status: res.statusCode, body: await res.body.text() };
}

async function rejection(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof StoreError) return err;
    throw err;
  }
  throw new Error("expected the write to fail");
}

describe("local store: S3 conditional writes", () => {
  it("If-None-Match: * creates a missing key, and answers 412 PreconditionFailed when it exists", async () => {
    const first = await client.put("c/a", Buffer.from("one"), { ifNoneMatch: "*" });
    expect(first.etag).toMatch(/^"[0-9a-f]{32}"$/);
    const err = await rejection(client.put("c/a", Buffer.from("two"), { ifNoneMatch: "*" }));
    expect(err.code).toBe("precondition_failed");
    expect(err.httpStatus).toBe(412);
    const got = await client.get("c/a");
    expect(got.found && got.body.toString()).toBe("one");
  });

  it("answers S3 XML error bodies", async () => {
    const res = await rawPut("c/a", "x", { "if-none-match": "*" });
    expect(res.status).toBe(412);
    expect(res.body).toContain("<Code>PreconditionFailed</Code>");
    expect(res.body).toContain("<Condition>If-None-Match</Condition>");
  });

  it("If-Match writes only when the ETag matches (412 otherwise), quoted or not", async () => {
    const { etag } = await client.put("c/b", Buffer.from("v1"));
    const err = await rejection(client.put("c/b", Buffer.from("v2"), { ifMatch: '"0000000000000000000000000000dead"' }));
    expect(err.httpStatus).toBe(412);
    const next = await client.put("c/b", Buffer.from("v2"), { ifMatch: etag });
    expect(next.etag).not.toBe(etag);
    const stale = await rejection(client.put("c/b", Buffer.from("v3"), { ifMatch: etag }));
    expect(stale.httpStatus).toBe(412);
    await client.put("c/b", Buffer.from("v3"), { ifMatch: next.etag.replace(/"/g, "") });
    const got = await client.get("c/b");
    expect(got.found && got.body.toString()).toBe("v3");
  });

  it("If-Match on a missing key is 404 NoSuchKey", async () => {
    const res = await rawPut("c/none", "x", { "if-match": '"abc"' });
    expect(res.status).toBe(404);
    expect(res.body).toContain("<Code>NoSuchKey</Code>");
    expect((await client.get("c/none")).found).toBe(false);
  });

  it("If-None-Match with an ETag value is not implemented for PUT (only '*')", async () => {
    const res = await rawPut("c/x", "x", { "if-none-match": '"abc"' });
    expect(res.status).toBe(501);
    expect((await client.get("c/x")).found).toBe(false);
  });

  it("plain PUTs still overwrite (unconditional writes are unchanged)", async () => {
    await client.put("c/p", Buffer.from("1"));
    await client.put("c/p", Buffer.from("2"));
    const got = await client.get("c/p");
    expect(got.found && got.body.toString()).toBe("2");
  });

  it("is atomic under concurrency: of 20 racing creates exactly one wins", async () => {
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => client.put("c/race", Buffer.from(`w${i}`), { ifNoneMatch: "*" })));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(rejected.every((r) => (r.reason as StoreError).httpStatus === 412)).toBe(true);
  });

  it("is atomic under concurrency: of 20 compare-and-swaps on one ETag exactly one wins", async () => {
    const { etag } = await client.put("c/cas", Buffer.from("base"));
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => client.put("c/cas", Buffer.from(`w${i}`), { ifMatch: etag })));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
  });

  it("ETag comparison and the keyed lock", async () => {
    expect(sameEtag('"abc"', "abc")).toBe(true);
    expect(sameEtag('W/"abc"', '"abc"')).toBe(true);
    expect(sameEtag('"abc"', '"abd"')).toBe(false);
    const lock = new KeyedLock();
    const order: string[] = [];
    await Promise.all([
      lock.run("k", async () => {
        await new Promise((r) => setTimeout(r, 20));
        order.push("a");
      }),
      lock.run("k", async () => order.push("b")),
    ]);
    expect(order).toEqual(["a", "b"]);
    expect(lock.held).toBe(0);
  });
});
