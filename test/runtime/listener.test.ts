import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import { drain, installClientErrorHandler } from "../../runtime/listener";
import { createLaneHttpServer } from "../../runtime/http1";
import type { LaneRequest, LaneResponse, LaneServer } from "../../runtime/http-types";

/** Send raw bytes, collect everything the server writes until it closes the connection. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(bytes));
    let out = "";
    socket.on("data", (d) => (out += d.toString("latin1")));
    socket.on("end", () => resolve(out));
    socket.on("error", reject);
  });
}

function listen(server: Server | LaneServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));

describe("client errors are answered in the JSON error shape", () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer({ maxHeaderSize: 1024 }, (_req, res) => res.end("ok"));
    installClientErrorHandler(server);
    port = await listen(server);
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("a malformed request line is 400 bad_request, with a request id, and the connection closes", async () => {
    const answer = await raw(port, "NOT A REQUEST\r\n\r\n");
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(answer).toMatch(/\r\ncontent-type: application\/json\r\n/);
    expect(answer).toMatch(/\r\nx-request-id: [0-9a-f-]{36}\r\n/);
    expect(answer).toMatch(/\r\nconnection: close\r\n/);
    expect(bodyOf(answer)).toEqual({ error: { code: "bad_request", message: expect.any(String) } });
  });

  it("oversized headers are 431 headers_too_large, with a content-length that matches the body", async () => {
    const answer = await raw(port, `GET / HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(4096)}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    const body = answer.slice(answer.indexOf("\r\n\r\n") + 4);
    expect(answer).toContain(`content-length: ${Buffer.byteLength(body)}\r\n`);
    expect(bodyOf(answer).error.code).toBe("headers_too_large");
  });

  it("the server keeps serving after a client error", async () => {
    await raw(port, "\x00\x01\x02\r\n\r\n");
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(await res.text()).toBe("ok");
  });
});

/** The drain works the same on both HTTP servers (`--http-server lane|node`). */
const servers: Record<string, (handler: (req: LaneRequest, res: LaneResponse) => void) => LaneServer> = {
  node: (handler) => createServer(handler),
  lane: (handler) => createLaneHttpServer({}, handler),
};

describe.each(["lane", "node"])("drain (%s server)", (kind) => {
  const createServer = servers[kind]!;
  it("resolves true at once when nothing is in flight, and refuses new connections", async () => {
    const server = createServer((_req, res) => res.end("ok"));
    const port = await listen(server);
    await expect(drain(server, () => 0, 5_000)).resolves.toBe(true);
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });

  it("lets a request in flight finish before resolving true", async () => {
    let release!: () => void;
    let inFlight = 0;
    const server = createServer((_req, res) => {
      inFlight++;
      release = () => {
        res.end("done");
        inFlight--;
      };
    });
    const port = await listen(server);
    const answer = fetch(`http://127.0.0.1:${port}/`).then((r) => r.text());
    while (inFlight === 0) await new Promise((r) => setTimeout(r, 5));
    let drained: boolean | undefined;
    const draining = drain(server, () => inFlight, 10_000).then((d) => (drained = d));
    await new Promise((r) => setTimeout(r, 60));
    expect(drained).toBeUndefined(); // still waiting for the request
    release();
    await expect(answer).resolves.toBe("done");
    await draining;
    expect(drained).toBe(true);
  });

  it("gives up after the timeout (false) and closes the connections still open", async () => {
    const server = createServer(() => undefined /* never answers */);
    const port = await listen(server);
    const answer = fetch(`http://127.0.0.1:${port}/`);
    await new Promise((r) => setTimeout(r, 50));
    await expect(drain(server, () => 1, 100)).resolves.toBe(false);
    await expect(answer).rejects.toThrow(); // the connection was closed under it
  });
});
