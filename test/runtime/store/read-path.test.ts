/**
 * The read path against a directory bucket asks for what the lane allows hosts: ReadOnly
 * sessions, and a readiness probe that works with session credentials (HeadObject, not HeadBucket).
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { CreateSessionCommand } from "@aws-sdk/client-s3";
import * as sessions from "../../../runtime/store/express-session";
import { ExpressSessionCache, createSessionWithSdk } from "../../../runtime/store/express-session";
import { EXPRESS_PING_KEY, S3Store } from "../../../runtime/store/s3-store";
import { createStore } from "../../../runtime/main";
import { parseRuntimeConfig } from "../../../runtime/config";

const BUCKET = "lane--aps1-az1--x-s3";
const SESSION = { accessKeyId: "ASIASESSION", secretAccessKey: "secret", sessionToken: "token", expiration: new Date(Date.now() + 300_000) };

describe("CreateSession SessionMode", () => {
  test("createSessionWithSdk sends the requested SessionMode", async () => {
    const inputs: unknown[] = [];
    const client = {
      send: async (cmd: CreateSessionCommand) => {
        inputs.push(cmd.input);
        return { Credentials: { AccessKeyId: "A", SecretAccessKey: "S", SessionToken: "T", Expiration: new Date(Date.now() + 300_000) } };
      },
    } as unknown as Parameters<typeof createSessionWithSdk>[0];
    await createSessionWithSdk(client, "ReadOnly")(BUCKET);
    await createSessionWithSdk(client)(BUCKET);
    expect(inputs).toEqual([{ Bucket: BUCKET, SessionMode: "ReadOnly" }, { Bucket: BUCKET }]);
  });

  test("the runtime's store for a directory bucket asks for ReadOnly sessions", async () => {
    const spy = jest.spyOn(sessions, "createSessionWithSdk");
    try {
      const store = createStore(parseRuntimeConfig(["--bucket", BUCKET, "--region", "ap-south-1"], {}));
      await store.close();
      expect(spy).toHaveBeenCalledTimes(1);
      expect(spy.mock.calls[0][1]).toBe("ReadOnly");
    } finally {
      spy.mockRestore();
    }
  });
});

describe("readiness probe on a directory bucket", () => {
  let server: Server;
  let port: number;
  const seen: Array<{ method: string; url: string; token: string | undefined }> = [];
  let status = 404;
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", token: req.headers["x-amz-s3session-token"] as string | undefined });
      res.writeHead(status);
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const store = () =>
    new S3Store({
      bucket: BUCKET,
      region: "ap-south-1",
      endpoint: `http://127.0.0.1:${port}`,
      expressSessions: new ExpressSessionCache({ createSession: async () => SESSION }),
    });

  test("HEADs a known key with the session token (HeadObject), never the bucket (HeadBucket)", async () => {
    seen.length = 0;
    status = 404;
    const s = store();
    await expect(s.ping()).resolves.toBeUndefined(); // 404 on the key: the bucket answers, the session works
    await s.close();
    expect(seen).toEqual([{ method: "HEAD", url: `/${EXPRESS_PING_KEY}`, token: "token" }]);
    expect(EXPRESS_PING_KEY).not.toBe("");
  });

  test("a refused session (403) makes the store not ready", async () => {
    status = 403;
    const s = store();
    await expect(s.ping()).rejects.toMatchObject({ code: "denied" });
    await s.close();
  });
});
