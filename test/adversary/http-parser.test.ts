/**
 * The lane's HTTP/1.1 parser (runtime/http1.ts) against node's llhttp, differentially: the hostile
 * party is a client on the socket (request smuggling, desync, slow and split requests). For every
 * input, hand-written and generated, both servers get the same bytes; each records the requests it
 * accepted (method, target, headers, body). The lane's list must be a prefix of node's, request by
 * request equal: where node accepts, ours accepts the same thing or refuses; ours never accepts
 * what node refused, and never reads a request boundary elsewhere. Next to it, the legitimate path:
 * ordinary requests are accepted identically by both.
 */
import { createServer as createNodeServer, type IncomingMessage, type Server as NodeServer } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { createLaneHttpServer, type LaneHttpServer, type LaneIncomingMessage } from "../../runtime/http1";
import { seededRandom } from "../../dev/random";

interface Seen {
  method: string;
  url: string;
  headers: Array<[string, string | string[]]>;
  body: string;
}

/** Accepted requests per client port, as each server saw them. */
type Log = Map<number, Seen[]>;

function record(log: Log, req: IncomingMessage | LaneIncomingMessage, port: number, answer: () => void): void {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const headers = Object.entries(req.headers)
      .filter((e): e is [string, string | string[]] => e[1] !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    const seen = { method: req.method ?? "", url: req.url ?? "", headers, body: Buffer.concat(chunks).toString("latin1") };
    (log.get(port) ?? log.set(port, []).get(port)!).push(seen);
    answer();
  });
}

let node: NodeServer;
let lane: LaneHttpServer;
const nodeLog: Log = new Map();
const laneLog: Log = new Map();
let nodePort = 0;
let lanePort = 0;

beforeAll(async () => {
  node = createNodeServer((req, res) => record(nodeLog, req, req.socket.remotePort!, () => res.end("ok")));
  lane = createLaneHttpServer({ headersTimeoutMs: 2_000, requestTimeoutMs: 3_000 }, (req, res) => record(laneLog, req, req.socket.remotePort!, () => res.end("ok")));
  await new Promise<void>((r) => node.listen(0, "127.0.0.1", r));
  await new Promise<void>((r) => lane.listen(0, "127.0.0.1", r));
  nodePort = (node.address() as AddressInfo).port;
  lanePort = (lane.address() as AddressInfo).port;
});

afterAll(async () => {
  node.closeAllConnections();
  lane.closeAllConnections();
  await new Promise<void>((r) => node.close(() => r()));
  await new Promise<void>((r) => lane.close(() => r()));
});

/** Write `parts` (pausing between them), half-close, and collect what the server accepted and answered. */
function exchange(port: number, log: Log, parts: readonly Buffer[], pauseMs = 0): Promise<{ seen: Seen[]; reply: string }> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.setNoDelay(true);
    let reply = "";
    let local = 0;
    const done = (): void => {
      clearTimeout(guard);
      // The last request's handler may finish a tick after the close.
      setImmediate(() => resolve({ seen: log.get(local) ?? [], reply }));
    };
    const guard = setTimeout(() => socket.destroy(), 4_000);
    socket.on("data", (d) => (reply += d.toString("latin1")));
    socket.on("error", done);
    socket.on("close", done);
    socket.on("connect", async () => {
      local = socket.localPort!;
      log.delete(local); // a port used again: the earlier connection's requests are not this one's
      for (const [i, part] of parts.entries()) {
        if (socket.destroyed) return;
        socket.write(part);
        if (i < parts.length - 1) await new Promise((r) => setTimeout(r, pauseMs));
      }
      socket.end();
    });
  });
}

