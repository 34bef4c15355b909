/**
 * runtime/http1.ts: the head parser on its own (resumable, limits) and the server's connection
 * rules — keep-alive for 1.1 and 1.0, Connection: close, pipelining in order, Expect: 100-continue,
 * the three timeouts, HEAD, unread bodies, the response's header rules. The differential tests
 * against node's parser are in test/adversary/http-parser.test.ts.
 */
import { connect, type AddressInfo, type Socket } from "node:net";
import { HeadParser, MAX_HEADER_FIELDS, createLaneHttpServer, type LaneHandler, type LaneHttpOptions, type LaneHttpServer } from "../../runtime/http1";

const B = (s: string): Buffer => Buffer.from(s, "latin1");

describe("HeadParser", () => {
  const text = B("POST /v1/x?a=1 HTTP/1.1\r\nHost: lane\r\nContent-Length: 5\r\nX-A:  spaced \t\r\nAccept: a\r\nAccept: b\r\n\r\nhello");

  it("parses a head, trims OWS, joins repeated list fields and says where the head ends", () => {
    const r = new HeadParser().feed(text);
    expect(r.kind).toBe("head");
    if (r.kind !== "head") return;
    expect(r.head).toMatchObject({ method: "POST", url: "/v1/x?a=1", minor: 1, contentLength: 5, keepAlive: true, expectContinue: false });
    expect({ ...r.head.headers }).toEqual({ host: "lane", "content-length": "5", "x-a": "spaced", accept: "a, b" });
    expect(r.head.rawHeaders).toEqual(["Host", "lane", "Content-Length", "5", "X-A", "spaced", "Accept", "a", "Accept", "b"]);
    expect(text.subarray(r.end).toString()).toBe("hello");
  });

  it("gives the same head when the bytes come in two pieces, cut anywhere", () => {
    const whole = new HeadParser().feed(text);
    for (let cut = 1; cut < text.length - 5; cut++) {
      const p = new HeadParser();
      expect(p.feed(text.subarray(0, cut)).kind).toBe("incomplete");
      expect(p.feed(text)).toEqual(whole);
    }
  });

  it("refuses a bare LF at once, before the head is complete", () => {
    expect(new HeadParser().feed(B("GET / HTTP/1.1\nHo"))).toMatchObject({ kind: "error", code: "bad_request" });
  });

  it(`takes ${MAX_HEADER_FIELDS} fields, refuses one more with headers_too_large`, () => {
    const head = (n: number) => B(`GET / HTTP/1.1\r\n${Array.from({ length: n }, (_, i) => `X-${i}: v\r\n`).join("")}Host: x\r\n\r\n`);
    expect(new HeadParser().feed(head(MAX_HEADER_FIELDS - 1)).kind).toBe("head");
    expect(new HeadParser().feed(head(MAX_HEADER_FIELDS))).toMatchObject({ kind: "error", code: "headers_too_large" });
  });

  it("refuses a head over 16 KiB, complete or not", () => {
    expect(new HeadParser().feed(B(`GET / HTTP/1.1\r\nHost: x\r\nX: ${"a".repeat(16_400)}\r\n\r\n`))).toMatchObject({ code: "headers_too_large" });
    expect(new HeadParser().feed(B(`GET / HTTP/1.1\r\nHost: x\r\nX: ${"a".repeat(16_400)}`))).toMatchObject({ code: "headers_too_large" });
    expect(new HeadParser().feed(B(`GET / HTTP/1.1\r\nHost: x\r\nX: ${"a".repeat(16_000)}\r\n\r\n`)).kind).toBe("head");
  });

  it("keep-alive: 1.1 unless Connection: close, 1.0 only with Connection: keep-alive; Expect only on 1.1", () => {
    const ka = (t: string) => {
      const r = new HeadParser().feed(B(t));
      return r.kind === "head" ? r.head.keepAlive : r.kind;
    };
    expect(ka("GET / HTTP/1.1\r\nHost: x\r\n\r\n")).toBe(true);
    expect(ka("GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, Close\r\n\r\n")).toBe(false);
    expect(ka("GET / HTTP/1.0\r\n\r\n")).toBe(false);
    expect(ka("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")).toBe(true);
    const expect10 = new HeadParser().feed(B("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n"));
    expect(expect10.kind === "head" && expect10.head.expectContinue).toBe(false);
  });

  it("refuses any Transfer-Encoding with length_required", () => {
    expect(new HeadParser().feed(B("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n"))).toMatchObject({ kind: "error", code: "length_required" });
  });
});

/** A connection that collects what the server writes. */
class Client {
  readonly socket: Socket;
  text = "";
  closed = false;
  private waiters: Array<() => void> = [];

  constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.on("data", (d) => {
      this.text += d.toString("latin1");
      this.wake();
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    this.socket.on("error", () => undefined);
  }

  send(s: string): void {
    this.socket.write(B(s));
  }

  /** Wait until `ok()` holds (or fail after 3 s). */
  async until(ok: () => boolean): Promise<void> {
    const deadline = Date.now() + 3_000;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out; got ${JSON.stringify(this.text)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  answers(): number {
    return (this.text.match(/HTTP\/1\.1 \d{3} /g) ?? []).filter((l) => !l.startsWith("HTTP/1.1 100")).length;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

async function serve(handler: LaneHandler, options: LaneHttpOptions = {}): Promise<{ server: LaneHttpServer; port: number }> {
  const server = createLaneHttpServer(options, handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port };
}

function stop(server: LaneHttpServer): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

/** Reads the body, answers with method, url and body. */
const echo: LaneHandler = (req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    res.writeHead(200, ["content-type", "text/plain"]);
    res.end(`${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`);
  });
};

describe("the lane's HTTP/1.1 server", () => {
  let server: LaneHttpServer;
  let port: number;
  beforeAll(async () => ({ server, port } = await serve(echo)));
  afterAll(() => stop(server));

  it("keeps a 1.1 connection open across requests, with Content-Length, Date and keep-alive timeout", async () => {
    const c = new Client(port);
    c.send("GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
    await c.until(() => c.answers() === 1 && c.text.endsWith("GET /one "));
    c.send("POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    await c.until(() => c.answers() === 2 && c.text.endsWith("abc"));
    expect(c.text).toMatch(/^HTTP\/1\.1 200 OK\r\ncontent-type: text\/plain\r\ndate: [^\r]+ GMT\r\ncontent-length: 9\r\nkeep-alive: timeout=65\r\n\r\nGET \/one /);
    expect(c.closed).toBe(false);
    c.socket.destroy();
  });

  it("honours Connection: close (answers with it, then closes)", async () => {
    const c = new Client(port);
    c.send("GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    await c.until(() => c.closed);
    expect(c.text).toContain("\r\nconnection: close\r\n");
    expect(c.answers()).toBe(1);
  });

  it("closes a 1.0 connection after the answer unless it asked for keep-alive", async () => {
    const plain = new Client(port);
    plain.send("GET /a HTTP/1.0\r\n\r\n");
    await plain.until(() => plain.closed);
    expect(plain.answers()).toBe(1);
    const ka = new Client(port);
    ka.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    await ka.until(() => ka.answers() === 1);
    expect(ka.text).toContain("\r\nconnection: keep-alive\r\n");
    ka.send("GET /b HTTP/1.0\r\n\r\n");
    await ka.until(() => ka.closed);
    expect(ka.answers()).toBe(2);
  });

  it("answers pipelined requests in order, even when the first is the slowest", async () => {
    const { server: slow, port: slowPort } = await serve((req, res) => {
      const delay = req.url === "/1" ? 60 : req.url === "/2" ? 30 : 0;
      setTimeout(() => res.end(`answer ${req.url}`), delay);
    });
    const c = new Client(slowPort);
    c.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n");
    await c.until(() => c.answers() === 3 && c.text.endsWith("answer /3"));
    expect([...c.text.matchAll(/answer (\/\d)/g)].map((m) => m[1])).toEqual(["/1", "/2", "/3"]);
    c.socket.destroy();
    await stop(slow);
  });

  it("sends 100 Continue before the body is read (Expect: 100-continue)", async () => {
    const c = new Client(port);
    c.send("POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    await c.until(() => c.text.startsWith("HTTP/1.1 100 Continue\r\n\r\n"));
    expect(c.answers()).toBe(0);
    c.send("body");
    await c.until(() => c.text.endsWith("POST /e body"));
    c.socket.destroy();
  });

  it("answers HEAD with the length but no body", async () => {
    const c = new Client(port);
    c.send("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\n");
    await c.until(() => c.answers() === 2 && c.text.endsWith("GET /g "));
    expect(c.text).toMatch(/content-length: 8\r\nkeep-alive: timeout=65\r\n\r\nHTTP\/1\.1 200 OK/); // "HEAD /h " not sent
    c.socket.destroy();
  });

  it("a refused request gets the JSON error, the connection closes and the server keeps serving", async () => {
    const c = new Client(port);
    c.send("GET /a HTTP/1.1\r\nHost: x\r\nX : y\r\n\r\n");
    await c.until(() => c.closed);
    expect(c.text).toMatch(
      /^HTTP\/1\.1 400 Bad Request\r\ncontent-type: application\/json\r\n[^]*x-request-id: [0-9a-f-]{36}\r\nconnection: close\r\n\r\n\{"error":\{"code":"bad_request"/,
    );
    const d = new Client(port);
    d.send("GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    await d.until(() => d.closed);
    expect(d.text).toContain("GET /ok ");
  });
});

describe("bodies, errors and the response's header rules", () => {
  it("a body the handler leaves unread: the answer says connection: close and the connection ends", async () => {
    const { server, port } = await serve((_req, res) => res.end("early"));
    const c = new Client(port);
    c.send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + "x".repeat(1000));
    await c.until(() => c.closed);
    expect(c.text).toMatch(/connection: close\r\n\r\nearly$/);
    await stop(server);
  });

  it("a handler that throws is a 500 in the JSON shape, and the server keeps serving", async () => {
    const { server, port } = await serve((req, res) => {
      if (req.url === "/throw") throw new Error("bug");
      res.end("fine");
    });
    const c = new Client(port);
    c.send("GET /throw HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    await c.until(() => c.answers() === 2 && c.text.endsWith("fine"));
    expect(c.text).toMatch(/^HTTP\/1\.1 500 Internal Server Error\r\n[^]*\{"error":\{"code":"internal"/);
    c.socket.destroy();
    await stop(server);
  });

  it("writeHead checks fields as node does (a CR in a value throws, nothing counts as sent); setHeader merges with writeHead; finish fires", async () => {
    let threw = "";
    let sentAfterThrow = true;
    let finished = false;
    const { server, port } = await serve((_req, res) => {
      try {
        res.writeHead(200, ["x-bad", "a\r\nset-cookie: evil"]);
      } catch (err) {
        threw = (err as Error).message;
        sentAfterThrow = res.headersSent;
      }
      res.setHeader("x-request-id", "r1");
      res.setHeader("x-replaced", "old");
      res.writeHead(201, { "X-Replaced": "new", "content-type": "text/plain" });
      expect(() => res.setHeader("x-late", "1")).toThrow(/after they are sent/);
      res.once("finish", () => (finished = true));
      res.end("made");
    });
    const c = new Client(port);
    c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    await c.until(() => c.text.endsWith("made"));
    expect(threw).toMatch(/invalid character/);
    expect(sentAfterThrow).toBe(false);
    expect(c.text).toMatch(/^HTTP\/1\.1 201 Created\r\nx-request-id: r1\r\nX-Replaced: new\r\ncontent-type: text\/plain\r\n/);
    expect(c.text).not.toContain("evil");
    await new Promise((r) => setTimeout(r, 20));
    expect(finished).toBe(true);
    c.socket.destroy();
    await stop(server);
  });

  it("a client that goes away mid-body: the reader sees an error, not a hang", async () => {
    let seen = "";
    const { server, port } = await serve((req) => {
      req.on("data", () => undefined);
      req.on("error", (err) => (seen = err.message));
    });
    const c = new Client(port);
    c.send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    await new Promise((r) => setTimeout(r, 30));
    c.socket.destroy();
    const deadline = Date.now() + 2_000;
    while (seen === "" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(seen).toBe("aborted");
    await stop(server);
  });
});

describe("timeouts", () => {
  it("an idle keep-alive connection closes after keepAliveTimeoutMs", async () => {
    const { server, port } = await serve(echo, { keepAliveTimeoutMs: 200 });
    const c = new Client(port);
    c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    await c.until(() => c.answers() === 1);
    const answered = Date.now();
    await c.until(() => c.closed);
    expect(Date.now() - answered).toBeGreaterThanOrEqual(150);
    expect(c.text).not.toContain("408");
    await stop(server);
  });

  it("a body that does not arrive within requestTimeoutMs is 408 request_timeout", async () => {
    const { server, port } = await serve(echo, { requestTimeoutMs: 300 });
    const c = new Client(port);
    c.send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    await c.until(() => c.closed);
    expect(c.text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n[^]*"code":"request_timeout"/);
    await stop(server);
  });

  it("a fresh connection that sends nothing is closed after headersTimeoutMs, not held for the keep-alive time", async () => {
    const { server, port } = await serve(echo, { headersTimeoutMs: 200, keepAliveTimeoutMs: 60_000 });
    const c = new Client(port);
    await c.until(() => c.closed);
    expect(c.text).toBe("");
    await stop(server);
  });

  it("a head that does not arrive within headersTimeoutMs is 408", async () => {
    const { server, port } = await serve(echo, { headersTimeoutMs: 300 });
    const c = new Client(port);
    c.send("GET /a HTTP/1.1\r\nHo");
    await c.until(() => c.closed);
    expect(c.text).toMatch(/^HTTP\/1\.1 408 /);
    await stop(server);
  });
});
