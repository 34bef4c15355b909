/**
 * runtime/http-types.ts: node:http's request, response and server and the lane's (runtime/http1.ts)
 * both satisfy the subset the runtime depends on — at compile time (the assignments below) and at
 * run time (each member is there, of the right kind, on the objects a real request produces).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createLaneHttpServer, type LaneHttpServer, type LaneIncomingMessage, type LaneServerResponse } from "../../runtime/http1";
import type { LaneRequest, LaneResponse, LaneServer } from "../../runtime/http-types";

// Compile-time: both implementations are assignable to the interfaces (no adapter).
const asRequest = (r: IncomingMessage | LaneIncomingMessage): LaneRequest => r;
const asResponse = (r: ServerResponse | LaneServerResponse): LaneResponse => r;
const asServer = (s: Server | LaneHttpServer): LaneServer => s;

function shape(req: LaneRequest, res: LaneResponse): Record<string, string> {
  return {
    method: typeof req.method,
    url: typeof req.url,
    headers: typeof req.headers,
    host: typeof req.headers.host,
    remoteAddress: typeof req.socket.remoteAddress,
    on: typeof req.on,
    removeAllListeners: typeof req.removeAllListeners,
    resume: typeof req.resume,
    statusCode: typeof res.statusCode,
    headersSent: typeof res.headersSent,
    setHeader: typeof res.setHeader,
    writeHead: typeof res.writeHead,
    end: typeof res.end,
    destroy: typeof res.destroy,
    once: typeof res.once,
  };
}

it.each([
  ["node", (h: (req: IncomingMessage | LaneIncomingMessage, res: ServerResponse | LaneServerResponse) => void) => createServer(h)],
  ["lane", (h: (req: IncomingMessage | LaneIncomingMessage, res: ServerResponse | LaneServerResponse) => void) => createLaneHttpServer({}, h)],
] as const)("a %s request and response carry every member the runtime uses", async (_kind, make) => {
  let seen: Record<string, string> = {};
  const server = asServer(
    make((req, res) => {
      seen = shape(asRequest(req), asResponse(res));
      res.end("ok");
    }),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  expect(await (await fetch(`http://127.0.0.1:${port}/x`)).text()).toBe("ok");
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  expect(seen).toEqual({
    method: "string",
    url: "string",
    headers: "object",
    host: "string",
    remoteAddress: "string",
    on: "function",
    removeAllListeners: "function",
    resume: "function",
    statusCode: "number",
    headersSent: "boolean",
    setHeader: "function",
    writeHead: "function",
    end: "function",
    destroy: "function",
    once: "function",
  });
});