/** Both servers, the same bytes: the lane's accepted requests must be a prefix of node's, equal one by one. */
async function differential(input: Buffer | readonly Buffer[], pauseMs = 0): Promise<{ node: Seen[]; lane: Seen[]; laneReply: string }> {
  const parts = Buffer.isBuffer(input) ? [input] : input;
  const [n, l] = await Promise.all([exchange(nodePort, nodeLog, parts, pauseMs), exchange(lanePort, laneLog, parts, pauseMs)]);
  const shown = JSON.stringify(Buffer.concat(parts).toString("latin1").slice(0, 300));
  if (l.seen.length > n.seen.length)
    throw new Error(`lane accepted ${l.seen.length} requests, node ${n.seen.length}: ${shown}\nlane: ${JSON.stringify(l.seen)}\nnode: ${JSON.stringify(n.seen)}`);
  for (let i = 0; i < l.seen.length; i++) {
    if (JSON.stringify(l.seen[i]) !== JSON.stringify(n.seen[i]))
      throw new Error(`request ${i} differs for ${shown}\nlane: ${JSON.stringify(l.seen[i])}\nnode: ${JSON.stringify(n.seen[i])}`);
  }
  return { node: n.seen, lane: l.seen, laneReply: l.reply };
}

const B = (s: string): Buffer => Buffer.from(s, "latin1");
const GET = 'GET /v1/features/user_profile/u1?features=a,b HTTP/1.1\r\nHost: lane\r\nAccept-Signature: sig1=();nonce="n"\r\n\r\n';
const POST = 'POST /v1/features/user_profile/batch HTTP/1.1\r\nHost: lane\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{"entities":[1]}';

