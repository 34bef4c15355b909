/**
 * The store's bare HTTP/1.1 read client (runtime/store/http1-client.ts) against servers that write
 * exact bytes: every framing RFC 9112 §6.3 allows for an answer (split at every byte offset), the
 * answers it must refuse, connection reuse and the one retry of a stale idle connection, deadlines,
 * close, and TLS. The store is the hostile host's: a bad answer fails one request, never the client.
 */
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { webcrypto } from "node:crypto";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { Http1Client, parseResponseHead, type Http1Response } from "../../../runtime/store/http1-client";
import { StoreError } from "../../../runtime/store/types";

const OPTIONS = { connections: 4, keepAliveTimeoutMs: 5_000, connectTimeoutMs: 1_000 };
const GET = (path = "/k") => `GET ${path} HTTP/1.1\r\nhost: store\r\n`;

/** A server whose every request (head only; these tests send no bodies) is answered by `answer`. */
async function scriptedServer(
  answer: (request: string, socket: Socket, index: number) => void,
): Promise<{ server: Server; origin: string; requests: string[]; connections: () => number }> {
  const requests: string[] = [];
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    let buffered = "";
    socket.on("data", (chunk) => {
      buffered += chunk.toString("latin1");
      for (let end = buffered.indexOf("\r\n\r\n"); end >= 0; end = buffered.indexOf("\r\n\r\n")) {
        const request = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        requests.push(request);
        answer(request, socket, requests.length - 1);
      }
    });
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, connections: () => connections };
}

/** Write `bytes` in pieces cut at the given offsets (with a turn of the event loop between them). */
async function writeSplit(socket: Socket, bytes: Buffer, cuts: readonly number[]): Promise<void> {
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    socket.write(bytes.subarray(at, cut));
    at = cut;
    await new Promise((r) => setImmediate(r));
  }
}

const NOT_FOUND = "<Error><Code>NoSuchKey</Code></Error>";
const close = (s: Server) => new Promise((r) => s.close(r));

