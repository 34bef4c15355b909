/**
 * The lane's HTTP/1.1 (and 1.0) server over `net` or `tls` sockets: only what the runtime needs,
 * because node:http's own machinery (IncomingMessage / ServerResponse streams, header objects,
 * llhttp callbacks) cost about as much CPU per read as the runtime's read logic
 * (bench/micro/http-stack.ts, docs/performance.md "Session 8: runtime HTTP server"). TLS and mTLS
 * are node's (`tls.createServer`); only the bytes above the handshake are ours.
 *
 * The parser is strict and never more lenient than node's llhttp (test/adversary/http-parser.test.ts
 * checks that differentially): request line `token SP origin-form SP HTTP/1.x CRLF`, fields
 * `token ":" OWS value OWS CRLF`, CRLF only (a bare CR or LF, obs-fold, a CTL or NUL in a value,
 * whitespace before the colon: 400 and close); 16 KiB of head and 100 fields at most (431); one
 * Content-Length of digits only; any Transfer-Encoding is 411 and close (no chunked bodies: the
 * runtime's clients send a length); a repeated singleton field (Host, Content-Type, Authorization …)
 * is 400 where node keeps the first. `Expect: 100-continue` is answered before the body is read.
 * Keep-alive as node: 1.1 unless `Connection: close`, 1.0 only with `Connection: keep-alive`;
 * pipelined requests are parsed one at a time and answered in order. Timeouts as runtime/server.ts
 * sets node's: headers 10 s, whole request 30 s (408), idle keep-alive 65 s.
 */
import { randomUUID } from "node:crypto";
import { STATUS_CODES } from "node:http";
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer, type TlsOptions as NodeTlsOptions } from "node:tls";
import { LaneError, type ErrorCode } from "../wire/errors";
import type { LaneHeaders, LaneRequest, LaneResponse, LaneServer } from "./http-types";

/** node:http's default `maxHeaderSize` (ours counts every byte of the head, node's only URL and fields: ours is the tighter). */
export const MAX_HEAD_BYTES = 16 * 1024;
export const MAX_HEADER_FIELDS = 100;
/** Unread body or pipelined bytes held per connection before the socket is paused. */
const MAX_BUFFERED_BYTES = 64 * 1024;
/** A Content-Length longer than this many digits is not a length we would ever read. */
const MAX_LENGTH_DIGITS = 15;

// ---------------------------------------------------------------------------------------------
// The request head parser

const SP = 0x20;
const HTAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;
const COLON = 0x3a;

function table(accept: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = accept(c) ? 1 : 0;
  return t;
}
/** RFC 9110 tchar. */
const TCHAR = table((c) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c)));
/** Visible ASCII: what llhttp accepts in a target (we take origin-form only, so it starts with `/`). */
const TARGET_CHAR = table((c) => c >= 0x21 && c <= 0x7e);
/** field-vchar / SP / HTAB / obs-text: no CTL, no NUL, no DEL. */
const VALUE_CHAR = table((c) => c === HTAB || (c >= 0x20 && c <= 0x7e) || c >= 0x80);

/** Methods llhttp knows that the runtime's routes could see (others: 400, where llhttp knows more). */
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]);
/** Fields node:http keeps the first of (drops the rest): a repeat is 400 here. */
const SINGLETONS = new Set([
  "content-type",
  "content-length",
  "user-agent",
  "referer",
  "host",
  "authorization",
  "proxy-authorization",
  "if-modified-since",
  "if-unmodified-since",
  "from",
  "location",
  "max-forwards",
  "retry-after",
  "etag",
  "last-modified",
  "server",
  "age",
  "expires",
]);

export interface RequestHead {
  readonly method: string;
  readonly url: string;
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  readonly minor: 0 | 1;
  readonly headers: LaneHeaders;
  /** Names as sent, values trimmed: node's rawHeaders. */
  readonly rawHeaders: readonly string[];
  readonly contentLength: number;
  readonly keepAlive: boolean;
  readonly expectContinue: boolean;
}

