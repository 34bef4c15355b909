/**
 * The part of an HTTP request and response the runtime uses (runtime/server.ts, gate.ts, auth.ts,
 * request-id.ts, listener.ts). Node's IncomingMessage / ServerResponse / http.Server satisfy these
 * as they are, and so do the lane's own HTTP/1.1 server's objects (runtime/http1.ts): the runtime's
 * code depends on this subset only, so `--http-server lane|node` chooses the implementation without
 * an adapter on the hot path.
 */
import type { AddressInfo } from "node:net";

/** Header names lower-cased; repeated fields joined as node:http joins them (set-cookie an array). */
export type LaneHeaders = Readonly<Record<string, string | string[] | undefined>>;

export interface LaneRequest {
  readonly method?: string;
  /** The origin-form target, e.g. `/v1/features/v/e?features=a`. */
  readonly url?: string;
  readonly headers: LaneHeaders;
  readonly socket: { readonly remoteAddress?: string };
  /** The body arrives through `data` events, then `end`; `error` when the client goes away first. */
  on(event: "data", listener: (chunk: Buffer) => void): this;
  on(event: "end", listener: () => void): this;
  on(event: "error", listener: (err: Error) => void): this;
  removeAllListeners(event: "data"): this;
  /** Let the rest of the body go unread (discarded). */
  resume(): this;
}

export interface LaneResponse {
  statusCode: number;
  readonly headersSent: boolean;
  setHeader(name: string, value: string | number | readonly string[]): this;
  /** `headers` as an object, or as a flat [name, value, name, value, …] array (the read path's). */
  writeHead(status: number, headers?: Record<string, string | number | string[] | undefined> | string[]): this;
  end(body?: string | Uint8Array): this;
  destroy(): void;
  /** After the answer's last byte was handed to the socket. */
  once(event: "finish", listener: () => void): this;
}

/** What runtime/main.ts and the drain (runtime/listener.ts) need of a listening server. */
export interface LaneServer {
  listen(port: number, host: string, listening: () => void): this;
  address(): AddressInfo | string | null;
  /** Stop accepting; `closed` once every connection has ended. */
  close(closed?: (err?: Error) => void): this;
  /** Close the connections that are not serving a request now. */
  closeIdleConnections(): void;
  closeAllConnections(): void;
}
