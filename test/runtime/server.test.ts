/**
 * runtime/server.ts in process: the real ReaderService, a real signer (enclave/signer.ts over a
 * Unix socket), a memory store. Dispatch comes from the route table (404 / 405 + Allow), every
 * route goes through the one query grammar, the gate takes each route's role from the table,
 * metrics carry the table's route label, and errors are the catalog's JSON shape.
 */
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { Server as NetServer } from "node:net";
import { createListener, type HttpServerKind } from "../../runtime/listener";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Signer } from "../../enclave/signer";
import type { Nsm } from "../../enclave/nsm/types";
import { generateKey } from "../../runtime/auth";
import { RequestGate } from "../../runtime/gate";
import { ReaderService } from "../../runtime/server";
import { fixedRegistry } from "../../runtime/registry-sync";
import { SignerClient } from "../../runtime/signer-client";
import { MemoryStore } from "../../runtime/store/memory-store";
import { DEFAULT_REGISTRY } from "../../registry/views";

const VIEW = DEFAULT_REGISTRY.names[0]!;
const FEATURE = DEFAULT_REGISTRY.get(VIEW)!.featureNames[0]!;
/** Records the nonce each attestation binds, so a test can see what reached the NSM. */
const nonces: Buffer[] = [];
const nsm: Nsm = {
  kind: "local",
  attest: async ({ nonce }) => {
    nonces.push(nonce ?? Buffer.alloc(0));
    return Buffer.from([0xd2, 0x84]);
  },
};

let dir: string;
let signerServer: NetServer;
let signer: SignerClient;

interface Lane {
  readonly url: string;
  readonly service: ReaderService;
  close(): Promise<void>;
}

/** Every test runs on both HTTP servers (`--http-server lane|node`): the runtime's behaviour is the same. */
let kind: HttpServerKind = "lane";

async function startReader(gate?: RequestGate): Promise<Lane> {
  const service = new ReaderService({ store: new MemoryStore(), signer, gate, selfVerifyRate: 1, registry: fixedRegistry(DEFAULT_REGISTRY) });
  const server = createListener(service, undefined, kind);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, service, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function call(lane: Lane, method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  const res = await fetch(`${lane.url}${path}`, { method, headers, body });
  const text = await res.text();
  let json: { error?: { code: string; message: string }; [k: string]: unknown } | undefined;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "server-test-"));
  const socketPath = join(dir, "signer.sock");
  signerServer = await new Signer({ nsm, registry: DEFAULT_REGISTRY }).listen(socketPath);
  signer = new SignerClient({ socketPath });
  await signer.ready();
});