export type HeadResult =
  | { readonly kind: "incomplete" }
  | { readonly kind: "head"; readonly head: RequestHead; /** Bytes of the buffer the head took. */ readonly end: number }
  | { readonly kind: "error"; readonly code: "bad_request" | "headers_too_large" | "length_required"; readonly message: string };

const INCOMPLETE: HeadResult = { kind: "incomplete" };

type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };
/** Bytes as latin1 text (node:http's decoding of a head), without toString's argument checks. */
const latin1 = (buf: Buffer, start: number, end: number): string => (buf as Latin1Buffer).latin1Slice(start, end);
const HTTP_1_ = Buffer.from("HTTP/1.", "latin1");

/**
 * Parses one request head from a buffer that starts at the head's first byte, resumably: feed it
 * the same buffer grown by each chunk. Complete lines are parsed once; a partial line's bytes are
 * checked once as they come, so a bare LF or a control character fails at once, not at the timeout.
 */
export class HeadParser {
  /** Start of the first line not parsed yet (0: the request line). */
  private line = 0;
  /** Bytes up to here are checked (in an incomplete line). */
  private checked = 0;
  private method = "";
  private url = "";
  private minor: 0 | 1 = 1;
  private headers: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  private raw: string[] = [];
  private contentLength = -1;
  private connectionClose = false;
  private connectionKeepAlive = false;
  private expectContinue = false;

  reset(): void {
    this.line = 0;
    this.checked = 0;
    this.headers = Object.create(null) as Record<string, string | string[]>;
    this.raw = [];
    this.contentLength = -1;
    this.connectionClose = false;
    this.connectionKeepAlive = false;
    this.expectContinue = false;
  }

  feed(buf: Buffer): HeadResult {
    const length = buf.length;
    for (;;) {
      const start = this.line;
      const from = this.checked > start ? this.checked : start;
      const cr = buf.indexOf(CR, from);
      if (cr < 0 || cr + 1 >= length) {
        const upTo = cr < 0 ? length : cr;
        for (let k = from; k < upTo; k++) if (!VALUE_CHAR[buf[k]!]) return bad(buf[k] === LF ? "bare LF" : "control character in the request head");
        this.checked = upTo;
        if (length >= MAX_HEAD_BYTES) return { kind: "error", code: "headers_too_large", message: `request head over ${MAX_HEAD_BYTES} bytes` };
        return INCOMPLETE;
      }
      if (buf[cr + 1] !== LF) return bad("bare CR");
      if (cr + 2 > MAX_HEAD_BYTES) return { kind: "error", code: "headers_too_large", message: `request head over ${MAX_HEAD_BYTES} bytes` };
      this.line = cr + 2;
      this.checked = cr + 2;
      if (start === 0) {
        const error = this.requestLine(buf, cr);
        if (error) return error;
      } else if (cr === start) {
        if (this.minor === 1 && this.headers.host === undefined) return bad("HTTP/1.1 request without Host");
        const head: RequestHead = {
          method: this.method,
          url: this.url,
          minor: this.minor,
          headers: this.headers,
          rawHeaders: this.raw,
          contentLength: this.contentLength < 0 ? 0 : this.contentLength,
          keepAlive: this.minor === 1 ? !this.connectionClose : this.connectionKeepAlive && !this.connectionClose,
          expectContinue: this.expectContinue,
        };
        return { kind: "head", head, end: cr + 2 };
      } else {
        const error = this.fieldLine(buf, start, cr);
        if (error) return error;
      }
    }
  }

  /** `method SP origin-form SP HTTP/1.x`, the line [0, end). */
  private requestLine(buf: Buffer, end: number): HeadResult | undefined {
    let k = 0;
    while (TCHAR[buf[k]!]) k++;
    if (k === 0 || buf[k] !== SP) return bad("malformed request line");
    this.method = latin1(buf, 0, k);
    if (!METHODS.has(this.method)) return bad("unknown method");
    const target = k + 1;
    if (buf[target] !== 0x2f) return bad("the target must be origin-form (/path?query)");
    k = target;
    while (k < end && TARGET_CHAR[buf[k]!]) k++;
    if (k === end || buf[k] !== SP) return bad("malformed request target");
    this.url = latin1(buf, target, k);
    const version = k + 1;
    if (end - version !== 8 || buf.compare(HTTP_1_, 0, 7, version, version + 7) !== 0) return bad("unsupported HTTP version");
    const digit = buf[version + 7];
    if (digit === 0x31) this.minor = 1;
    else if (digit === 0x30) this.minor = 0;
    else return bad("unsupported HTTP version");
    return undefined;
  }

