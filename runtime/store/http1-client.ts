/**
 * The store's hot path as a bare HTTP/1.1 client: keep-alive connections (plain or TLS) that send
 * one GET or HEAD at a time and read the answer into one Buffer. S3Store uses it for GetObject and
 * HeadObject; writes, deletes and listings stay on undici (off the read path).
 *
 * Why by hand: a 4 KB GET through S3Store on undici costs 66–115 µs of client CPU on the
 * benchmark VM, 2.6–4× a bare client on the same sockets (bench/store-client.ts, docs/performance.md
 * "Store client CPU"): undici's connection loop and its WebAssembly parser are most of it, and a
 * 100-entity batch pays it 100 times. This client does only what S3 answers need:
 *
 * - a status line `HTTP/1.x DDD reason`, header fields `name: value` ended by CRLF (a bare LF, an
 *   obs-fold or a control character is `bad_response`, never guessed around); at most 16 KiB of head;
 * - the body framed as RFC 9112 §6.3 says: none for HEAD, 1xx, 204 and 304; chunked when
 *   Transfer-Encoding ends in chunked; else Content-Length (one value, digits only; repeated equal
 *   values are one); else to the end of the connection; a Transfer-Encoding next to a
 *   Content-Length is refused (the pair RFC 9112 calls a smuggling attempt);
 * - interim 1xx answers skipped; `Connection: close` (or HTTP/1.0 without keep-alive) honoured;
 * - an answer over the caller's limit: a 2xx is refused before it is read, an error body is
 *   truncated (the connection is then dropped, not drained);
 * - a request on a reused connection that the server closed before any byte of the answer (an
 *   idle connection S3 timed out) is sent again once on a new connection — GET and HEAD are
 *   idempotent; anything else fails the request.
 *
 * The store is the hostile host's, so a malformed answer only fails that request (StoreError via
 * the caller's mapping) and drops the connection; it cannot make this client wait past the
 * request's deadline or hold more than the limit.
 */
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";
import { isIP } from "node:net";
import { StoreError } from "./types";

/** What a request comes back as (S3Store's view of an answer). */
export interface Http1Response {
  readonly statusCode: number;
  readonly etag: string | undefined;
  /** The whole body (2xx) or its first bytes (errors: enough for the XML <Code>). */
  readonly body: Buffer;
  /** The body went over the limit; collection stopped. */
  readonly oversize: boolean;
}

export interface Http1ClientOptions {
  /** At most this many connections open at once; requests beyond wait in order. */
  readonly connections: number;
  /** Idle connections are closed after this long. */
  readonly keepAliveTimeoutMs: number;
  /** TCP (or TCP + TLS handshake) connect deadline; the request's own deadline still applies. */
  readonly connectTimeoutMs: number;
  /** https: origins: extra trust (tests; production uses the system's CAs, certificates always verified). */
  readonly tls?: Pick<ConnectionOptions, "ca">;
}

/** The most head (status line + fields) an answer may have. */
export const MAX_HEAD_BYTES = 16 * 1024;
/** A chunk-size line (hex size and extensions) longer than this is refused. */
const MAX_CHUNK_LINE_BYTES = 256;
const EMPTY = Buffer.alloc(0);
const CRLFCRLF = Buffer.from("\r\n\r\n", "latin1");
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [\t\x20-\x7e\x80-\xff]*)?$/;

class ResponseError extends Error {}

interface Head {
  readonly statusCode: number;
  readonly minor: number;
  readonly contentLength: number | undefined;
  readonly chunked: boolean;
  readonly untilClose: boolean;
  readonly close: boolean;
  readonly etag: string | undefined;
}

