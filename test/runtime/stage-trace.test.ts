import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { DEFAULT_REGISTRY } from "../../registry/views";
import { fixedRegistry } from "../../runtime/registry-sync";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Signer } from "../../enclave/signer";
import { SignerClient } from "../../runtime/signer-client";
import { ReaderService } from "../../runtime/server";
import { MemoryStore } from "../../runtime/store/memory-store";
import { signerClockOffset, StageTraceLog, traceStamps, type FrameStamps } from "../../runtime/stage-trace";
import { parseTrace, stageDurations } from "../../bench/breakdown";
import { receivedFromSigned, verifyResponse } from "../../verifier/response";
import type { SignedResponse, SignReadRequest } from "../../wire/frames";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "stage-trace-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const READ: SignReadRequest = { method: "GET", path: "/v1/features/user_profile/u1", query: "", objects: [null] };

describe("runtime/stage-trace arithmetic", () => {
  it("centres the signer's span in the runtime's transit window (hops get half each)", () => {
    // Runtime: frame sent at 1000 µs, reply at 1600. Signer (own clock): received 50000, decoded 50100, signed 50400.
    const signer = { received: 50_000, decoded: 50_100, signed: 50_400, gc: [[50_200, 30]] as const };
    expect(signerClockOffset(1000, 1600, signer)).toBe(-48_900);
    const { stamps, signerGc } = traceStamps({ accepted: 0, storeSent: 200, storeAnswered: 900, responseWritten: 1700 }, { queued: 950, sent: 1000, received: 1600 }, signer);
    expect(stamps).toEqual({
      accepted: 0,
      storeSent: 200,
      storeAnswered: 900,
      frameQueued: 950,
      frameSent: 1000,
      signerReceived: 1100,
      signerDecoded: 1200,
      signerSigned: 1500,
      replyReceived: 1600,
      responseWritten: 1700,
    });
    expect(signerGc).toEqual([{ gc: "signer", start: 1300, duration: 30 }]);
    const d = stageDurations({ route: "features", status: 200, t: Object.values(stamps) });
    expect(d).toMatchObject({ store: 700, coalesce: 50, "hop out": 100, "signer decode": 100, "signer sign": 300, "hop back": 100, respond: 100 });
  });

  it("without a signer trailer shows the whole transit as signer work", () => {
    const { stamps } = traceStamps({ accepted: 0, storeSent: 1, storeAnswered: 2, responseWritten: 10 }, { queued: 3, sent: 4, received: 9 }, undefined);
    expect([stamps.signerReceived, stamps.signerDecoded, stamps.signerSigned]).toEqual([4, 4, 9]);
  });
});

describe("stage tracing over the signer protocol", () => {
  it("a tracing signer adds a trailer to traced reads only; the answer is the same and verifies", async () => {
    const socketPath = join(dir, "t.sock");
    const signer = new Signer({ registry: DEFAULT_REGISTRY, traceStages: true });
    const server = await signer.listen(socketPath);
    const client = new SignerClient({ socketPath, traceStages: true });
    try {
      await client.ready();
      const frame: FrameStamps = { queued: 0, sent: 0, received: 0 };
      const traced = await client.signReadTraced(READ, frame);
      expect(traced.trace).toBeDefined();
      const t = traced.trace!;
      expect(t.received).toBeLessThanOrEqual(t.decoded);
      expect(t.decoded).toBeLessThanOrEqual(t.signed);
      expect(frame.queued).toBeGreaterThan(0);
      expect(frame.queued).toBeLessThanOrEqual(frame.sent);
      expect(frame.sent).toBeLessThanOrEqual(frame.received);
      const plain = await client.signRead(READ);
      expect(plain.trace).toBeUndefined();
      for (const s of [traced, plain] as SignedResponse[]) {
        expect(JSON.parse(Buffer.from(s.body).toString()).entity).toBe("u1");
        verifyResponse(receivedFromSigned(s), { method: "GET", path: READ.path, query: "" }, { maxStaleness: Infinity, key: signer.key.info.jwk });
      }
    } finally {
      client.close();
      server.close();
    }
  });

  it("a signer started without tracing ignores the request for a trailer", async () => {
    const socketPath = join(dir, "u.sock");
    const server = await new Signer({ registry: DEFAULT_REGISTRY }).listen(socketPath);
    const client = new SignerClient({ socketPath, traceStages: true });
    try {
      await client.ready();
      const reply = await client.signReadTraced(READ, { queued: 0, sent: 0, received: 0 });
      expect(reply.status).toBe(404);
      expect(reply.trace).toBeUndefined();
    } finally {
      client.close();
      server.close();
    }
  });
});

describe("ReaderService with and without --trace-stages", () => {
  async function serve(stageTrace?: StageTraceLog) {
    const socketPath = join(dir, `r${Math.random().toString(36).slice(2)}.sock`);
    const signerServer = await new Signer({ registry: DEFAULT_REGISTRY, traceStages: true }).listen(socketPath);
    const signer = new SignerClient({ socketPath, traceStages: stageTrace !== undefined });
    await signer.ready();
    const sent: SignReadRequest[] = [];
    const signRead = signer.signRead.bind(signer);
    const signReadTraced = signer.signReadTraced.bind(signer);
    signer.signRead = (r) => (sent.push(r), signRead(r));
    signer.signReadTraced = (r, s) => (sent.push({ ...r, trace: true }), signReadTraced(r, s));
    const service = new ReaderService({ store: new MemoryStore(), signer, selfVerifyRate: 1, stageTrace, registry: fixedRegistry(DEFAULT_REGISTRY) });
    const http = service.createServer();
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    return {
      url,
      sent,
      stop: async () => {
        await new Promise((r) => http.close(r));
        signer.close();
        signerServer.close();
      },
    };
  }

  it("off: reads go out without a trace request and the answer carries no trace header", async () => {
    const lane = await serve(undefined);
    try {
      const res = await fetch(`${lane.url}/v1/features/user_profile/u1`);
      expect(res.status).toBe(404);
      expect(res.headers.get("signature")).toBeTruthy();
      expect(lane.sent).toHaveLength(1);
      expect(lane.sent[0].trace).toBeUndefined();
      expect([...res.headers.keys()].filter((h) => h.includes("trace"))).toEqual([]);
    } finally {
      await lane.stop();
    }
  });

  it("on: each read's stamps land in the trace file, in order, with the signer's span inside the transit", async () => {
    const file = join(dir, "trace.jsonl");
    const log = new StageTraceLog(file);
    const lane = await serve(log);
    try {
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${lane.url}/v1/features/user_profile/u${i}`);
        expect(res.status).toBe(404);
        expect(res.headers.get("signature")).toBeTruthy();
      }
      await new Promise((r) => setTimeout(r, 50)); // 'finish' handlers
    } finally {
      await lane.stop();
      await log.close();
    }
    const { reads } = parseTrace(readFileSync(file, "utf8"));
    expect(reads).toHaveLength(3);
    for (const r of reads) {
      expect(r.route).toBe("features");
      for (let i = 1; i < r.t.length; i++) expect(r.t[i]).toBeGreaterThanOrEqual(r.t[i - 1] - 0.2); // rounded to 0.1 µs
    }
  });
});