  /** `token ":" OWS value OWS`, the line [start, end). */
  private fieldLine(buf: Buffer, start: number, end: number): HeadResult | undefined {
    let k = start;
    while (TCHAR[buf[k]!]) k++;
    const c = buf[k];
    if (k === start) return bad(c === SP || c === HTAB ? "obsolete line folding" : "malformed header field");
    if (c !== COLON) return bad(c === SP || c === HTAB ? "whitespace before the colon" : "malformed header name");
    if (this.raw.length >= MAX_HEADER_FIELDS * 2) return { kind: "error", code: "headers_too_large", message: `more than ${MAX_HEADER_FIELDS} header fields` };
    for (let j = k + 1; j < end; j++) if (!VALUE_CHAR[buf[j]!]) return bad("control character in a header value");
    let vs = k + 1;
    let ve = end;
    while (vs < ve && (buf[vs] === SP || buf[vs] === HTAB)) vs++;
    while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
    return this.field(latin1(buf, start, k), latin1(buf, vs, ve));
  }

  /** One field, after the value's OWS is trimmed. */
  private field(name: string, value: string): HeadResult | undefined {
    const key = name.toLowerCase();
    if (key === "__proto__") return bad("malformed header name");
    this.raw.push(name, value);
    const before = this.headers[key];
    if (before !== undefined && SINGLETONS.has(key)) return bad(`repeated ${key}`);
    switch (key) {
      case "content-length": {
        if (value.length === 0 || value.length > MAX_LENGTH_DIGITS) return bad("bad content-length");
        for (let k = 0; k < value.length; k++) {
          const d = value.charCodeAt(k);
          if (d < 0x30 || d > 0x39) return bad("bad content-length");
        }
        this.contentLength = Number(value);
        break;
      }
      case "transfer-encoding":
        return { kind: "error", code: "length_required", message: "Transfer-Encoding is not accepted: send the body with a Content-Length" };
      case "connection":
        for (const token of value.split(",")) {
          const t = token.trim().toLowerCase();
          if (t === "close") this.connectionClose = true;
          else if (t === "keep-alive") this.connectionKeepAlive = true;
        }
        break;
      case "expect":
        if (value.toLowerCase() !== "100-continue" || before !== undefined) return bad("unsupported Expect");
        this.expectContinue = this.minor === 1;
        break;
    }
    if (before === undefined) this.headers[key] = key === "set-cookie" ? [value] : value;
    else if (key === "set-cookie") (before as string[]).push(value);
    else this.headers[key] = `${before as string}${key === "cookie" ? "; " : ", "}${value}`;
    return undefined;
  }
}

function bad(message: string): HeadResult {
  return { kind: "error", code: "bad_request", message };
}

// ---------------------------------------------------------------------------------------------
// Request and response objects (runtime/http-types.ts)

/**
 * A request; its body is delivered as `data` events once someone listens (or discarded after
 * resume()), then `end`. Three events only, without an EventEmitter: what the runtime listens to.
 */
