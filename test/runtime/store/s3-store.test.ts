/**
 * S3Store path-style against the real s3rver: round trips, 404, error mapping over real HTTP,
 * timeouts, size guard — and, since s3rver does not check signatures, every request it receives
 * is re-signed with the AWS SDK's signer and must match what we sent.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { S3Store, expressAvailabilityZoneId, expressZonalEndpoint } from "../../../runtime/store/s3-store";
import { StaticCredentials } from "../../../runtime/store/credentials";
import { StoreError } from "../../../runtime/store/types";
import { referenceAuthorization } from "./sigv4-reference";

// s3rver ships no types
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver");

interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

// s3rver checks that the access key id exists (its built-in account is S3RVER/S3RVER) but not the
// V4 signature itself; the secret does not matter to it, our reference check below does.
const CREDS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
const REGION = "us-east-1";

// Both read clients (runtime/store/http1-client.ts and undici) against the same real s3rver.
describe.each(["lane", "undici"] as const)("S3Store (path-style, reads on %s) against s3rver", (readClient) => {
  let s3rver: { close(): Promise<void>; middleware: Array<(ctx: KoaContext, next: () => Promise<void>) => Promise<void>> };
  let directory: string;
  let endpoint: string;
  let store: S3Store;
  const received: ReceivedRequest[] = [];

  interface KoaContext {
    method: string;
    url: string;
    path: string;
    headers: IncomingHttpHeaders;
    status: number;
    body: unknown;
    set(name: string, value: string): void;
  }

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), "s3rver-"));
    s3rver = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory, configureBuckets: [{ name: "lane" }] });
    // Prepended (facts.md: middleware added later runs after s3rver's routes): record every
    // request, and inject failures for keys under "inject/".
    s3rver.middleware.unshift(async (ctx, next) => {
      received.push({ method: ctx.method, url: ctx.url, headers: { ...ctx.headers } });
      const injected = /^\/lane\/inject\/(\d+)(?:-(\w+))?/.exec(ctx.path);
      if (injected) {
        const status = Number(injected[1]);
        if (injected[2] === "slow") await new Promise((r) => setTimeout(r, 400));
        ctx.status = status;
        ctx.set("content-type", "application/xml");
        ctx.body = `<?xml version="1.0"?><Error><Code>${injected[2] ?? "Injected"}</Code><Message>m</Message></Error>`;
        return;
      }
      await next();
    });
    const address = (await (s3rver as unknown as { run(): Promise<AddressInfo> }).run()) as AddressInfo;
    endpoint = `http://127.0.0.1:${address.port}`;
    store = new S3Store({ readClient, bucket: "lane", region: REGION, endpoint, credentials: new StaticCredentials(CREDS) });
  });

  afterAll(async () => {
    await store?.close();
    await s3rver?.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it("PUT then GET round-trips bytes and ETag, for awkward keys too", async () => {
    const keys = ["views/user/42.mp", "with space/ünï/日本+plus%pct~tilde", "a!'()*"];
    for (const key of keys) {
      const body = Buffer.from(`object ${key} `.repeat(300));
      const { etag } = await store.put(key, body, { contentType: "application/msgpack" });
      expect(etag).toMatch(/^".+"$/);
      const got = await store.get(key);
      expect(got.found).toBe(true);
      if (!got.found) throw new Error("unreachable");
      expect(got.body.equals(body)).toBe(true);
      expect(got.etag).toBe(etag);
    }
  });

  it("every request s3rver received carries a signature the AWS SDK's signer agrees with", async () => {
    received.length = 0;
    await store.put("sig/check key+1", Buffer.from("x"), { ifNoneMatch: "*" });
    await store.get("sig/check key+1");
    await store.get("sig/missing");
    expect(received.length).toBe(3);
    for (const request of received) {
      expect(request.headers["x-amz-date"]).toMatch(/^\d{8}T\d{6}Z$/);
      const reference = await referenceAuthorization({ ...request, region: REGION, service: "s3", ...CREDS });
      expect(request.headers.authorization).toBe(reference);
    }
    // the PUT carried its conditional header, signed, and the real payload hash
    const put = received[0]!;
    expect(put.url).toBe("/lane/sig/check%20key%2B1");
    expect(put.headers["if-none-match"]).toBe("*");
    expect(put.headers.authorization).toContain("if-none-match");
    expect(put.headers["x-amz-content-sha256"]).toBe("2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881");
  });

  it("PUT sends If-Match as given (s3rver ignores it; the header must still be on the wire)", async () => {
    received.length = 0;
    await store.put("cond/a", Buffer.from("v1"), { ifMatch: '"abc"' });
    expect(received[0]!.headers["if-match"]).toBe('"abc"');
  });

  it("a missing key is {found:false}; a missing bucket is unavailable, not 'not found'", async () => {
    await expect(store.get("no/such/key")).resolves.toEqual({ found: false });
    const wrongBucket = new S3Store({ bucket: "nope", endpoint, credentials: new StaticCredentials(CREDS) });
    await expect(wrongBucket.get("k")).rejects.toMatchObject({ code: "unavailable", httpStatus: 404 });
    await expect(wrongBucket.ping()).rejects.toBeInstanceOf(StoreError);
    await wrongBucket.close();
  });

  it("ping: HEAD bucket, or HEAD pingKey where 404 still means reachable", async () => {
    await expect(store.ping()).resolves.toBeUndefined();
    const withKey = new S3Store({ readClient, bucket: "lane", endpoint, credentials: new StaticCredentials(CREDS), pingKey: "health/none" });
    await expect(withKey.ping()).resolves.toBeUndefined();
    await withKey.close();
  });

  it.each([
    [403, "AccessDenied", "denied"],
    [412, "PreconditionFailed", "precondition_failed"],
    [503, "SlowDown", "unavailable"],
    [500, "InternalError", "unavailable"],
    [409, "ConditionalRequestConflict", "unavailable"],
    [400, "ExpiredToken", "denied"],
    [400, "InvalidArgument", "bad_response"],
  ])("HTTP %i %s → %s", async (status, code, expected) => {
    await expect(store.get(`inject/${status}-${code}`)).rejects.toMatchObject({ code: expected, httpStatus: status });
  });

  it("PUT 412 → precondition_failed", async () => {
    await expect(store.put("inject/412-PreconditionFailed", Buffer.from("x"), { ifMatch: '"x"' })).rejects.toMatchObject({ code: "precondition_failed" });
  });

  it("a slow answer → timeout after timeoutMs; the store keeps working afterwards", async () => {
    const fast = new S3Store({ readClient, bucket: "lane", endpoint, credentials: new StaticCredentials(CREDS), timeoutMs: 100 });
    // The injected answer comes after 400 ms, so a `timeout` rejection is the 100 ms timer firing.
    await expect(fast.get("inject/200-slow")).rejects.toMatchObject({ code: "timeout" });
    await store.put("after/timeout", Buffer.from("ok"));
    await expect(fast.get("after/timeout")).resolves.toMatchObject({ found: true });
    await fast.close();
  });

  it("a caller's AbortSignal aborts the request", async () => {
    const controller = new AbortController();
    const pending = store.get("inject/200-slow", controller.signal);
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ code: "timeout" });
  });

  it("objects above maxObjectBytes are refused (GET and PUT)", async () => {
    const big = Buffer.alloc(64 * 1024, 7);
    await store.put("big/one", big);
    const small = new S3Store({ readClient, bucket: "lane", endpoint, credentials: new StaticCredentials(CREDS), maxObjectBytes: 32 * 1024 });
    await expect(small.get("big/one")).rejects.toMatchObject({ code: "bad_response" });
    await expect(small.put("big/two", big)).rejects.toMatchObject({ code: "bad_response" });
    // exactly at the limit is fine
    await store.put("big/exact", Buffer.alloc(32 * 1024, 1));
    const exact = await small.get("big/exact");
    expect(exact.found && exact.body.length).toBe(32 * 1024);
    await small.close();
  });

  it("nothing listening → unavailable", async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const dead = new S3Store({ readClient, bucket: "lane", endpoint: `http://127.0.0.1:${port}`, credentials: new StaticCredentials(CREDS) });
    await expect(dead.get("k")).rejects.toMatchObject({ code: "unavailable" });
    await dead.close();
  });

  it("many concurrent GETs over the keep-alive pool", async () => {
    await store.put("conc/k", Buffer.from("v"));
    const results = await Promise.all(Array.from({ length: 100 }, () => store.get("conc/k")));
    expect(results.every((r) => r.found && r.body.toString() === "v")).toBe(true);
  });
});

describe("S3 Express addressing", () => {
  it("derives the zonal endpoint from the directory bucket name", () => {
    expect(expressAvailabilityZoneId("lane--aps1-az1--x-s3")).toBe("aps1-az1");
    expect(expressAvailabilityZoneId("lane")).toBeUndefined();
    expect(expressAvailabilityZoneId("lane--x-s3")).toBeUndefined();
    expect(expressZonalEndpoint("lane--aps1-az1--x-s3", "ap-south-1")).toBe("https://lane--aps1-az1--x-s3.s3express-aps1-az1.ap-south-1.amazonaws.com");
    expect(() => expressZonalEndpoint("lane", "ap-south-1")).toThrow();
  });

  it("picks express mode and the zonal endpoint for --x-s3 buckets", async () => {
    const fakeSessions = { credentialsFor: () => ({ current: () => undefined, resolve: async () => CREDS, close: () => undefined }) };
    const store = new S3Store({ bucket: "lane--use1-az4--x-s3", region: "us-east-1", expressSessions: fakeSessions as never });
    expect(store.addressing).toBe("express");
    expect(store.endpoint).toBe("https://lane--use1-az4--x-s3.s3express-use1-az4.us-east-1.amazonaws.com");
    await store.close();
  });
});
