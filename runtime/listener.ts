/**
 * The reader's listening socket: plain HTTP, or HTTPS with optional mutual TLS (clients must show a
 * certificate issued by --tls-client-ca), served by the lane's own HTTP/1.1 server (runtime/http1.ts,
 * `--http-server lane`) or by node:http (`--http-server node`, the fallback). Also turns Node's bare
 * parser errors (malformed request line, oversized headers) into the JSON error shape, and
 * implements the graceful drain (for either server).
 */
import { readFileSync } from "node:fs";
import { type Server as HttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import type { ReaderService } from "./server";
import { LaneError } from "../wire/errors";
import type { LaneServer } from "./http-types";
import { clientErrorResponse, createLaneHttpServer } from "./http1";

export interface TlsOptions {
  readonly certFile: string;
  readonly keyFile: string;
  /** When set, clients must present a certificate chaining to this CA (mTLS). */
  readonly clientCaFile?: string;
}

/** Which HTTP/1.1 implementation serves the runtime (`--http-server`). */
export type HttpServerKind = "lane" | "node";

export function createListener(service: ReaderService, tls?: TlsOptions, kind: HttpServerKind = "node"): LaneServer {
  if (kind === "lane") {
    return createLaneHttpServer(
      {
        headersTimeoutMs: 10_000,
        requestTimeoutMs: 30_000,
        keepAliveTimeoutMs: 65_000,
        tls: tls
          ? {
              cert: readFileSync(tls.certFile),
              key: readFileSync(tls.keyFile),
              ...(tls.clientCaFile ? { ca: readFileSync(tls.clientCaFile), requestCert: true, rejectUnauthorized: true } : {}),
              minVersion: "TLSv1.2",
            }
          : undefined,
      },
      (req, res) => void service.handle(req, res),
    );
  }
  let server: HttpServer;
  if (tls) {
    server = createHttpsServer(
      {
        cert: readFileSync(tls.certFile),
        key: readFileSync(tls.keyFile),
        ...(tls.clientCaFile ? { ca: readFileSync(tls.clientCaFile), requestCert: true, rejectUnauthorized: true } : {}),
        minVersion: "TLSv1.2",
      },
      (req: IncomingMessage, res: ServerResponse) => void service.handle(req, res),
    ) as unknown as HttpServer;
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
  } else {
    server = service.createServer();
  }
  installClientErrorHandler(server);
  return server;
}

/** Requests Node's parser rejects never reach the handler: answer them in the JSON shape too. */
export function installClientErrorHandler(server: HttpServer): void {
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || (err as { code?: string }).code === "ECONNRESET") {
      socket.destroy();
      return;
    }
    const code = err.code ?? "";
    socket.end(clientErrorResponse(new LaneError(code === "HPE_HEADER_OVERFLOW" ? "headers_too_large" : code === "ERR_HTTP_REQUEST_TIMEOUT" ? "request_timeout" : "bad_request")));
  });
}

/**
 * Graceful drain: stop accepting (the listening socket closes at once, so new connections are
 * refused), let requests in flight finish, close idle keep-alive connections as they become idle,
 * and give up after `timeoutMs` (then close everything). Resolves true when drained in time.
 */
export function drain(server: LaneServer, inFlight: () => number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (drained: boolean): void => {
      if (done) return;
      done = true;
      clearInterval(poll);
      clearTimeout(deadline);
      if (!drained) server.closeAllConnections();
      resolve(drained);
    };
    server.close(() => finish(true));
    server.closeIdleConnections();
    // Keep-alive connections become idle after their last answer: close them as they do.
    const poll = setInterval(() => {
      server.closeIdleConnections();
      if (inFlight() === 0) server.closeIdleConnections();
    }, 25);
    const deadline = setTimeout(() => finish(false), timeoutMs);
  });
}