export class LaneIncomingMessage implements LaneRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: LaneHeaders;
  readonly rawHeaders: readonly string[];
  readonly httpVersion: string;
  /** Body bytes still to come from the socket. */
  remaining: number;
  private held: Buffer[] | undefined;
  private heldBytes = 0;
  private flowing = false;
  private endEmitted = false;
  private scheduled = false;
  private dataListeners: Array<(chunk: Buffer) => void> | undefined;
  private endListeners: Array<() => void> | undefined;
  private errorListeners: Array<(err: Error) => void> | undefined;

  constructor(
    head: RequestHead,
    readonly socket: Socket,
    private readonly connection: Connection,
  ) {
    this.method = head.method;
    this.url = head.url;
    this.headers = head.headers;
    this.rawHeaders = head.rawHeaders;
    this.httpVersion = head.minor === 1 ? "1.1" : "1.0";
    this.remaining = head.contentLength;
  }

  on(event: "data", listener: (chunk: Buffer) => void): this;
  on(event: "end", listener: () => void): this;
  on(event: "error", listener: (err: Error) => void): this;
  on(event: "data" | "end" | "error", listener: ((chunk: Buffer) => void) | (() => void) | ((err: Error) => void)): this {
    if (event === "data") {
      (this.dataListeners ??= []).push(listener as (chunk: Buffer) => void);
      this.startFlowing();
    } else if (event === "end") (this.endListeners ??= []).push(listener as () => void);
    else if (event === "error") (this.errorListeners ??= []).push(listener as (err: Error) => void);
    return this;
  }

  removeAllListeners(event: "data"): this {
    if (event === "data") this.dataListeners = undefined;
    return this;
  }

  resume(): this {
    this.startFlowing();
    return this;
  }

  /** Body bytes not delivered yet (the socket pauses above MAX_BUFFERED_BYTES). */
  get buffered(): number {
    return this.heldBytes;
  }

  /** From the connection: the next body bytes. */
  push(chunk: Buffer): void {
    this.remaining -= chunk.length;
    if (this.flowing && this.held === undefined && !this.scheduled) {
      this.emitData(chunk);
      if (this.remaining === 0) this.emitEnd();
      return;
    }
    (this.held ??= []).push(chunk);
    this.heldBytes += chunk.length;
    if (this.remaining === 0 && this.flowing) this.schedule();
  }

  /** The client went away before the whole body came. */
  abort(): void {
    if (this.remaining === 0 || !this.errorListeners) return;
    const err = Object.assign(new Error("aborted"), { code: "ECONNRESET" });
    for (const l of this.errorListeners) l(err);
  }

  private startFlowing(): void {
    if (this.flowing) return;
    this.flowing = true;
    this.schedule();
  }

  /** Listeners attach after the handler starts: deliver what is held (or the end) on the next tick. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    process.nextTick(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const held = this.held;
    this.held = undefined;
    this.heldBytes = 0;
    if (held) for (const chunk of held) this.emitData(chunk);
    this.connection.bodyDrained();
    if (this.remaining === 0) this.emitEnd();
  }

  private emitData(chunk: Buffer): void {
    const listeners = this.dataListeners;
    if (listeners) for (const l of listeners) l(chunk);
  }

  private emitEnd(): void {
    if (this.endEmitted) return;
    this.endEmitted = true;
    const listeners = this.endListeners;
    if (listeners) for (const l of listeners) l();
  }
}

type HeaderValue = string | number | readonly string[];

const HEADER_VALUE_INVALID = /[^\t\x20-\x7e\x80-\xff]/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function checkHeader(name: string, value: string): void {
  if (!TOKEN.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name).slice(0, 40)}`);
  if (HEADER_VALUE_INVALID.test(value)) throw new TypeError(`invalid character in header ${name}`);
}

let dateSecond = -1;
let dateText = "";
/** The Date field, formatted once a second (RFC 9110: an origin server with a clock sends it). */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

const FIELD_OTHER = 0;
const FIELD_LENGTH = 1;
const FIELD_DATE = 2;
const FIELD_CONNECTION = 3;
const FIELD_KEEP_ALIVE = 4;
/** The response fields the server writes itself (by length first: most names are none of them). */
function specialField(name: string): number {
  switch (name.length) {
    case 4:
      return name.toLowerCase() === "date" ? FIELD_DATE : FIELD_OTHER;
    case 10: {
      const lower = name.toLowerCase();
      return lower === "connection" ? FIELD_CONNECTION : lower === "keep-alive" ? FIELD_KEEP_ALIVE : FIELD_OTHER;
    }
    case 14:
      return name.toLowerCase() === "content-length" ? FIELD_LENGTH : FIELD_OTHER;
    default:
      return FIELD_OTHER;
  }
}

const NO_BODY_STATUS = (status: number): boolean => status < 200 || status === 204 || status === 304;
/** One write below this size (head and body copied into one buffer); above, a corked head + body. */
const ONE_BUFFER_BYTES = 16 * 1024;

