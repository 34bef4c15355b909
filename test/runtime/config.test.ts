import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { DEFAULT_STORE_CONNECTIONS, parseRuntimeConfig } from "../../runtime/config";
import { S3Store } from "../../runtime/store/s3-store";
import { StaticCredentials } from "../../runtime/store/credentials";
import { MAX_BATCH_ENTITIES } from "../../wire/names";

/**
 * Most GETs a store client has in flight at once, against a server that holds every answer until
 * `gets` have arrived, or until no new GET has come for 500 ms (the client is at its limit).
 */
async function peakInFlight(connections: number, gets: number): Promise<number> {
  let inFlight = 0;
  let peak = 0;
  const held: Array<() => void> = [];
  const release = () => held.splice(0).forEach((answer) => answer());
  let idle: NodeJS.Timeout | undefined;
  const server = createServer((req, res) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    held.push(() => {
      inFlight--;
      res.writeHead(200, { "content-length": 2, etag: '"e"' }).end("ok");
    });
    clearTimeout(idle);
    if (inFlight >= gets) release();
    else idle = setTimeout(release, 500);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const store = new S3Store({
    bucket: "lane",
    region: "us-east-1",
    endpoint,
    addressing: "path",
    connections,
    timeoutMs: 5000,
    credentials: new StaticCredentials({ accessKeyId: "A", secretAccessKey: "S" }),
  });
  try {
    await Promise.all(Array.from({ length: gets }, (_, i) => store.get(`v/e${i}`)));
    return peak;
  } finally {
    clearTimeout(idle);
    await store.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

describe("runtime/config", () => {
  it("serves on the lane's HTTP server by default; --http-server node (or the environment) falls back; anything else is refused", () => {
    expect(parseRuntimeConfig([], {}).httpServer).toBe("lane");
    expect(parseRuntimeConfig(["--http-server", "node"], {}).httpServer).toBe("node");
    expect(parseRuntimeConfig([], { EXPRESS_LANE_HTTP_SERVER: "node" }).httpServer).toBe("node");
    expect(() => parseRuntimeConfig(["--http-server", "uws"], {})).toThrow();
  });

  it("defaults the store connections above the largest batch, so its GETs go out in one wave", async () => {
    expect(parseRuntimeConfig([], {}).storeConnections).toBe(DEFAULT_STORE_CONNECTIONS);
    expect(DEFAULT_STORE_CONNECTIONS).toBeGreaterThanOrEqual(MAX_BATCH_ENTITIES);
    expect(await peakInFlight(DEFAULT_STORE_CONNECTIONS, MAX_BATCH_ENTITIES)).toBe(MAX_BATCH_ENTITIES);
    // The old default: a 100-entity batch waited for a second wave.
    expect(await peakInFlight(64, MAX_BATCH_ENTITIES)).toBe(64);
    expect(parseRuntimeConfig([], { EXPRESS_LANE_STORE_CONNECTIONS: "32" }).storeConnections).toBe(32);
  });

  it("store GETs go over the lane's HTTP/1.1 client unless the operator falls back to undici", () => {
    expect(parseRuntimeConfig([], {}).storeReadClient).toBe("lane");
    expect(parseRuntimeConfig(["--store-read-client", "undici"], {}).storeReadClient).toBe("undici");
    expect(parseRuntimeConfig([], { EXPRESS_LANE_STORE_READ_CLIENT: "undici" }).storeReadClient).toBe("undici");
    expect(() => parseRuntimeConfig(["--store-read-client", "fetch"], {})).toThrow();
  });
});