describe("the legitimate path: both servers accept ordinary requests identically", () => {
  it.each([
    ["a GET with a query", GET],
    ["a POST with a JSON body", POST],
    ["HTTP/1.0 without Host", "GET /a HTTP/1.0\r\n\r\n"],
    ["OWS around values, an empty value, obs-text", "GET /a HTTP/1.1\r\nHost: x\r\nX-A: \t v \t\r\nX-Empty:\r\nX-Latin: caf\xe9\r\n\r\n"],
    ["repeated list fields joined", "GET /a HTTP/1.1\r\nHost: x\r\nAccept: a\r\nAccept: b\r\nCookie: c=1\r\nCookie: d=2\r\n\r\n"],
    ["Content-Length with leading zeros", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 003\r\n\r\nabc"],
    ["a GET with a body", "GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"],
    ["three pipelined requests", `${GET}${POST}${GET}`],
    ["Connection: close", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"],
  ])("%s", async (_name, text) => {
    const { node, lane } = await differential(B(text));
    expect(lane.length).toBeGreaterThan(0);
    expect(lane).toEqual(node);
  });
});

describe("hostile inputs: ours refuses what node refuses, and is never the more lenient", () => {
  const H = "Host: x\r\n";
  it.each([
    ["CL + TE (smuggling)", `POST /a HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
    ["TE + CL", `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\nGET /b HTTP/1.1\r\n${H}\r\n`],
    ["two Content-Lengths that disagree", `POST /a HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 5\r\n\r\nxhello`],
    ["two Content-Lengths that agree", `POST /a HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 1\r\n\r\nx`],
    ["Content-Length: +5", `POST /a HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`],
    ["Content-Length: -1", `POST /a HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`],
    ["Content-Length: 1, 1", `POST /a HTTP/1.1\r\n${H}Content-Length: 1, 1\r\n\r\nx`],
    ["Content-Length: 0x5", `POST /a HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello`],
    ["Content-Length: 5 5", `POST /a HTTP/1.1\r\n${H}Content-Length: 5 5\r\n\r\nhello`],
    ["Content-Length over 2^53", `POST /a HTTP/1.1\r\n${H}Content-Length: 99999999999999999999\r\n\r\nx`],
    ["Transfer-Encoding: chunked , x", `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked , x\r\n\r\n0\r\n\r\n`],
    ["Transfer-Encoding: xchunked", `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n`],
    ["Transfer-Encoding with a space before the colon", `POST /a HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\nabc`],
    ["chunked, plainly", `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`],
    ["bare LF line ends", "GET /a HTTP/1.1\nHost: x\n\n"],
    ["a bare LF inside a field", `GET /a HTTP/1.1\r\n${H}X: a\nY: b\r\n\r\n`],
    ["a bare CR", `GET /a HTTP/1.1\r\n${H}X: a\rY: b\r\n\r\n`],
    ["a bare CR at the end of the head", `GET /a HTTP/1.1\r\n${H}\r\r\n`],
    ["obs-fold", `GET /a HTTP/1.1\r\n${H}X: a\r\n b\r\n\r\n`],
    ["obs-fold with a tab", `GET /a HTTP/1.1\r\n${H}X: a\r\n\tb\r\n\r\n`],
    ["whitespace before the colon", `GET /a HTTP/1.1\r\n${H}X : a\r\n\r\n`],
    ["a tab before the colon", `GET /a HTTP/1.1\r\n${H}X\t: a\r\n\r\n`],
    ["NUL in a value", `GET /a HTTP/1.1\r\n${H}X: a\x00b\r\n\r\n`],
    ["DEL in a value", `GET /a HTTP/1.1\r\n${H}X: a\x7fb\r\n\r\n`],
    ["a CTL in a value", `GET /a HTTP/1.1\r\n${H}X: a\x01b\r\n\r\n`],
    ["an empty field name", `GET /a HTTP/1.1\r\n${H}: a\r\n\r\n`],
    ["a non-token field name", `GET /a HTTP/1.1\r\n${H}X(y): a\r\n\r\n`],
    ["__proto__ as a field", `GET /a HTTP/1.1\r\n${H}__proto__: a\r\n\r\n`],
    ["two Hosts", "GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"],
    ["two Authorizations", `GET /a HTTP/1.1\r\n${H}Authorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n`],
    ["HTTP/1.1 without Host", "GET /a HTTP/1.1\r\n\r\n"],
    ["HTTP/2.0 on the request line", `GET /a HTTP/2.0\r\n${H}\r\n`],
    ["HTTP/1.2", `GET /a HTTP/1.2\r\n${H}\r\n`],
    ["lower-case version", `GET /a http/1.1\r\n${H}\r\n`],
    ["two spaces after the method", `GET  /a HTTP/1.1\r\n${H}\r\n`],
    ["a space after the version", `GET /a HTTP/1.1 \r\n${H}\r\n`],
    ["an unknown method", `FOO /a HTTP/1.1\r\n${H}\r\n`],
    ["a lower-case method", `get /a HTTP/1.1\r\n${H}\r\n`],
    ["absolute-form", `GET http://x/a HTTP/1.1\r\n${H}\r\n`],
    ["asterisk-form", `OPTIONS * HTTP/1.1\r\n${H}\r\n`],
    ["a space in the target", `GET /a b HTTP/1.1\r\n${H}\r\n`],
    ["obs-text in the target", `GET /caf\xe9 HTTP/1.1\r\n${H}\r\n`],
    ["a fragment", `GET /a#b HTTP/1.1\r\n${H}\r\n`],
    ["an empty line before the request", `\r\nGET /a HTTP/1.1\r\n${H}\r\n`],
    ["an empty line between pipelined requests", `GET /a HTTP/1.1\r\n${H}\r\n\r\nGET /b HTTP/1.1\r\n${H}\r\n`],
    ["Expect: something else", `POST /a HTTP/1.1\r\n${H}Expect: 200-ok\r\nContent-Length: 1\r\n\r\nx`],
    ["huge headers (20 KiB)", `GET /a HTTP/1.1\r\n${H}X: ${"a".repeat(20_000)}\r\n\r\n`],
    ["101 header fields", `GET /a HTTP/1.1\r\n${H}${Array.from({ length: 100 }, (_, i) => `X-${i}: v\r\n`).join("")}\r\n`],
    ["a smuggled request in a body that is longer than declared", `POST /a HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabcGET /admin HTTP/1.1\r\n${H}\r\n`],
    ["garbage after a good request", `${GET}\x00\x01\x02\r\n\r\n`],
  ])("%s", async (_name, text) => {
    await differential(B(text));
  });

  it("answers refusals in the JSON error shape and closes: 400, 411, 431", async () => {
    const bad = await differential(B("GET /a HTTP/1.1\nHost: x\n\n"));
    expect(bad.laneReply).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[^]*connection: close\r\n\r\n\{"error":\{"code":"bad_request","message":"[^"]+"\}\}$/);
    const te = await differential(B("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
    expect(te.lane).toEqual([]);
    expect(te.laneReply).toMatch(/^HTTP\/1\.1 411 Length Required\r\n[^]*"code":"length_required"/);
    const big = await differential(B(`GET /a HTTP/1.1\r\nHost: x\r\nX: ${"a".repeat(20_000)}\r\n\r\n`));
    expect(big.laneReply).toMatch(/^HTTP\/1\.1 431 [^]*"code":"headers_too_large"/);
  });

  it("pipelined requests split at every byte offset: the same requests, in order", async () => {
    const text = B(`${POST}${GET}`);
    for (let cut = 1; cut < text.length; cut++) {
      const { lane } = await differential([text.subarray(0, cut), text.subarray(cut)], 2);
      expect(lane.map((r) => r.method)).toEqual(["POST", "GET"]);
    }
  }, 60_000);

  it("a slow client sending a byte at a time is parsed the same", async () => {
    const text = B(POST);
    const parts = Array.from(text, (_, i) => text.subarray(i, i + 1));
    const { lane } = await differential(parts, 1);
    expect(lane).toHaveLength(1);
  }, 30_000);

  it("a slow client that never finishes its head gets 408, not a hold on the connection", async () => {
    const started = Date.now();
    const { reply } = await exchange(lanePort, laneLog, [B("GET /a HTTP/1.1\r\nHost: x\r\n"), B("X: 1\r\n")], 2_500);
    // The head was not finished within headersTimeoutMs (2 s here): 408 request_timeout, closed.
    expect(reply).toMatch(/^HTTP\/1\.1 408 [^]*"code":"request_timeout"/);
    expect(Date.now() - started).toBeLessThan(4_000);
  }, 10_000);

  it("generated requests from a grammar with mutations (seeded): never more lenient than node", async () => {
    const random = seededRandom(20261202);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const bytes = (n: number): string =>
      Array.from({ length: n }, () => String.fromCharCode(pick([0, 9, 10, 13, 32, 58, 127, 128, 255, ...Array.from({ length: 20 }, () => 33 + Math.floor(random() * 94))]))).join(
        "",
      );
    const methods = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "FOO", "get", "G ET", ""];
    const targets = ["/a", "/v1/features/v/e?features=a,b", "*", "http://x/a", "/a b", "/a\tb", "/%00", "/caf\xe9", "", `/${bytes(4)}`];
    const versions = ["HTTP/1.1", "HTTP/1.0", "HTTP/1.2", "HTTP/2.0", "http/1.1", "HTTP/1.1 ", " HTTP/1.1", "HTTP/11"];
    const eols = ["\r\n", "\r\n", "\r\n", "\r\n", "\n", "\r", "\r\r\n", "\n\r"];
    const names = ["Host", "Content-Length", "Transfer-Encoding", "Connection", "Expect", "X-A", "Cookie", "Set-Cookie", "Authorization", "X A", "X\t", "", "__proto__", bytes(3)];
    const values = ["x", "0", "5", "+5", "-1", " 5 ", "5, 5", "chunked", "chunked, identity", "close", "keep-alive", "100-continue", "", " \t", bytes(5), "caf\xe9"];
    let accepted = 0;
    for (let n = 0; n < 250; n++) {
      const eol = (): string => (random() < 0.9 ? "\r\n" : pick(eols));
      let text = `${random() < 0.95 ? pick(methods.slice(0, 7)) : pick(methods)} ${random() < 0.85 ? pick(targets.slice(0, 2)) : pick(targets)} ${random() < 0.85 ? pick(versions.slice(0, 2)) : pick(versions)}${eol()}`;
      if (random() < 0.9) text += `Host: x${eol()}`;
      const fields = Math.floor(random() * 5);
      for (let f = 0; f < fields; f++)
        text += `${random() < 0.8 ? pick(names.slice(0, 10)) : pick(names)}${random() < 0.9 ? ":" : pick([" :", "\t:", ""])}${random() < 0.7 ? " " : ""}${pick(values)}${eol()}`;
      text += eol();
      text += random() < 0.5 ? "hello" : random() < 0.5 ? `GET /b HTTP/1.1\r\nHost: x\r\n\r\n` : "";
      const { lane } = await differential(B(text));
      accepted += lane.length;
    }
    // The generator is not all garbage: a fair share of inputs parse on both sides.
    expect(accepted).toBeGreaterThan(50);
  }, 120_000);
});