export class LaneServerResponse implements LaneResponse {
  statusCode = 200;
  /** writeHead was called: headersSent for the runtime (node's meaning), though the bytes go at end(). */
  private headWritten = false;
  private finished = false;
  /** Set through setHeader: lower-case name → [name, value]. */
  private fields: Map<string, [string, HeaderValue]> | undefined;
  private head: Readonly<Record<string, HeaderValue | undefined>> | string[] | undefined;
  private finishListeners: Array<() => void> | undefined;
  /** `Connection: close` was set (the gate while draining), or the request asked for it. */
  private closeAfter: boolean;

  constructor(
    private readonly connection: Connection,
    private readonly isHead: boolean,
    private readonly minor: 0 | 1,
    keepAlive: boolean,
  ) {
    this.closeAfter = !keepAlive;
  }

  get headersSent(): boolean {
    return this.headWritten;
  }

  setHeader(name: string, value: HeaderValue): this {
    if (this.headWritten) throw Object.assign(new Error("Cannot set headers after they are sent to the client"), { code: "ERR_HTTP_HEADERS_SENT" });
    for (const v of typeof value === "object" ? value : [String(value)]) checkHeader(name, v);
    (this.fields ??= new Map()).set(name.toLowerCase(), [name, value]);
    return this;
  }

  writeHead(status: number, headers?: Record<string, string | number | string[] | undefined> | string[]): this {
    if (this.headWritten) throw Object.assign(new Error("Cannot write headers after they are sent to the client"), { code: "ERR_HTTP_HEADERS_SENT" });
    if (!Number.isInteger(status) || status < 100 || status > 999) throw new RangeError(`invalid status code ${status}`);
    // Checked here, as node:http does: a bad field throws before anything counts as sent.
    if (Array.isArray(headers)) {
      if (headers.length % 2 !== 0) throw new TypeError("a raw header array holds name, value pairs");
      for (let i = 0; i < headers.length; i += 2) checkHeader(headers[i]!, headers[i + 1]!);
    } else if (headers) {
      for (const name of Object.keys(headers)) {
        const value = headers[name];
        if (value !== undefined) for (const v of typeof value === "object" ? value : [String(value)]) checkHeader(name, v);
      }
    }
    this.statusCode = status;
    this.head = headers;
    this.headWritten = true;
    return this;
  }