// One header field line: a token name, a colon, the value with its optional whitespace (OWS) around
// it, then CRLF or the end of the head. Sticky: each match must start where the last one ended, so a
// line it cannot read (a bare LF, an obs-fold, a control character, a space before the colon) stops
// the scan short of the end and the head is malformed.
const FIELD_LINE = /([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[\t ]*((?:[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?)[\t ]*(?:\r\n|$)/y;

/** Parses one answer head (status line and fields, without the final CRLFCRLF). Throws ResponseError. */
export function parseResponseHead(text: string): Head {
  const lineEnd = text.indexOf("\r\n");
  const status = STATUS_LINE.exec(lineEnd < 0 ? text : text.slice(0, lineEnd));
  if (status === null) throw new ResponseError("malformed status line");
  const minor = Number(status[1]);
  const statusCode = Number(status[2]);
  let contentLength: number | undefined;
  let transferEncoding: string | undefined;
  let connection = "";
  let etag: string | undefined;
  let at = lineEnd < 0 ? text.length : lineEnd + 2;
  while (at < text.length) {
    FIELD_LINE.lastIndex = at;
    const field = FIELD_LINE.exec(text);
    if (field === null || FIELD_LINE.lastIndex === at) throw new ResponseError("malformed header field");
    at = FIELD_LINE.lastIndex;
    const name = field[1]!;
    const value = field[2]!;
    // Only four names matter; compare lengths first (most fields are none of them).
    if (name.length === 14 && name.toLowerCase() === "content-length") {
      // One value, or a list of equal values (RFC 9110 §8.6); digits only.
      for (const part of value.split(",")) {
        const v = part.trim();
        if (!/^\d{1,15}$/.test(v)) throw new ResponseError("malformed content-length");
        const n = Number(v);
        if (contentLength !== undefined && contentLength !== n) throw new ResponseError("conflicting content-length");
        contentLength = n;
      }
    } else if (name.length === 17 && name.toLowerCase() === "transfer-encoding") transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
    else if (name.length === 10 && name.toLowerCase() === "connection") connection += `,${value.toLowerCase()}`;
    else if (name.length === 4 && name.toLowerCase() === "etag") etag = value;
  }
  let chunked = false;
  let untilClose = false;
  if (transferEncoding !== undefined) {
    if (contentLength !== undefined) throw new ResponseError("transfer-encoding with content-length");
    const codings = transferEncoding
      .toLowerCase()
      .split(",")
      .map((c) => c.trim());
    if (codings[codings.length - 1] === "chunked") chunked = true;
    else untilClose = true; // RFC 9112 §6.3 rule 4 (a response): read until the connection closes
  } else if (contentLength === undefined) untilClose = true;
  const tokens = connection === "" ? [] : connection.split(",").map((t) => t.trim());
  // (A body framed by the connection's end closes it too: the Connection knows whether there is a body.)
  const close = tokens.includes("close") || (minor === 0 && !tokens.includes("keep-alive"));
  return { statusCode, minor, contentLength, chunked, untilClose, close, etag };
}

/** One request's life on a connection. */
interface Exchange {
  readonly method: "GET" | "HEAD";
  readonly bytes: string;
  readonly limit: number;
  resolve(response: Http1Response): void;
  reject(error: unknown): void;
  /** Sent again once when a reused connection closed before any byte of the answer. */
  retried: boolean;
  /** The connection carrying it now (to drop on cancel). */
  connection: Connection | undefined;
  /** The caller gave up (deadline, abort): never sent if not sent yet. */
  cancelled: boolean;
}

type BodyState =
  { readonly kind: "length"; remaining: number } | { readonly kind: "chunked"; remaining: number; phase: "size" | "data" | "data-crlf" | "trailers" } | { readonly kind: "close" };

/** One keep-alive connection: one exchange at a time. */
class Connection {
  readonly socket: Socket;
  private exchange: Exchange | undefined;
  /** Bytes of the current answer not yet consumed (head not complete, or a partial chunk line). */
  private pending: Buffer = EMPTY;
  private head: Head | undefined;
  private body: BodyState | undefined;
  private buffer: Buffer | undefined;
  private chunks: Buffer[] | undefined;
  private received = 0;
  private oversize = false;
  /** An exchange finished on this connection before: a close before any answer byte may be a stale idle connection. */
  private reused = false;
  private gotBytes = false;
  private dead = false;
  /** Set when an answer completed inside onData: what to do with the connection once the chunk is consumed. */
  private after: "idle" | "close" | undefined;

  constructor(
    socket: Socket,
    private readonly onIdle: (c: Connection) => void,
    private readonly onGone: (c: Connection, unfinished: Exchange | undefined, retryable: boolean) => void,
  ) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("end", () => this.onEnd());
    socket.on("error", () => this.gone());
    socket.on("close", () => this.gone());
    // The idle timer (set while the connection waits in the pool; 0 while it carries an exchange).
    socket.on("timeout", () => {
      if (this.exchange === undefined) this.destroy();
    });
  }

  get busy(): boolean {
    return this.exchange !== undefined;
  }

  start(exchange: Exchange): void {
    this.exchange = exchange;
    exchange.connection = this;
    this.pending = EMPTY;
    this.head = undefined;
    this.body = undefined;
    this.buffer = undefined;
    this.chunks = undefined;
    this.received = 0;
    this.oversize = false;
    this.gotBytes = false;
    this.socket.write(exchange.bytes, "latin1");
  }

  /** Drop the connection (the pool closing, or an idle timeout). */
  destroy(): void {
    this.exchange = undefined;
    this.socket.destroy();
  }

  /** A deadline or an abort of `exchange`: drop the connection if it still carries it. */
  cancel(exchange: Exchange): void {
    if (this.exchange === exchange) this.destroy();
  }

  /** The client closing: fail the exchange in flight, drop the connection. */
  abort(error: Error): void {
    const exchange = this.exchange;
    this.exchange = undefined;
    exchange?.reject(error);
    this.socket.destroy();
  }

  private gone(): void {
    if (this.dead) return;
    this.dead = true;
    const unfinished = this.exchange;
    this.exchange = undefined;
    this.socket.destroy();
    this.onGone(this, unfinished, unfinished !== undefined && this.reused && !this.gotBytes);
  }

  private onEnd(): void {
    // A body framed by the connection's end is complete now; anything else unfinished is lost.
    if (this.exchange !== undefined && this.body?.kind === "close") this.complete();
    this.gone();
  }

  private fail(message: string): void {
    const exchange = this.exchange;
    this.exchange = undefined;
    exchange?.reject(new StoreError("bad_response", `store answer: ${message}`));
    this.gone();
  }

  private onData(chunk: Buffer): void {
    if (this.exchange === undefined) {
      // Bytes nobody asked for (an answer after a timeout, or a misbehaving server): the stream is out of step.
      this.gone();
      return;
    }
    this.gotBytes = true;
    let data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = EMPTY;
    try {
      while (this.exchange !== undefined && data.length > 0) {
        if (this.head === undefined) {
          const end = data.indexOf(CRLFCRLF);
          if (end < 0) {
            if (data.length > MAX_HEAD_BYTES) throw new ResponseError("head too large");
            this.pending = data;
            return;
          }
          if (end > MAX_HEAD_BYTES) throw new ResponseError("head too large");
          const head = parseResponseHead(data.toString("latin1", 0, end));
          data = data.subarray(end + 4);
          if (head.statusCode < 200) continue; // interim answer (100 Continue, 103): the real one follows
          this.begin(head);
          if (this.exchange === undefined) return; // refused (oversize 2xx)
          if (this.body === undefined) this.complete();
          continue;
        }
        data = this.consumeBody(data);
      }
    } catch (err) {
      this.fail(err instanceof ResponseError ? err.message : "malformed");
      return;
    }
    // The answer is complete: the connection is reused only if nothing follows it (this client
    // never pipelines, so bytes past the answer mean the stream is out of step).
    const after = this.after;
    this.after = undefined;
    if (after === undefined || this.dead) return;
    if (after === "close" || data.length > 0) this.gone();
    else this.onIdle(this);
  }

  private begin(head: Head): void {
    this.head = head;
    const exchange = this.exchange!;
    const noBody = exchange.method === "HEAD" || head.statusCode === 204 || head.statusCode === 304;
    if (noBody) return;
    if (head.chunked) this.body = { kind: "chunked", remaining: 0, phase: "size" };
    else if (head.contentLength !== undefined) {
      if (head.contentLength === 0) return;
      if (head.contentLength > exchange.limit) {
        this.oversize = true;
        if (head.statusCode < 300) {
          // Refuse before reading a byte; the connection goes (cheaper than draining MBs).
          this.exchange = undefined;
          exchange.resolve({ statusCode: head.statusCode, etag: head.etag, body: EMPTY, oversize: true });
          this.gone();
          return;
        }
      } else this.buffer = Buffer.allocUnsafe(head.contentLength);
      this.body = { kind: "length", remaining: head.contentLength };
    } else this.body = { kind: "close" };
  }

  /** Takes body bytes from `data`; returns what is left after the answer's end (or an empty buffer). */
  private consumeBody(data: Buffer): Buffer {
    const body = this.body!;
    if (body.kind === "length") {
      const take = Math.min(body.remaining, data.length);
      this.collect(data.subarray(0, take));
      body.remaining -= take;
      if (body.remaining === 0) this.complete();
      return data.subarray(take);
    }
    if (body.kind === "close") {
      this.collect(data);
      return EMPTY;
    }
    // chunked
    while (data.length > 0 && this.exchange !== undefined) {
      if (body.phase === "size" || body.phase === "trailers") {
        const eol = data.indexOf("\r\n", 0, "latin1");
        if (eol < 0) {
          if (data.length > MAX_CHUNK_LINE_BYTES) throw new ResponseError("chunk line too long");
          this.pending = data;
          return EMPTY;
        }
        const line = data.toString("latin1", 0, eol);
        data = data.subarray(eol + 2);
        if (body.phase === "trailers") {
          if (line === "") {
            this.complete();
            return data;
          }
          if (line.length > MAX_CHUNK_LINE_BYTES || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/.test(line)) throw new ResponseError("malformed trailer");
          continue;
        }
        const size = /^([0-9A-Fa-f]{1,8})(?:[\t ]*;[\t\x20-\x7e\x80-\xff]*)?$/.exec(line);
        if (size === null) throw new ResponseError("malformed chunk size");
        body.remaining = parseInt(size[1]!, 16);
        body.phase = body.remaining === 0 ? "trailers" : "data";
        continue;
      }
      if (body.phase === "data") {
        const take = Math.min(body.remaining, data.length);
        this.collect(data.subarray(0, take));
        body.remaining -= take;
        data = data.subarray(take);
        if (body.remaining === 0) body.phase = "data-crlf";
        continue;
      }
      // data-crlf: the CRLF after a chunk's data
      if (data.length < 2) {
        this.pending = data;
        return EMPTY;
      }
      if (data[0] !== 0x0d || data[1] !== 0x0a) throw new ResponseError("malformed chunk end");
      data = data.subarray(2);
      body.phase = "size";
    }
    return data;
  }

  private collect(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const exchange = this.exchange!;
    const end = this.received + bytes.length;
    if (end > exchange.limit) {
      this.oversize = true;
      if (this.head!.statusCode < 300) {
        this.exchange = undefined;
        exchange.resolve({ statusCode: this.head!.statusCode, etag: this.head!.etag, body: EMPTY, oversize: true });
        this.gone();
        return;
      }
      // An error body: keep what fits (enough for the XML <Code>), then drop the connection.
      const room = exchange.limit - this.received;
      if (room > 0) this.collect(bytes.subarray(0, room));
      this.complete(true);
      return;
    }
    if (this.buffer !== undefined && end <= this.buffer.length) bytes.copy(this.buffer, this.received);
    else {
      if (this.chunks === undefined) {
        this.chunks = this.buffer !== undefined ? [this.buffer.subarray(0, this.received)] : [];
        this.buffer = undefined;
      }
      // A copy: `bytes` is a view of the socket's chunk, which other answers may share.
      this.chunks.push(Buffer.from(bytes));
    }
    this.received = end;
  }

  private complete(dropConnection = false): void {
    const exchange = this.exchange;
    const head = this.head;
    if (exchange === undefined || head === undefined) return;
    let body: Buffer;
    if (this.chunks !== undefined) body = Buffer.concat(this.chunks, this.received);
    else if (this.buffer !== undefined) body = this.received === this.buffer.length ? this.buffer : this.buffer.subarray(0, this.received);
    else body = EMPTY;
    this.exchange = undefined;
    exchange.connection = undefined;
    this.reused = true;
    this.after = dropConnection || head.close || this.body?.kind === "close" ? "close" : "idle";
    exchange.resolve({ statusCode: head.statusCode, etag: head.etag, body, oversize: this.oversize });
  }
}

/**
 * Connections to one origin (http: or https:). `request` sends one GET or HEAD (the request line and
 * header fields already written by the caller, CRLF-terminated, without the final empty line).
 */
export class Http1Client {
  private readonly idle: Connection[] = [];
  private readonly waiting: Exchange[] = [];
  private open = 0;
  private closed = false;
  private readonly host: string;
  private readonly port: number;
  private readonly tls: boolean;

  constructor(
    origin: string,
    private readonly options: Http1ClientOptions,
  ) {
    const url = new URL(origin);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError(`Http1Client: unsupported origin ${origin}`);
    this.tls = url.protocol === "https:";
    this.host = url.hostname.replace(/^\[|\]$/g, "");
    this.port = url.port === "" ? (this.tls ? 443 : 80) : Number(url.port);
  }

  /**
   * Send `head` (request line + fields, each ending in CRLF) and read the answer. Rejects with the
   * transport's error (a StoreError bad_response for a malformed answer); the caller maps it.
   */
  request(method: "GET" | "HEAD", head: string, limit: number): { readonly response: Promise<Http1Response>; cancel(): void } {
    let exchange!: Exchange;
    const response = new Promise<Http1Response>((resolve, reject) => {
      exchange = { method, bytes: `${head}\r\n`, limit, resolve, reject, retried: false, connection: undefined, cancelled: false };
    });
    // Header injection guard: CR and LF only as line ends, no NUL (the head is built from a key and a session token).
    if (/[\0\n\r]/.test(head.replace(/\r\n/g, ""))) {
      exchange.reject(new TypeError("request head carries a control character"));
      return { response, cancel: () => undefined };
    }
    this.dispatch(exchange);
    return {
      response,
      // A deadline or an abort: the exchange's connection (if any) is dropped, the request forgotten.
      cancel: () => {
        exchange.cancelled = true;
        const i = this.waiting.indexOf(exchange);
        if (i >= 0) this.waiting.splice(i, 1);
        exchange.connection?.cancel(exchange);
      },
    };
  }

  private dispatch(exchange: Exchange): void {
    if (this.closed) return exchange.reject(new StoreError("unavailable", "store client closed"));
    const connection = this.idle.pop();
    if (connection !== undefined) return this.run(connection, exchange);
    if (this.open < this.options.connections) return this.connect(exchange);
    this.waiting.push(exchange);
  }

  private run(connection: Connection, exchange: Exchange): void {
    if (exchange.cancelled) return this.release(connection);
    connection.socket.setTimeout(0);
    this.busy.add(connection);
    connection.start(exchange);
  }

  /** Connections carrying an exchange (closed with the client). */
  private readonly busy = new Set<Connection>();

  private connect(first: Exchange): void {
    this.open++;
    const socket = this.tls
      ? tlsConnect({ ...this.options.tls, host: this.host, port: this.port, servername: isIP(this.host) === 0 ? this.host : undefined, ALPNProtocols: ["http/1.1"] })
      : netConnect({ host: this.host, port: this.port });
    let connected = false;
    const connectTimer = setTimeout(() => socket.destroy(new Error(`connect timeout after ${this.options.connectTimeoutMs} ms`)), this.options.connectTimeoutMs);
    const onConnectError = (err: Error): void => {
      if (connected) return;
      clearTimeout(connectTimer);
      this.open--;
      first.reject(err);
      this.next();
    };
    socket.once("error", onConnectError);
    socket.once(this.tls ? "secureConnect" : "connect", () => {
      connected = true;
      clearTimeout(connectTimer);
      socket.off("error", onConnectError);
      const connection = new Connection(
        socket,
        (c) => this.release(c),
        (c, unfinished, retryable) => this.lost(c, unfinished, retryable),
      );
      if (this.closed) {
        connection.destroy();
        return;
      }
      this.run(connection, first);
    });
  }

  private release(connection: Connection): void {
    this.busy.delete(connection);
    const next = this.waiting.shift();
    if (next !== undefined) return this.run(connection, next);
    connection.socket.setTimeout(this.options.keepAliveTimeoutMs);
    this.idle.push(connection);
  }

  private lost(connection: Connection, unfinished: Exchange | undefined, retryable: boolean): void {
    this.open--;
    this.busy.delete(connection);
    const i = this.idle.indexOf(connection);
    if (i >= 0) this.idle.splice(i, 1);
    if (unfinished !== undefined) {
      unfinished.connection = undefined;
      if (retryable && !unfinished.retried && !this.closed) {
        unfinished.retried = true;
        this.dispatch(unfinished);
      } else unfinished.reject(new StoreError("unavailable", "store connection closed before the answer"));
    }
    this.next();
  }

  /** A connection slot came free: start a waiting request on a new connection. */
  private next(): void {
    const exchange = this.waiting.shift();
    if (exchange !== undefined) this.dispatch(exchange);
  }

  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.destroy();
    for (const e of this.waiting.splice(0)) e.reject(new StoreError("unavailable", "store client closed"));
    for (const c of [...this.busy]) c.abort(new StoreError("unavailable", "store client closed"));
  }
}
