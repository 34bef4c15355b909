import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { DEFAULT_REGISTRY } from "../../registry/views";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { Signer } from "../../enclave/signer";
import { generateSealKey, SealKeyring } from "../../enclave/seal";
import { HighWaterMarks } from "../../enclave/high-water";
import { SigningKey } from "../../enclave/key";
import { SharedHighWaterMarks } from "../../enclave/shared-high-water";
import { SignerClient } from "../../runtime/signer-client";
import { LaneError } from "../../wire/errors";
import { receivedFromSigned, verifyResponse } from "../../verifier/response";
import type { SignedResponse } from "../../wire/frames";

jest.setTimeout(60_000);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sign-workers-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const VIEW = "user_profile";
const writerKey = { ...generateSealKey("test"), writer: "loader" };
const seals = new SealKeyring([writerKey]);
const T = Date.now() - 60_000;
const object = (entity: string, eventTime = T) =>
  seals.seal({ view: VIEW, entity, event_time: eventTime, written_time: eventTime + 10, features: { country: "IN", segment: entity, txn_count_1d: 3 } });
const path = (e: string) => `/v1/features/${VIEW}/${e}`;
const QUERY = "?features=country,segment,txn_count_1d";

function verified(signer: Signer, s: SignedResponse, entity: string) {
  return verifyResponse(receivedFromSigned(s), { method: "GET", path: path(entity), query: QUERY }, { maxStaleness: Infinity, key: signer.key.info.jwk });
}
const body = (s: SignedResponse) => JSON.parse(Buffer.from(s.body).toString());

async function serve(signer: Signer, name: string) {
  const socketPath = join(dir, `${name}.sock`);
  const server = await signer.listen(socketPath);
  const client = new SignerClient({ socketPath, timeoutMs: 20_000 });
  await client.ready(20_000);
  return {
    client,
    stop: async () => {
      client.close();
      server.close();
      await signer.close();
    },
  };
}

describe("enclave/shared-high-water", () => {
  it("gives HighWaterMarks' verdicts, through growth", () => {
    const plain = new HighWaterMarks(10_000);
    const shared = new SharedHighWaterMarks(10_000);
    let seed = 7;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const mismatches: string[] = [];
    const verdicts = new Set<string>();
    for (let i = 0; i < 30_000; i++) {
      const e = `e${Math.floor(rnd() * 25_000)}`;
      const t = Math.floor(rnd() * 1000);
      const [a, b] = [shared.admit(VIEW, e, t), plain.admit(VIEW, e, t)];
      verdicts.add(a);
      if (a !== b) mismatches.push(`${i}: ${a} vs ${b}`);
    }
    expect(mismatches).toEqual([]);
    expect([...verdicts].sort()).toEqual(["high_water_full", "ok", "rolled_back"]);
    expect(shared.size).toBe(10_000);
    expect(shared.bytes).toBeGreaterThan(4096 * 16); // it grew
    expect(shared.admit(VIEW, "new-one", 1)).toBe("high_water_full");
  });

  it("is one table across threads: a mark raised in a worker refuses an older version here", async () => {
    const shared = new SharedHighWaterMarks(1000);
    const code = `
      const { workerData, parentPort } = require("node:worker_threads");
      require(${JSON.stringify(require.resolve("tsx/cjs"))});
      const { SharedHighWaterMarks } = require(${JSON.stringify(join(__dirname, "../../enclave/shared-high-water.ts"))});
      const t = new SharedHighWaterMarks(0, workerData);
      for (let i = 0; i < 500; i++) t.admit("v", "e" + i, 100);
      parentPort.postMessage(t.size);
    `;
    const w = new Worker(code, { eval: true, workerData: shared.handle });
    const size = await new Promise((r) => w.once("message", r));
    await w.terminate();
    expect(size).toBe(500);
    expect(shared.size).toBe(500);
    expect(shared.admit("v", "e42", 99)).toBe("rolled_back");
    expect(shared.admit("v", "e42", 100)).toBe("ok");
  });
});