describe("parseResponseHead", () => {
  it("reads status, length, etag and connection; refuses what RFC 9112 calls malformed or smuggling", () => {
    expect(parseResponseHead('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: "abc"\r\nX-Empty:\r\nX-Spaced:  a b \t')).toMatchObject({
      statusCode: 200,
      contentLength: 5,
      etag: '"abc"',
      close: false,
    });
    expect(parseResponseHead("HTTP/1.1 200 OK\r\ncontent-length: 5, 5")).toMatchObject({ contentLength: 5 });
    expect(parseResponseHead("HTTP/1.0 200 OK\r\nContent-Length: 1")).toMatchObject({ close: true });
    expect(parseResponseHead("HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive")).toMatchObject({ close: false });
    expect(parseResponseHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked")).toMatchObject({ chunked: true });
    expect(parseResponseHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip")).toMatchObject({ untilClose: true });
    expect(parseResponseHead("HTTP/1.1 200 OK")).toMatchObject({ untilClose: true });
    for (const bad of [
      "HTTP/1.1 200 OK\r\nContent-Length: 5\nX: y", // bare LF
      "HTTP/1.1 200 OK\r\nX : y", // space before the colon
      "HTTP/1.1 200 OK\r\nX: y\r\n folded", // obs-fold
      "HTTP/1.1 200 OK\r\nX: a\x00b", // NUL
      "HTTP/1.1 200 OK\r\nX: a\rb", // bare CR
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked", // both framings
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6",
      "HTTP/1.1 200 OK\r\nContent-Length: +5",
      "HTTP/1.1 200 OK\r\nContent-Length: 0x5",
      "HTTP/2 200 OK",
      "HTTP/1.1 20 OK",
      "ICY 200 OK",
    ])
      expect(() => parseResponseHead(bad)).toThrow();
  });
});

describe("Http1Client", () => {
  const servers: Server[] = [];
  const clients: Http1Client[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const s of servers.splice(0)) await close(s);
  });
  const client = (origin: string, options = OPTIONS): Http1Client => {
    const c = new Http1Client(origin, options);
    clients.push(c);
    return c;
  };

  const framings: Array<[string, string, string]> = [
    ["content-length", 'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nETag: "e1"\r\n\r\nhello world', "hello world"],
    ["chunked with extensions and trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n", "hello world"],
    ["an interim 100 then the answer", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", "hello world"],
  ];
  it.each(framings)("reads a %s answer split at every byte offset, and reuses the connection", async (_name, answer, body) => {
    const bytes = Buffer.from(answer, "latin1");
    let cut = 0;
    const s = await scriptedServer((_req, socket) => void writeSplit(socket, bytes, [cut]));
    servers.push(s.server);
    const c = client(s.origin, { ...OPTIONS, connections: 1 });
    for (cut = 1; cut < bytes.length; cut++) {
      const r = await c.request("GET", GET(), 1024).response;
      expect([r.statusCode, r.body.toString()]).toEqual([200, body]);
    }
    expect(s.connections()).toBe(1);
  });

  it("reads a body framed by the connection's end, then opens a new connection", async () => {
    const s = await scriptedServer((_req, socket) => socket.end("HTTP/1.1 200 OK\r\n\r\nuntil the end"));
    servers.push(s.server);
    const c = client(s.origin);
    expect((await c.request("GET", GET(), 1024).response).body.toString()).toBe("until the end");
    expect((await c.request("GET", GET(), 1024).response).body.toString()).toBe("until the end");
    expect(s.connections()).toBe(2);
  });

  it("HEAD, 204 and 304 have no body whatever Content-Length says; 404 bodies are read", async () => {
    const s = await scriptedServer((req, socket) => {
      if (req.startsWith("HEAD")) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4096\r\nETag: "h"\r\n\r\n');
      else if (req.includes("/204")) socket.write("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n");
      else if (req.includes("/304")) socket.write("HTTP/1.1 304 Not Modified\r\n\r\n");
      else socket.write(`HTTP/1.1 404 Not Found\r\nContent-Length: ${NOT_FOUND.length}\r\n\r\n${NOT_FOUND}`);
    });
    servers.push(s.server);
    const c = client(s.origin, { ...OPTIONS, connections: 1 });
    expect(await c.request("HEAD", "HEAD /k HTTP/1.1\r\nhost: s\r\n", 0).response).toMatchObject({ statusCode: 200, etag: '"h"', body: Buffer.alloc(0) });
    expect(await c.request("GET", GET("/204"), 1024).response).toMatchObject({ statusCode: 204, body: Buffer.alloc(0) });
    expect(await c.request("GET", GET("/304"), 1024).response).toMatchObject({ statusCode: 304, body: Buffer.alloc(0) });
    const notFound = await c.request("GET", GET("/x"), 1024).response;
    expect([notFound.statusCode, notFound.body.toString()]).toEqual([404, NOT_FOUND]);
    expect(s.connections()).toBe(1);
  });

  it("a 2xx over the limit is refused unread; an error body is truncated to the limit; both drop the connection", async () => {
    const s = await scriptedServer((req, socket) => {
      if (req.includes("/big")) socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n${"x".repeat(1000)}`);
      else if (req.includes("/bigchunked")) socket.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n${"x".repeat(2000)}\r\n`);
      else socket.write(`HTTP/1.1 500 Internal Error\r\nContent-Length: 3000\r\n\r\n${"e".repeat(3000)}`);
    });
    servers.push(s.server);
    const c = client(s.origin, { ...OPTIONS, connections: 1 });
    expect(await c.request("GET", GET("/big"), 1024).response).toMatchObject({ statusCode: 200, oversize: true, body: Buffer.alloc(0) });
    expect(await c.request("GET", GET("/bigchunked"), 1024).response).toMatchObject({ statusCode: 200, oversize: true, body: Buffer.alloc(0) });
    const error = await c.request("GET", GET("/error"), 1024).response;
    expect([error.statusCode, error.oversize, error.body.length]).toEqual([500, true, 1024]);
    expect(s.connections()).toBe(3);
  });

  it.each([
    ["a malformed head", "HTTP/1.1 200 OK\r\nX : y\r\n\r\n"],
    ["Content-Length next to Transfer-Encoding", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"],
    ["a malformed chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"],
    ["a chunk without its CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n"],
    ["a head over 16 KiB", `HTTP/1.1 200 OK\r\nX: ${"a".repeat(17 * 1024)}\r\n\r\n`],
  ])("%s fails the request with bad_response; the client keeps working", async (_name, bad) => {
    const s = await scriptedServer((req, socket) => socket.write(req.includes("/bad") ? bad : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    servers.push(s.server);
    const c = client(s.origin, { ...OPTIONS, connections: 1 });
    await expect(c.request("GET", GET("/bad"), 1024).response).rejects.toMatchObject({ code: "bad_response" });
    expect((await c.request("GET", GET("/good"), 1024).response).body.toString()).toBe("ok");
  });

  it("bytes past an answer (the stream out of step) drop the connection; the answer itself stands", async () => {
    const s = await scriptedServer((_req, socket) => socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"));
    servers.push(s.server);
    const c = client(s.origin, { ...OPTIONS, connections: 1 });
    expect((await c.request("GET", GET(), 1024).response).body.toString()).toBe("ok");
    expect((await c.request("GET", GET(), 1024).response).body.toString()).toBe("ok");
    expect(s.connections()).toBe(2);
  });

  it("a reused connection the server closed without answering is retried once on a new one; a fresh one is not", async () => {
    const s = await scriptedServer((_req, socket, i) => {
      // Request 1 is answered and the connection kept; request 2 on it finds it closed (an idle timeout).
      if (i === 1) socket.destroy();
      else socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    servers.push(s.server);
    const c = client(s.origin, { ...OPTIONS, connections: 1 });
    expect((await c.request("GET", GET(), 1024).response).body.toString()).toBe("ok");
    expect((await c.request("GET", GET(), 1024).response).body.toString()).toBe("ok");
    expect(s.requests.length).toBe(3);
    expect(s.connections()).toBe(2);

    const dropping = await scriptedServer((_req, socket) => socket.destroy());
    servers.push(dropping.server);
    await expect(client(dropping.origin).request("GET", GET(), 1024).response).rejects.toMatchObject({ code: "unavailable" });
    expect(dropping.requests.length).toBe(1);
  });

  it("a cancelled request drops its connection (a late answer cannot reach the next request); queued requests wait for a slot", async () => {
    const s = await scriptedServer((req, socket) => {
      const n = /\/(\w+)/.exec(req)![1]!;
      setTimeout(() => socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${n.length}\r\n\r\n${n}`), n === "slow" ? 150 : 0);
    });
    servers.push(s.server);
    const c = client(s.origin, { ...OPTIONS, connections: 1 });
    const slow = c.request("GET", GET("/slow"), 1024);
    let slowSettled = false;
    slow.response.then(
      () => (slowSettled = true),
      () => (slowSettled = true),
    );
    while (s.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    const queued = c.request("GET", GET("/queued"), 1024);
    slow.cancel();
    expect((await queued.response).body.toString()).toBe("queued");
    await new Promise((r) => setTimeout(r, 200));
    expect(slowSettled).toBe(false); // the caller's deadline settles it (S3Store); the client only forgets it
    expect(s.connections()).toBe(2);
  });

  it("a request cancelled before its connection is up is never sent", async () => {
    const s = await scriptedServer((_req, socket) => socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    servers.push(s.server);
    const c = client(s.origin, { ...OPTIONS, connections: 1 });
    c.request("GET", GET("/never"), 1024).cancel();
    expect((await c.request("GET", GET("/sent"), 1024).response).body.toString()).toBe("ok");
    expect(s.requests.map((r) => r.split(" ")[1])).toEqual(["/sent"]);
  });

  it("close fails what is in flight and what waits, and refuses new requests", async () => {
    const s = await scriptedServer(() => undefined); // never answers
    servers.push(s.server);
    const c = new Http1Client(s.origin, { ...OPTIONS, connections: 1 });
    const inFlight = c.request("GET", GET(), 1024).response;
    const waiting = c.request("GET", GET(), 1024).response;
    await new Promise((r) => setTimeout(r, 50));
    c.close();
    await expect(inFlight).rejects.toBeInstanceOf(StoreError);
    await expect(waiting).rejects.toMatchObject({ code: "unavailable" });
    await expect(c.request("GET", GET(), 1024).response).rejects.toMatchObject({ code: "unavailable" });
  });

  it("a request head with a CR, LF or NUL inside a line is never sent (header injection)", async () => {
    const s = await scriptedServer((_req, socket) => socket.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    servers.push(s.server);
    const c = client(s.origin);
    await expect(c.request("GET", "GET /k HTTP/1.1\r\nx-token: a\nb\r\n", 0).response).rejects.toThrow(/control character/);
    await expect(c.request("GET", "GET /k HTTP/1.1\r\nx-token: a\rb\r\n", 0).response).rejects.toThrow(/control character/);
    expect(s.requests.length).toBe(0);
  });

  it("nothing listening → the request fails (connect refused)", async () => {
    const s = await scriptedServer(() => undefined);
    const origin = s.origin;
    await close(s.server);
    await expect(client(origin).request("GET", GET(), 0).response).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });

  it("speaks HTTP/1.1 over TLS to a server whose certificate the process trusts, and refuses one it does not", async () => {
    const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
    const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "01",
      name: "CN=localhost",
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
      keys: keys as never,
      signingAlgorithm: alg,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "localhost" }])],
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)).toString("base64");
    const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join("\n")}\n-----END PRIVATE KEY-----\n`;
    const server = createTlsServer({ cert: cert.toString("pem"), key, ALPNProtocols: ["http/1.1"] }, (socket) => {
      socket.on("data", () => socket.write("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntls"));
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    servers.push(server as unknown as Server);
    const origin = `https://localhost:${(server.address() as AddressInfo).port}`;
    // Not trusted: the handshake fails, so does the request.
    await expect(client(origin).request("GET", GET(), 1024).response).rejects.toMatchObject({ code: "DEPTH_ZERO_SELF_SIGNED_CERT" });
    // Trusted (the way an operator adds a CA: NODE_EXTRA_CA_CERTS is read at start, so the test passes `ca`).
    const trusting = new Http1Client(origin, { ...OPTIONS, tls: { ca: cert.toString("pem") } });
    clients.push(trusting);
    const r: Http1Response = await trusting.request("GET", GET(), 1024).response;
    expect(r.body.toString()).toBe("tls");
  });
});