afterAll(() => {
  signer.close();
  signerServer.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(["lane", "node"] as const)("on the %s HTTP server", (serverKind) => {
  beforeAll(() => {
    kind = serverKind;
  });

  describe("runtime/server: dispatch from the route table", () => {
    let lane: Lane;
    beforeAll(async () => {
      lane = await startReader();
    });
    afterAll(() => lane.close());

    it("answers 404 not_found_route for a path no route has, in the JSON error shape", async () => {
      for (const path of ["/v2/nothing", "/admin/reload", `/v1/features/${VIEW}/a/b`, "/metrics/"]) {
        const r = await call(lane, "GET", path);
        expect([path, r.status, r.json]).toEqual([path, 404, { error: { code: "not_found_route", message: "no such route" } }]);
        expect(r.headers.get("x-request-id")).toBeTruthy();
      }
    });

    it("answers 405 with an Allow header for a known path and the wrong method", async () => {
      const cases: [string, string, string][] = [
        ["PATCH", `/v1/features/${VIEW}/e1`, "DELETE, GET"],
        ["PUT", `/v1/features/${VIEW}/batch`, "DELETE, GET, POST"],
        ["GET", "/get-online-features", "POST"],
        ["GET", `/v1/features/${VIEW}`, "POST"],
        ["POST", "/health/live", "GET"],
      ];
      for (const [method, path, allow] of cases) {
        const r = await call(lane, method, path, { "content-type": "application/json" }, method === "GET" ? undefined : "{}");
        expect([method, path, r.status, r.json?.error?.code, r.headers.get("allow")]).toEqual([method, path, 405, "method_not_allowed", allow]);
      }
    });

    it("reads an entity named like a literal segment with GET (routes differ by method and shape, not by value)", async () => {
      for (const entity of ["batch", "_push"]) {
        const r = await call(lane, "GET", `/v1/features/${VIEW}/${entity}`);
        expect(r.status).toBe(404);
        expect(r.json).toMatchObject({ view: VIEW, entity, found: false, error: { code: "not_found" } });
        expect(r.headers.get("signature")).toBeTruthy();
      }
    });

    it("a signed answer carries the request id once, with its signature headers (the reads' one raw-array writeHead)", async () => {
      const r = await call(lane, "GET", `/v1/features/${VIEW}/someone`, { "x-request-id": "trace-7:abc" });
      expect(r.headers.get("x-request-id")).toBe("trace-7:abc");
      for (const h of ["signature", "signature-input", "content-digest"]) expect(r.headers.get(h)).toBeTruthy();
      expect(r.headers.get("cache-control")).toBe("no-store");
      expect(Number(r.headers.get("content-length"))).toBe(Buffer.byteLength(r.text));
      const generated = await call(lane, "GET", `/v1/features/${VIEW}/someone`);
      expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    });

    it("refuses invalid percent-encoding in the query on every route, attestation included", async () => {
      const before = nonces.length;
      for (const path of ["/v1/attestation?nonce=%%%zz", `/v1/features/${VIEW}/e1?features=%zz`, "/v1/signer?%E0%A4%A", "/health/live?x=%"]) {
        const r = await call(lane, "GET", path);
        expect([path, r.status, r.json?.error?.code]).toEqual([path, 400, "bad_query"]);
      }
      expect(nonces.length).toBe(before); // nothing reached the NSM
    });

    it("refuses unknown and repeated query parameters one way, on every route", async () => {
      for (const path of [
        `/v1/features/${VIEW}/e1?limit=3`,
        `/v1/features/${VIEW}/e1?features=${FEATURE}&features=${FEATURE}`,
        "/v1/attestation?nonce=a&nonce=b",
        "/v1/attestation?other=1",
        "/v1/signer?x=1",
        "/health/ready?verbose",
        "/metrics?name=x",
      ]) {
        const r = await call(lane, "GET", path);
        expect([path, r.status, r.json?.error?.code]).toEqual([path, 400, "bad_query"]);
      }
      const batch = await call(lane, "POST", `/v1/features/${VIEW}/batch?features=${FEATURE}`, { "content-type": "application/json" }, JSON.stringify({ entities: ["e1"] }));
      expect([batch.status, batch.json?.error?.code]).toEqual([400, "bad_query"]);
    });

    it("passes a well-formed, percent-encoded nonce to the NSM as its UTF-8 bytes", async () => {
      const r = await call(lane, "GET", `/v1/attestation?nonce=${encodeURIComponent("n ü+")}`);
      expect(r.status).toBe(200);
      expect(nonces.at(-1)!.toString("utf8")).toBe("n ü+");
      expect(Buffer.from(r.json!.nonce as string, "base64").toString("utf8")).toBe("n ü+");
    });

    it("labels metrics with the table's route label (404s and 405s as other)", async () => {
      await call(lane, "GET", `/v1/features/${VIEW}/e1`);
      await call(lane, "GET", "/health/live");
      await call(lane, "GET", "/nope");
      const text = await (await fetch(`${lane.url}/metrics`)).text();
      expect(text).toMatch(/lane_requests_total\{route="features",status="404",view="[a-z_]+"\} \d+/);
      expect(text).toMatch(/lane_requests_total\{route="live",status="200",view=""\} \d+/);
      expect(text).toMatch(/lane_requests_total\{route="other",status="404",view=""\} \d+/);
      expect(text).toMatch(/lane_requests_total\{route="other",status="405",view=""\} \d+/);
    });
  });

  describe("runtime/server: roles come from the route table", () => {
    const reader = generateKey("reader-1", "reader");
    const writer = generateKey("writer-1", "writer");
    const admin = generateKey("admin-1", "admin");
    let lane: Lane;
    beforeAll(async () => {
      lane = await startReader(new RequestGate({ keys: [reader.record, writer.record, admin.record], maxInFlight: 16 }));
    });
    afterAll(() => lane.close());

    it.each([
      ["GET", "/health/live", undefined, 200],
      ["GET", "/health/ready", undefined, 200],
      ["GET", `/v1/features/${VIEW}/e1`, undefined, 401],
      ["GET", `/v1/features/${VIEW}/e1`, "reader", 404],
      ["GET", "/v1/signer", "reader", 200],
      ["GET", "/metrics", "reader", 403],
      ["GET", "/metrics", "writer", 403],
      ["GET", "/metrics", "admin", 200],
      ["POST", `/v1/features/${VIEW}`, "reader", 403],
      ["POST", `/v1/features/${VIEW}/_push`, "reader", 403],
      // Unknown paths need a key before they say 404 (no route map for anonymous callers).
      ["GET", "/v2/nothing", undefined, 401],
      ["GET", "/v2/nothing", "reader", 404],
    ] as const)("%s %s as %s → %i", async (method, path, who, status) => {
      const key = who === "reader" ? reader.key : who === "writer" ? writer.key : who === "admin" ? admin.key : undefined;
      const r = await call(lane, method, path, key ? { authorization: `Bearer ${key}`, "content-type": "application/json" } : {}, method === "POST" ? "{}" : undefined);
      expect(r.status).toBe(status);
    });
  });
});