describe("enclave/sign-workers (--workers 2)", () => {
  it("same answers, same key, verifiable, under concurrent load", async () => {
    const one = new Signer({ registry: DEFAULT_REGISTRY, keys: { keyring: seals } });
    const two = new Signer({ registry: DEFAULT_REGISTRY, keys: { keyring: seals }, workers: 2, key: undefined });
    const a = await serve(one, "one");
    const b = await serve(two, "two");
    try {
      expect(two.workerPool?.size).toBe(2);
      const entities = Array.from({ length: 300 }, (_, i) => `u${i}`);
      const [single, pooled] = await Promise.all([
        Promise.all(entities.map((e) => a.client.signRead({ method: "GET", path: path(e), query: QUERY, objects: [object(e)] }))),
        Promise.all(entities.map((e) => b.client.signRead({ method: "GET", path: path(e), query: QUERY, objects: [object(e)] }))),
      ]);
      for (let i = 0; i < entities.length; i++) {
        expect(pooled[i].status).toBe(200);
        expect(verified(two, pooled[i], entities[i]).keyid).toBe(two.key.keyid);
        // The same answer as the single-threaded signer gives (apart from who signed it).
        const { features, status, entity, event_time, written_by } = body(pooled[i]);
        const s = body(single[i]);
        expect({ features, status, entity, event_time, written_by }).toEqual({
          features: s.features,
          status: s.status,
          entity: s.entity,
          event_time: s.event_time,
          written_by: s.written_by,
        });
        expect(features).toEqual({ country: "IN", segment: entities[i], txn_count_1d: 3 });
      }
      // Both threads signed: each answered some of the reads (least-busy dispatch).
      expect(two.workerPool!.started).toBe(2);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("reads that arrive together reach each worker as one message (batched, not one message per read)", async () => {
    const signer = new Signer({ registry: DEFAULT_REGISTRY, keys: { keyring: seals }, workers: 2 });
    const lane = await serve(signer, "batched");
    try {
      await lane.client.signRead({ method: "GET", path: path("b0"), query: QUERY, objects: [object("b0")] }); // workers warm
      const sent: number[] = [];
      for (const w of signer.workerPool!.workers) {
        const post = w.postMessage.bind(w);
        w.postMessage = (m: { type: string; ids?: number[] }, transfer?: never) => {
          if (m.type === "sign") sent.push(m.ids!.length);
          post(m, transfer);
        };
      }
      // One event-loop turn: the client coalesces these into one write, the signer reads them in one or a few chunks.
      const entities = Array.from({ length: 40 }, (_, i) => `b${i + 1}`);
      const answers = await Promise.all(entities.map((e) => lane.client.signRead({ method: "GET", path: path(e), query: QUERY, objects: [object(e)] })));
      answers.forEach((s, i) => {
        expect(verified(signer, s, entities[i]).keyid).toBe(signer.key.keyid);
        expect(body(s).entity).toBe(entities[i]);
      });
      expect(sent.reduce((a, b) => a + b, 0)).toBe(40);
      console.log(`40 reads in one turn: ${sent.length} worker messages (${sent.join(", ")} reads each)`);
      expect(sent.length).toBeLessThan(40);
    } finally {
      await lane.stop();
    }
  });

  it("a batch-sized frame goes to its worker in the buffer it arrived in, and is answered byte for byte as one thread answers it", async () => {
    const key = SigningKey.generate();
    const one = new Signer({ registry: DEFAULT_REGISTRY, keys: { keyring: seals }, key });
    const two = new Signer({ registry: DEFAULT_REGISTRY, keys: { keyring: seals }, key, workers: 2 });
    const a = await serve(one, "whole-one");
    const b = await serve(two, "whole-two");
    try {
      // 100 entities: sealed objects of ≈ 1 KB, two hostile ones (junk, another entity's): a frame of > 100 KB, which spans socket reads.
      const entities = Array.from({ length: 100 }, (_, i) => `big${i}`);
      const large = (e: string) =>
        seals.seal({ view: VIEW, entity: e, event_time: T, written_time: T + 10, features: { country: "IN", segment: `${e}-${"s".repeat(1000)}`, txn_count_1d: 3 } });
      const objects = entities.map((e, i) => (i === 7 ? Buffer.alloc(3000, 0xee) : i === 8 ? large("big9") : large(e)));
      const request = {
        method: "POST",
        path: `/v1/features/${VIEW}/batch`,
        query: "",
        contentType: "application/json",
        body: Buffer.from(JSON.stringify({ entities, features: ["country", "segment"] })),
        objects,
      };
      const before = { ...two.workerPool!.dispatched };
      const [single, pooled] = await Promise.all([a.client.signRead(request), b.client.signRead(request)]);
      expect(two.workerPool!.dispatched.whole).toBe(before.whole + 1);
      expect(Buffer.from(pooled.body).equals(Buffer.from(single.body))).toBe(true);
      expect(pooled.contentDigest).toBe(single.contentDigest);
      const sent = { method: request.method, path: request.path, query: "", body: request.body };
      expect(verifyResponse(receivedFromSigned(pooled), sent, { maxStaleness: Infinity, key: key.info.jwk }).keyid).toBe(key.keyid);
      const results = body(pooled).results as Array<{ entity: string; found: boolean; error?: { code: string } }>;
      expect(results.filter((r) => r.found)).toHaveLength(98);
      expect(results[7].error?.code).toBe("corrupt_object");
      expect(results[8].found).toBe(false);
      // Many at once, interleaved with small reads: every answer is the one-thread answer.
      const mixed = Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? request : { method: "GET", path: path(`m${i}`), query: QUERY, objects: [object(`m${i}`)] }));
      const [singles, pooleds] = await Promise.all([Promise.all(mixed.map((r) => a.client.signRead(r))), Promise.all(mixed.map((r) => b.client.signRead(r)))]);
      pooleds.forEach((p, i) => expect(Buffer.from(p.body).equals(Buffer.from(singles[i].body))).toBe(true));
      expect(two.workerPool!.dispatched.whole).toBeGreaterThanOrEqual(before.whole + 1 + 8);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("refuses a rollback whichever worker gets it (one shared P2 table)", async () => {
    const signer = new Signer({ registry: DEFAULT_REGISTRY, keys: { keyring: seals }, workers: 2 });
    const lane = await serve(signer, "p2");
    try {
      const newer = await lane.client.signRead({ method: "GET", path: path("r1"), query: QUERY, objects: [object("r1", T + 5000)] });
      expect(body(newer).found).toBe(true);
      const older = await Promise.all(Array.from({ length: 40 }, () => lane.client.signRead({ method: "GET", path: path("r1"), query: QUERY, objects: [object("r1", T)] })));
      for (const o of older) {
        const b = body(o);
        expect(JSON.stringify(b)).toContain("rolled_back");
        expect(b.features?.country).toBeUndefined();
        verified(signer, o, "r1");
      }
    } finally {
      await lane.stop();
    }
  });

  it("a worker that dies fails its in-flight reads closed and is replaced with the same key", async () => {
    const signer = new Signer({ registry: DEFAULT_REGISTRY, keys: { keyring: seals }, workers: 2 });
    const lane = await serve(signer, "crash");
    try {
      await lane.client.signRead({ method: "GET", path: path("w0"), query: QUERY, objects: [object("w0")] }); // workers warm
      const inFlight = Array.from({ length: 200 }, (_, i) =>
        lane.client.signRead({ method: "GET", path: path(`c${i}`), query: QUERY, objects: [object(`c${i}`)] }).then(
          (s) => ({ ok: true as const, s, e: `c${i}` }),
          (err: unknown) => ({ ok: false as const, err }),
        ),
      );
      await new Promise((r) => setImmediate(r));
      await signer.workerPool!.workers[0].terminate();
      const results = await Promise.all(inFlight);
      for (const r of results) {
        if (r.ok) expect(verified(signer, r.s, r.e).keyid).toBe(signer.key.keyid);
        else {
          expect(r.err).toBeInstanceOf(LaneError);
          expect(r.err).toMatchObject({ code: "signer_worker_failed", status: 503 });
        }
      }
      console.log(`worker crash: ${results.filter((r) => !r.ok).length} of ${results.length} in-flight reads failed closed, the rest verified`);
      expect(signer.workerPool!.started).toBe(3);
      const after = await Promise.all(Array.from({ length: 20 }, (_, i) => lane.client.signRead({ method: "GET", path: path(`d${i}`), query: QUERY, objects: [object(`d${i}`)] })));
      after.forEach((s, i) => expect(verified(signer, s, `d${i}`).keyid).toBe(signer.key.keyid));
    } finally {
      await lane.stop();
    }
  });

  it("a signer whose workers cannot start does not start (no half-working signer)", async () => {
    const bad = join(dir, "bad-worker.js");
    writeFileSync(bad, "throw new Error('no key for you')");
    const signer = new Signer({ registry: DEFAULT_REGISTRY, keys: { keyring: seals }, workers: 2, workerScript: { file: bad } });
    await expect(signer.listen(join(dir, "bad.sock"))).rejects.toThrow("failed to start");
    await signer.close();
  });

  it("workers follow a key change the main thread makes (provisioning)", async () => {
    const holder: { keyring: SealKeyring | null } = { keyring: null };
    const signer = new Signer({ registry: DEFAULT_REGISTRY, keys: holder, workers: 2 });
    const lane = await serve(signer, "keys");
    try {
      const before = await lane.client.signRead({ method: "GET", path: path("k1"), query: QUERY, objects: [object("k1")] });
      expect(JSON.stringify(body(before))).toMatch(/seal_|key/); // no keys: refused
      expect(body(before).features?.country).toBeUndefined();
      holder.keyring = seals;
      const after = await lane.client.signRead({ method: "GET", path: path("k1"), query: QUERY, objects: [object("k1")] });
      expect(body(after).features.country).toBe("IN");
    } finally {
      await lane.stop();
    }
  });
});