  end(body?: string | Uint8Array): this {
    if (this.finished) return this;
    if (!this.headWritten) this.writeHead(this.statusCode);
    this.finished = true;
    const status = this.statusCode;
    const bytes: Uint8Array | undefined = typeof body === "string" ? Buffer.from(body) : body;
    const noBody = NO_BODY_STATUS(status);
    let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "unknown"}\r\n`;
    let hasLength = false;
    let hasDate = false;
    const head = this.head;
    let fields: Iterable<[string, HeaderValue]> | undefined;
    if (this.fields) {
      // setHeader's fields merged with writeHead's, writeHead's winning (node:http's rule).
      const merged = this.fields;
      if (Array.isArray(head)) for (let i = 0; i < head.length; i += 2) merged.set(head[i]!.toLowerCase(), [head[i]!, head[i + 1]!]);
      else if (head) for (const name of Object.keys(head)) if (head[name] !== undefined) merged.set(name.toLowerCase(), [name, head[name]!]);
      fields = merged.values();
    } else if (head && !Array.isArray(head)) {
      fields = Object.keys(head)
        .filter((name) => head[name] !== undefined)
        .map((name): [string, HeaderValue] => [name, head[name]!]);
    }
    if (fields === undefined && Array.isArray(head)) {
      // The read path: a raw array of single values (no merge, no arrays).
      for (let i = 0; i < head.length; i += 2) {
        const name = head[i]!;
        const kind = specialField(name);
        if (kind === FIELD_LENGTH) hasLength = true;
        else if (kind === FIELD_DATE) hasDate = true;
        else if (kind === FIELD_CONNECTION) {
          if (/\bclose\b/i.test(head[i + 1]!)) this.closeAfter = true;
          continue;
        } else if (kind === FIELD_KEEP_ALIVE) continue;
        text += `${name}: ${head[i + 1]!}\r\n`;
      }
    } else if (fields) {
      for (const [name, value] of fields) {
        const kind = specialField(name);
        if (kind === FIELD_LENGTH) hasLength = true;
        else if (kind === FIELD_DATE) hasDate = true;
        else if (kind === FIELD_CONNECTION) {
          if (/\bclose\b/i.test(String(value))) this.closeAfter = true;
          continue;
        } else if (kind === FIELD_KEEP_ALIVE) continue;
        if (typeof value === "object") for (const v of value) text += `${name}: ${v}\r\n`;
        else text += `${name}: ${value}\r\n`;
      }
    }
    if (!hasDate) text += `date: ${httpDate()}\r\n`;
    if (!hasLength && !noBody) text += `content-length: ${bytes ? bytes.byteLength : 0}\r\n`;
    // A body not read to its end is not skipped over: say so, and the connection ends after this answer.
    const close = this.closeAfter || this.connection.closing || this.connection.bodyUnread;
    if (close) text += "connection: close\r\n\r\n";
    else if (this.minor === 0) text += `connection: keep-alive\r\nkeep-alive: timeout=${this.connection.keepAliveSeconds}\r\n\r\n`;
    else text += `keep-alive: timeout=${this.connection.keepAliveSeconds}\r\n\r\n`;
    const payload = bytes && !noBody && !this.isHead ? bytes : undefined;
    this.connection.write(text, payload, () => this.emitFinish());
    this.connection.responseDone(close);
    return this;
  }

  destroy(): void {
    this.connection.destroy();
  }

  once(event: "finish", listener: () => void): this {
    if (event === "finish") (this.finishListeners ??= []).push(listener);
    return this;
  }

  private emitFinish(): void {
    const listeners = this.finishListeners;
    this.finishListeners = undefined;
    if (listeners) for (const l of listeners) l();
  }
}

/** The answer to a request the parser refused, in the catalog's JSON shape (also node's clientError, runtime/listener.ts). */
export function clientErrorResponse(error: LaneError): string {
  const body = JSON.stringify({ error: { code: error.code, message: error.message } });
  return `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\nx-request-id: ${randomUUID()}\r\nconnection: close\r\n\r\n${body}`;
}

// ---------------------------------------------------------------------------------------------
// Connections and the server

export interface LaneHttpOptions {
  /** Time from a request's first byte (or the connection's start) to the end of its head; 408 after. */
  readonly headersTimeoutMs?: number;
  /** Time from a request's first byte to its last body byte; 408 after. */
  readonly requestTimeoutMs?: number;
  /** An idle keep-alive connection closes after this long. */
  readonly keepAliveTimeoutMs?: number;
  /** TLS (and mTLS) options for `tls.createServer`; plain TCP without. */
  readonly tls?: NodeTlsOptions;
}

export type LaneHandler = (req: LaneIncomingMessage, res: LaneServerResponse) => void;

const enum Phase {
  /** Waiting for (or reading) a request head. */
  Head,
  /** A request is being answered (its body may still be arriving). */
  Busy,
  /** Refused or closing: nothing more is read. */
  Closed,
}

class Connection {
  private phase = Phase.Head;
  private pending: Buffer | undefined;
  private readonly parser = new HeadParser();
  private request: LaneIncomingMessage | undefined;
  /** Monotonic ms: when the current head (or the wait for it) started, and the last activity. */
  headStarted: number;
  requestStarted = 0;
  /** Bytes of a head or a request arrived since the last answer (not idle). */
  private started = false;
  private inParse = false;
  private paused = false;
  /** The client half-closed: answer what it sent, then close. */
  private peerEnded = false;
  /** Answers written on this connection (a fresh one waits headersTimeoutMs for its first byte, not the keep-alive time). */
  private served = 0;

  constructor(
    readonly socket: Socket,
    private readonly server: LaneHttpServer,
  ) {
    this.headStarted = server.now();
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      try {
        this.onData(chunk);
      } catch {
        // A bug here must cost one connection, never the process (fail closed: no answer).
        this.destroy();
      }
    });
    socket.on("error", () => socket.destroy());
    socket.on("end", () => {
      this.peerEnded = true;
      if (this.phase === Phase.Head && !this.inParse) this.end();
      else if (this.phase === Phase.Busy && this.request && this.request.remaining > 0) {
        // The body can never complete: the request fails (its reader sees an error), the connection ends.
        this.request.abort();
        this.end();
      }
    });
    socket.on("close", () => {
      this.phase = Phase.Closed;
      this.request?.abort();
      server.forget(this);
    });
  }

  get closing(): boolean {
    return this.server.closing;
  }

  get keepAliveSeconds(): number {
    return Math.floor(this.server.keepAliveTimeoutMs / 1000);
  }

  /** Serving a request, or part of a head is in: not idle. */
  get active(): boolean {
    return this.phase === Phase.Busy || (this.phase === Phase.Head && this.started);
  }

  private onData(chunk: Buffer): void {
    if (this.phase === Phase.Closed) return;
    const req = this.request;
    if (req && req.remaining > 0) {
      const n = Math.min(chunk.length, req.remaining);
      req.push(n === chunk.length ? chunk : chunk.subarray(0, n));
      if (req.buffered > MAX_BUFFERED_BYTES) this.pause();
      if (n === chunk.length) return;
      chunk = chunk.subarray(n);
    }
    if (!this.started) {
      this.started = true;
      if (this.phase === Phase.Head) this.headStarted = this.server.now();
    }
    this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    if (this.phase === Phase.Busy) {
      if (this.pending.length > MAX_BUFFERED_BYTES) this.pause();
      return;
    }
    this.parse();
  }

  private parse(): void {
    this.inParse = true;
    try {
      while (this.phase === Phase.Head && this.pending) {
        const result = this.parser.feed(this.pending);
        if (result.kind === "incomplete") {
          if (this.peerEnded) this.end();
          return;
        }
        if (result.kind === "error") {
          this.refuse(new LaneError(result.code as ErrorCode, result.message));
          return;
        }
        this.parser.reset();
        const rest = this.pending.length > result.end ? this.pending.subarray(result.end) : undefined;
        this.pending = undefined;
        this.start(result.head, rest);
      }
    } finally {
      this.inParse = false;
    }
  }

  private start(head: RequestHead, rest: Buffer | undefined): void {
    this.phase = Phase.Busy;
    this.requestStarted = this.headStarted;
    const req = new LaneIncomingMessage(head, this.socket, this);
    const res = new LaneServerResponse(this, head.method === "HEAD", head.minor, head.keepAlive && !this.server.closing);
    this.request = req;
    if (head.expectContinue && head.contentLength > 0 && !(rest && rest.length >= head.contentLength)) this.socket.write("HTTP/1.1 100 Continue\r\n\r\n");
    if (rest) {
      const n = Math.min(rest.length, req.remaining);
      if (n > 0) req.push(n === rest.length ? rest : rest.subarray(0, n));
      if (n < rest.length) this.pending = rest.subarray(n);
    }
    if (req.remaining === 0) this.started = false;
    try {
      this.server.handler(req, res);
    } catch {
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ error: { code: "internal", message: new LaneError("internal").message } }));
      } else this.destroy();
    }
  }

  write(head: string, body: Uint8Array | undefined, done: () => void): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    if (!body || body.byteLength === 0) {
      this.socket.write(head, "latin1", done);
      return;
    }
    const headBytes = head.length; // latin1: one byte per unit
    if (headBytes + body.byteLength <= ONE_BUFFER_BYTES) {
      const out = Buffer.allocUnsafe(headBytes + body.byteLength);
      out.write(head, 0, "latin1");
      out.set(body, headBytes);
      this.socket.write(out, done);
      return;
    }
    this.socket.cork();
    this.socket.write(head, "latin1");
    this.socket.write(body, done);
    this.socket.uncork();
  }

  /** The current request's body is still arriving, or held unread. */
  get bodyUnread(): boolean {
    const req = this.request;
    return req !== undefined && (req.remaining > 0 || req.buffered > 0);
  }

  /** The answer is written: next request, or close (`close`: the answer said `connection: close`). */
  responseDone(close: boolean): void {
    if (this.phase === Phase.Closed) return;
    this.request = undefined;
    this.served++;
    if (close) {
      this.end();
      return;
    }
    this.phase = Phase.Head;
    this.headStarted = this.server.now();
    this.started = this.pending !== undefined;
    this.unpause();
    if (this.peerEnded && this.pending === undefined) this.end();
    else if (!this.inParse) this.parse();
  }

  /** The request's held body went to its reader: read more. */
  bodyDrained(): void {
    if (this.phase === Phase.Busy && (this.pending?.length ?? 0) <= MAX_BUFFERED_BYTES) this.unpause();
  }

  /** A request the parser refused (or one that timed out): the JSON error, then close. */
  refuse(error: LaneError): void {
    if (this.phase === Phase.Closed) return;
    this.phase = Phase.Closed;
    this.pending = undefined;
    if (this.socket.writable) this.socket.write(clientErrorResponse(error), "latin1");
    this.end();
  }

  /** Half-close after the last answer; a peer that never closes its side is cut off after a while. */
  private end(): void {
    this.phase = Phase.Closed;
    if (this.socket.writableEnded) return;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 5_000).unref();
  }

  destroy(): void {
    this.phase = Phase.Closed;
    this.socket.destroy();
  }

  /** Called once a second: enforce the head, request and keep-alive timeouts. */
  check(now: number): void {
    const server = this.server;
    if (this.phase === Phase.Head) {
      const limit = this.started || this.served === 0 ? server.headersTimeoutMs : server.keepAliveTimeoutMs;
      if (now - this.headStarted > limit) {
        if (this.started) this.refuse(new LaneError("request_timeout"));
        else this.destroy();
      }
    } else if (this.phase === Phase.Busy && this.request && this.request.remaining > 0 && now - this.requestStarted > server.requestTimeoutMs) {
      this.refuse(new LaneError("request_timeout"));
    }
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  private unpause(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }
}

/** The lane's HTTP/1.x server: net (or tls) sockets, the parser above, the runtime's handler. */
export class LaneHttpServer implements LaneServer {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  closing = false;
  private readonly net: NetServer;
  private readonly connections = new Set<Connection>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    options: LaneHttpOptions,
    readonly handler: LaneHandler,
  ) {
    this.headersTimeoutMs = options.headersTimeoutMs ?? 10_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 65_000;
    const accept = (socket: Socket): void => void this.connections.add(new Connection(socket, this));
    // Half-open allowed: a client that ends its side after a request still gets the answer.
    this.net = options.tls ? createTlsServer({ ...options.tls, allowHalfOpen: true }, accept) : createNetServer({ allowHalfOpen: true }, accept);
    const every = Math.max(10, Math.min(1000, Math.floor(Math.min(this.headersTimeoutMs, this.requestTimeoutMs, this.keepAliveTimeoutMs) / 4)));
    this.timer = setInterval(() => {
      const now = this.now();
      for (const c of this.connections) c.check(now);
    }, every);
    this.timer.unref();
  }

  now(): number {
    return performance.now();
  }

  forget(connection: Connection): void {
    this.connections.delete(connection);
  }

  listen(port: number, host: string, listening: () => void): this {
    this.net.listen(port, host, listening);
    return this;
  }

  address(): AddressInfo | string | null {
    return this.net.address();
  }

  close(closed?: (err?: Error) => void): this {
    this.closing = true;
    this.net.close((err) => {
      clearInterval(this.timer);
      closed?.(err);
    });
    this.closeIdleConnections();
    return this;
  }

  closeIdleConnections(): void {
    for (const c of this.connections) if (!c.active) c.destroy();
  }

  closeAllConnections(): void {
    for (const c of this.connections) c.destroy();
  }

  /** Open connections (tests, metrics). */
  get connectionCount(): number {
    return this.connections.size;
  }
}

export function createLaneHttpServer(options: LaneHttpOptions, handler: LaneHandler): LaneHttpServer {
  return new LaneHttpServer(options, handler);
}
