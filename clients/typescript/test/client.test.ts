/**
 * The SDK against an in-process lane made of the real signer (enclave/signer.ts) behind a fake
 * fetch: the answers are genuine signed answers, so what these tests show about verification,
 * trust anchors, chunking and retries holds against the real runtime (test/e2e/sdk-typescript
 * runs the same client against a started lane).
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SigningKey } from "../../../enclave/key";
import { Signer } from "../../../enclave/signer";
import { DEFAULT_REGISTRY } from "../../../registry/views";
import { SealKeyring } from "../../../enclave/seal";
import { LocalNsm, measureLocalBundle } from "../../../enclave/nsm/local-nsm";
import { LaneKeys } from "../../../enclave/lane-keys";
import { loadPinnedRoot } from "../../../verifier/attestation";
import { entityMapValue, sealCheckpoint, toWireProof } from "../../../wire/checkpoint";
import { EntityMap, entityMapKey } from "../../../wire/entity-map";
import { encodeFrame, FRAME_HEADER_BYTES, FrameKind } from "../../../wire/frames";
import { attested, ExpressLaneClient, ExpressLaneError, laneKey, pinnedKeys, retryAfterMs, type ClientOptions } from "../src";

const keyring = new SealKeyring([{ kid: "sdk-test", key: Buffer.alloc(32, 0x42), writer: "loader" }]);
const NOW = Date.now();
const stored = new Map<string, Buffer>();
for (let i = 0; i < 250; i++) {
  const entity = `user_${String(i).padStart(6, "0")}`;
  stored.set(
    entity,
    keyring.seal({
      view: "user_profile",
      entity,
      event_time: NOW - 60_000,
      written_time: NOW - 30_000,
      features: { country: i % 2 ? "IN" : "FR", risk_score: i / 1000, referrer: null } as never,
    }),
  );
}

// P8: the view's sequencer (this test holds the writer key): the entity map of what is stored, and
// a checkpoint of it every signer of the fake lane is given; the fake host attaches proofs.
const entityMap = new EntityMap();
for (const [entity, bytes] of stored) entityMap.set(entityMapKey("user_profile", entity), entityMapValue(NOW - 60_000, bytes));
let checkpointAsOf = NOW - 1000;
const FAKE_LANE = "sdk";
function giveCheckpoint(signer: Signer, seq: number): void {
  const sealed = sealCheckpoint({ lane: FAKE_LANE, view: "user_profile", seq, as_of: checkpointAsOf, root: entityMap.rootHash(), entities: entityMap.size }, "sdk-test", Buffer.alloc(32, 0x42));
  signer.handle({ id: 1, kind: FrameKind.ProvideCheckpoints, payload: encodeFrame(1, FrameKind.ProvideCheckpoints, { checkpoints: [sealed] }).subarray(FRAME_HEADER_BYTES) }, "provision");
}

let devCaDir: string;
beforeAll(async () => {
  devCaDir = mkdtempSync(join(tmpdir(), "sdk-ca-"));
  // The dev CA (root.pem) is created on a LocalNsm's first attestation.
  await new LocalNsm({ bundlePath: __filename, devCaDir }).attest({ publicKey: Buffer.alloc(32, 1) });
});
afterAll(() => rmSync(devCaDir, { recursive: true, force: true }));

interface FakeLane {
  signer: Signer;
  fetch: typeof fetch;
  calls: Array<{ method: string; target: string; headers: Record<string, string>; body?: Buffer }>;
  /** Answer the next n requests with this status (unsigned runtime error) first. */
  failNext: (n: number, status: number, retryAfter?: string) => void;
  /** Rewrite the signed answer before it is handed out (a hostile host). */
  tamper?: (a: { status: number; headers: Record<string, string>; body: Buffer }) => void;
  restart: () => void;
  /** A host that attaches no entity-map proofs (every fresh_as_of null). */
  withholdProofs?: boolean;
}

/** A lane key every signer of the fake lane holds (when `withLaneKey`), valid for a day around now. */
const LANE_PRIVATE_KEY = generateKeyPairSync("ed25519").privateKey;
const LANE_KEY = SigningKey.fromPrivateKey(LANE_PRIVATE_KEY);
const LANE_KEY_WINDOW = { notBefore: NOW - 3_600_000, notAfter: NOW + 86_400_000 };

function fakeLane(withLaneKey = false): FakeLane {
  const nsm = new LocalNsm({ bundlePath: __filename, devCaDir });
  const make = () => {
    const laneKeys = new LaneKeys();
    if (withLaneKey) laneKeys.offer(LANE_KEY.keyid, LANE_PRIVATE_KEY, LANE_KEY_WINDOW.notBefore, LANE_KEY_WINDOW.notAfter);
    const signer = new Signer({ registry: DEFAULT_REGISTRY, key: SigningKey.generate(), nsm, keys: { keyring }, laneKeys, checkpointLane: FAKE_LANE });
    giveCheckpoint(signer, 1);
    return signer;
  };
  const failures: Array<{ status: number; retryAfter?: string }> = [];
  const lane: FakeLane = {
    signer: make(),
    calls: [],
    failNext: (n, status, retryAfter) => failures.push(...Array.from({ length: n }, () => ({ status, retryAfter }))),
    restart: () => (lane.signer = make()),
    fetch: (async (input: URL | string, init: RequestInit = {}) => {
      const url = new URL(String(input));
      const headers = Object.fromEntries(Object.entries((init.headers ?? {}) as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v]));
      const body = init.body === undefined || init.body === null ? undefined : Buffer.from(init.body as Uint8Array);
      const method = init.method ?? "GET";
      lane.calls.push({ method, target: url.pathname + url.search, headers, body });
      const failure = failures.shift();
      if (failure) {
        return new Response(JSON.stringify({ error: { code: failure.status === 429 ? "rate_limited" : "signer_unavailable", message: "try later" } }), {
          status: failure.status,
          headers: { "content-type": "application/json", ...(failure.retryAfter !== undefined ? { "retry-after": failure.retryAfter } : {}) },
        });
      }
      if (url.pathname === "/v1/signer")
        return Response.json({ ...lane.signer.key.info, lane_keys: withLaneKey ? [{ keyid: LANE_KEY.keyid, alg: "ed25519", jwk: LANE_KEY.info.jwk }] : [] });
      if (url.pathname === "/v1/attestation") {
        const nonce = Buffer.from(url.searchParams.get("nonce") ?? "", "utf8");
        const reply = await lane.signer.attest({ nonce });
        return Response.json({ document: Buffer.from(reply.document).toString("base64"), keyid: reply.keyid });
      }
      const path = url.pathname;
      const query = url.search === "" ? ((init as { rawQuery?: string }).rawQuery ?? "") : url.search;
      const entities: string[] = path.endsWith("/batch") ? (JSON.parse(body!.toString()) as { entities: string[] }).entities : [decodeURIComponent(path.split("/").pop()!)];
      const signed = lane.signer.signRead({
        method,
        path,
        query,
        accept: headers.accept,
        acceptSignature: headers["accept-signature"],
        contentType: headers["content-type"],
        body,
        objects: entities.map((e) => stored.get(e) ?? null),
        proofs: lane.withholdProofs ? undefined : entities.map((e) => toWireProof(1, entityMap.prove(entityMapKey("user_profile", e)))),
      });
      const answer = {
        status: signed.status,
        headers: { "content-type": signed.contentType, "content-digest": signed.contentDigest, "signature-input": signed.signatureInput, signature: signed.signature },
        body: Buffer.from(signed.body),
      };
      lane.tamper?.(answer);
      return new Response(answer.body, { status: answer.status, headers: answer.headers });
    }) as typeof fetch,
  };
  return lane;
}

const client = (lane: FakeLane, o: Partial<ClientOptions> = {}) =>
  new ExpressLaneClient({ url: "http://lane.test:8080", fetch: lane.fetch, trust: pinnedKeys(lane.signer.key.info.jwk), retry: { baseDelayMs: 1, maxDelayMs: 5 }, ...o });

describe("trust anchors", () => {
  it("refuses to construct without one; trustOnFirstUse must be explicit", () => {
    expect(() => new ExpressLaneClient({ url: "http://x" })).toThrow(expect.objectContaining({ code: "no_trust_anchor" }));
    expect(() => new ExpressLaneClient({ url: "http://x", trustOnFirstUse: false })).toThrow(expect.objectContaining({ code: "no_trust_anchor" }));
    expect(() => pinnedKeys()).toThrow(TypeError);
    expect(() => pinnedKeys("not-a-keyid")).toThrow(TypeError);
    expect(() => attested({ root: "aws", measurements: { Measurements: { PCR4: "ab".repeat(48) } } })).toThrow(/PCR0, PCR1, PCR2/);
  });

  it("a pinned JWK verifies; an answer by another key is refused and nothing is returned", async () => {
    const lane = fakeLane();
    const row = await client(lane).get("user_profile", "user_000001", { features: ["country", "referrer"] });
    expect(row).toMatchObject({
      entity: "user_000001",
      found: true,
      writtenBy: "loader",
      features: { country: "IN", referrer: null },
      status: { country: "PRESENT", referrer: "NULL_VALUE" },
    });
    expect(row.eventTime).toEqual(new Date(NOW - 60_000));
    expect(row.verification.keyid).toBe(lane.signer.key.keyid);
    const other = SigningKey.generate();
    await expect(client(lane, { trust: laneKey(other.info.jwk) }).get("user_profile", "user_000001")).rejects.toMatchObject({
      code: "verification_failed",
      details: { reason: "wrong_keyid" },
    });
  });

  it("a pinned keyid takes the key from /v1/signer only if its thumbprint matches", async () => {
    const lane = fakeLane();
    await expect(client(lane, { trust: pinnedKeys(lane.signer.key.keyid) }).get("user_profile", "user_000002")).resolves.toMatchObject({ found: true });
    await expect(client(lane, { trust: pinnedKeys(SigningKey.generate().keyid) }).get("user_profile", "user_000002")).rejects.toMatchObject({
      code: "verification_failed",
      details: { reason: "wrong_keyid" },
    });
  });

  it("attest(): verifies the document with a fresh nonce and trusts its key; a signer restart is re-attested", async () => {
    const lane = fakeLane();
    const trust = attested({ root: loadPinnedRoot("local", devCaDir), measurements: measureLocalBundle(__filename) });
    const c = client(lane, { trust });
    const key = await c.attest();
    expect(key?.keyid).toBe(lane.signer.key.keyid);
    const nonces = lane.calls.filter((x) => x.target.startsWith("/v1/attestation")).map((x) => new URL(x.target, "http://x").searchParams.get("nonce"));
    expect(nonces).toHaveLength(1);
    await expect(c.get("user_profile", "user_000003")).resolves.toMatchObject({ found: true });
    lane.restart();
    const after = await c.get("user_profile", "user_000003");
    expect(after.verification.keyid).toBe(lane.signer.key.keyid);
    const nonces2 = lane.calls.filter((x) => x.target.startsWith("/v1/attestation")).map((x) => new URL(x.target, "http://x").searchParams.get("nonce"));
    expect(nonces2).toHaveLength(2);
    expect(nonces2[0]).not.toBe(nonces2[1]);
  });

  it("attestation against another image's measurements is refused", async () => {
    const lane = fakeLane();
    const trust = attested({ root: loadPinnedRoot("local", devCaDir), measurements: { Measurements: { PCR0: "ab".repeat(48), PCR1: "cd".repeat(48), PCR2: "ef".repeat(48) } } });
    await expect(client(lane, { trust }).get("user_profile", "user_000001")).rejects.toMatchObject({ code: "attestation_failed", details: { reason: "PCR_MISMATCH" } });
  });

  it("lane key via attestation: the document names it, the client trusts it, a signer restart needs no new attestation", async () => {
    const lane = fakeLane(true);
    const trust = attested({ root: loadPinnedRoot("local", devCaDir), measurements: measureLocalBundle(__filename) });
    const c = client(lane, { trust });
    const key = await c.attest();
    expect(key?.laneKeyids).toEqual([LANE_KEY.keyid]);
    const row = await c.get("user_profile", "user_000003");
    expect(row.verification.keyid).toBe(LANE_KEY.keyid);
    lane.restart();
    await c.get("user_profile", "user_000004");
    expect(lane.calls.filter((x) => x.target.startsWith("/v1/attestation"))).toHaveLength(1);
  });

  it("a lane key the document does not name is not trusted from /v1/signer", async () => {
    const lane = fakeLane(false);
    const inner = lane.fetch;
    // The host advertises a lane key of its own next to an enclave that holds none.
    const impostor = SigningKey.generate();
    lane.fetch = (async (input: URL | string, init?: RequestInit) =>
      String(input).endsWith("/v1/signer")
        ? Response.json({ ...lane.signer.key.info, lane_keys: [{ keyid: impostor.keyid, jwk: impostor.info.jwk }] })
        : inner(input, init)) as typeof fetch;
    const c = client(lane, { trust: attested({ root: loadPinnedRoot("local", devCaDir), measurements: measureLocalBundle(__filename) }) });
    expect((await c.attest())?.laneKeyids).toEqual([]);
    expect(c.trustedKeyids).toEqual([lane.signer.key.keyid]);
  });

  it("a pinned lane key JWKS: verifies within its nbf/exp, refuses answers once it is retired", async () => {
    const lane = fakeLane(true);
    const s = (ms: number) => Math.floor(ms / 1000);
    const current = { ...LANE_KEY.info.jwk, kid: LANE_KEY.keyid, nbf: s(LANE_KEY_WINDOW.notBefore), exp: s(LANE_KEY_WINDOW.notAfter) };
    await expect(client(lane, { trust: laneKey({ keys: [current] }) }).get("user_profile", "user_000001")).resolves.toMatchObject({ verification: { keyid: LANE_KEY.keyid } });
    const retired = { ...current, exp: s(NOW - 60_000) };
    await expect(client(lane, { trust: laneKey({ keys: [retired] }) }).get("user_profile", "user_000001")).rejects.toMatchObject({
      code: "verification_failed",
      details: { reason: "key_not_valid" },
    });
  });

  it("trustOnFirstUse (development) takes /v1/signer", async () => {
    const lane = fakeLane();
    await expect(new ExpressLaneClient({ url: "http://lane.test", fetch: lane.fetch, trustOnFirstUse: true }).get("user_profile", "user_000004")).resolves.toMatchObject({
      found: true,
    });
  });
});

describe("verification", () => {
  it("sends a fresh nonce per request and refuses an answer replayed to another request", async () => {
    const lane = fakeLane();
    const c = client(lane);
    await c.get("user_profile", "user_000005");
    await c.get("user_profile", "user_000005");
    const nonces = lane.calls.map((x) => /nonce="([^"]+)"/.exec(x.headers["accept-signature"] ?? "")?.[1]);
    expect(nonces[0]).toBeDefined();
    expect(nonces[0]).not.toBe(nonces[1]);
    // The host replays the first answer to the next request.
    let first: { status: number; headers: Record<string, string>; body: Buffer } | undefined;
    lane.tamper = (a) => {
      if (!first) first = { ...a, headers: { ...a.headers } };
      else Object.assign(a, first);
    };
    await c.get("user_profile", "user_000006");
    await expect(c.get("user_profile", "user_000006")).rejects.toMatchObject({ code: "verification_failed", details: { reason: "nonce_mismatch" } });
  });

  it.each([
    ["a body byte", (a: { body: Buffer }) => (a.body[a.body.indexOf("IN")] = 0x4a), "digest_mismatch"],
    ["the status", (a: { status: number }) => (a.status = 404), "bad_signature"],
    [
      "the signature",
      (a: { headers: Record<string, string> }) => (a.headers.signature = a.headers.signature!.replace(/:(.)/, (_m, c: string) => `:${c === "A" ? "B" : "A"}`)),
      "bad_signature",
    ],
  ] as const)("rejects a tampered answer (%s)", async (_what, change, reason) => {
    const lane = fakeLane();
    lane.tamper = change as never;
    await expect(client(lane).get("user_profile", "user_000007", { features: ["country"] })).rejects.toMatchObject({ code: "verification_failed", details: { reason } });
  });

  it("binds batch answers to the body sent: an answer for another batch is refused", async () => {
    const lane = fakeLane();
    const c = client(lane);
    // The host answers with the signer's answer to the entities in another order.
    const original = lane.fetch;
    lane.fetch = (async (input: URL | string, init: RequestInit = {}) => {
      if (String(input).endsWith("/batch")) {
        const sent = JSON.parse(Buffer.from(init.body as Uint8Array).toString()) as { entities: string[] };
        return original(input, { ...init, body: Buffer.from(JSON.stringify({ entities: [...sent.entities].reverse() })) });
      }
      return original(input, init);
    }) as typeof fetch;
    await expect(
      new ExpressLaneClient({ url: "http://lane.test", fetch: lane.fetch, trust: pinnedKeys(lane.signer.key.info.jwk) }).getMany("user_profile", ["user_000001", "user_000002"]),
    ).rejects.toMatchObject({
      code: "verification_failed",
      details: { reason: "bad_signature" },
    });
    void c;
  });

  it("an unsigned 404 is an error, never a not-found row; a signed 404 is found: false", async () => {
    const lane = fakeLane();
    await expect(client(lane).get("user_profile", "nobody")).resolves.toMatchObject({ found: false, error: { code: "not_found" } });
    lane.tamper = (a) => {
      delete a.headers.signature;
    };
    await expect(client(lane).get("user_profile", "nobody")).rejects.toMatchObject({ code: "server_error", details: { status: 404 } });
  });
});

describe("reads", () => {
  it("getMany chunks at 100 entities, runs chunks in parallel, keeps input order and marks missing entities", async () => {
    const lane = fakeLane();
    let inFlight = 0;
    let maxInFlight = 0;
    const inner = lane.fetch;
    const c = client(lane, {
      fetch: (async (input: URL | string, init?: RequestInit) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        try {
          return await inner(input, init);
        } finally {
          inFlight--;
        }
      }) as typeof fetch,
    });
    const entities = [...Array.from({ length: 249 }, (_, i) => `user_${String(248 - i).padStart(6, "0")}`), "nobody"];
    const rows = await c.getMany("user_profile", entities, { features: ["country"] });
    expect(rows.map((r) => r.entity)).toEqual(entities);
    expect(rows.at(-1)).toMatchObject({ found: false, error: { code: "not_found" } });
    expect(rows[0]).toMatchObject({ found: true, features: { country: "FR" }, status: { country: "PRESENT" } });
    const batches = lane.calls.filter((x) => x.target.endsWith("/batch"));
    expect(batches.map((b) => (JSON.parse(b.body!.toString()) as { entities: string[] }).entities.length)).toEqual([100, 100, 50]);
    expect(maxInFlight).toBe(3);
  });

  it("reads MessagePack: typed values and Date event times", async () => {
    const lane = fakeLane();
    const row = await client(lane, { format: "msgpack" }).get("user_profile", "user_000010", { features: ["country", "risk_score"] });
    expect(lane.calls[0]!.headers.accept).toBe("application/msgpack");
    expect(row.features).toEqual({ country: "FR", risk_score: 0.01 });
    expect(row.eventTime).toBeInstanceOf(Date);
  });

  it("sends the API key", async () => {
    const lane = fakeLane();
    await client(lane, { apiKey: "k-123" }).get("user_profile", "user_000001");
    expect(lane.calls[0]!.headers["x-api-key"]).toBe("k-123");
  });
});

describe("retries and timeouts", () => {
  it("retries 503 and 429 with a fresh nonce each time, then succeeds", async () => {
    const lane = fakeLane();
    lane.failNext(1, 503, "0");
    lane.failNext(1, 429);
    const row = await client(lane).get("user_profile", "user_000001");
    expect(row.found).toBe(true);
    expect(lane.calls).toHaveLength(3);
    expect(new Set(lane.calls.map((x) => x.headers["accept-signature"])).size).toBe(3);
  });

  it("honours Retry-After (waits at least that long)", async () => {
    const lane = fakeLane();
    lane.failNext(1, 503, "1");
    const t0 = Date.now();
    await client(lane).get("user_profile", "user_000001");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
  });

  it("gives up after the attempts with the server's error code; a Retry-After beyond the cap fails at once", async () => {
    const lane = fakeLane();
    lane.failNext(10, 503);
    await expect(client(lane, { retry: { attempts: 3, baseDelayMs: 1 } }).get("user_profile", "user_000001")).rejects.toMatchObject({
      code: "server_error",
      details: { status: 503, reason: "signer_unavailable" },
    });
    expect(lane.calls).toHaveLength(3);
    const lane2 = fakeLane();
    lane2.failNext(1, 429, "3600");
    await expect(client(lane2).get("user_profile", "user_000001")).rejects.toMatchObject({ details: { status: 429 } });
    expect(lane2.calls).toHaveLength(1);
  });

  it("does not retry a 400", async () => {
    const lane = fakeLane();
    lane.failNext(1, 400);
    await expect(client(lane).get("user_profile", "user_000001")).rejects.toBeInstanceOf(ExpressLaneError);
    expect(lane.calls).toHaveLength(1);
  });

  it("times out a hanging request", async () => {
    const hang = (async (_input: unknown, init?: RequestInit) =>
      new Promise((_resolve, reject) => init?.signal?.addEventListener("abort", () => reject(init.signal!.reason)))) as typeof fetch;
    const lane = fakeLane();
    await expect(client(lane, { fetch: hang, timeoutMs: 50, retry: { attempts: 2, baseDelayMs: 1 } }).get("user_profile", "user_000001")).rejects.toMatchObject({
      code: "timeout",
    });
  });

  it("parses Retry-After as seconds or an HTTP date", () => {
    expect(retryAfterMs("2", 0)).toBe(2000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(retryAfterMs("soon", 0)).toBeUndefined();
  });
});

describe("freshness (docs/trust.md P8)", () => {
  it("exposes each row's signed freshAsOf and checkpointSeq", async () => {
    const row = await client(fakeLane()).get("user_profile", "user_000001");
    expect(row.freshAsOf).toEqual(new Date(checkpointAsOf));
    expect(row.checkpointSeq).toBe(1);
    const missing = (await client(fakeLane()).getMany("user_profile", ["user_000002", "nobody"]))[1]!;
    expect(missing).toMatchObject({ found: false, checkpointSeq: 1 });
  });

  it("rejects by default an answer the signer could not prove fresh (no proofs: fresh_as_of null)", async () => {
    const lane = fakeLane();
    lane.withholdProofs = true;
    await expect(client(lane).get("user_profile", "user_000001")).rejects.toMatchObject({ code: "verification_failed", details: { reason: "stale_answer" } });
    await expect(client(lane).getMany("user_profile", ["user_000001", "user_000002"])).rejects.toMatchObject({ details: { reason: "stale_answer" } });
  });

  it("rejects an answer older than the view's bound; a per-call or per-client maxStaleness replaces it; Infinity is the loud opt-out", async () => {
    const before = checkpointAsOf;
    checkpointAsOf = NOW - 120_000; // a host that forwards only an old checkpoint
    try {
      const lane = fakeLane();
      await expect(client(lane).get("user_profile", "user_000003")).rejects.toMatchObject({ details: { reason: "stale_answer" } });
      expect((await client(lane).get("user_profile", "user_000003", { maxStaleness: 3600 })).found).toBe(true);
      expect((await client(lane, { maxStaleness: 3600 }).get("user_profile", "user_000003")).found).toBe(true);
      await expect(client(lane, { maxStaleness: 3600 }).get("user_profile", "user_000003", { maxStaleness: 10 })).rejects.toMatchObject({ details: { reason: "stale_answer" } });
      const warn = jest.spyOn(process, "emitWarning").mockImplementation(() => undefined);
      try {
        lane.withholdProofs = true;
        expect((await client(lane, { maxStaleness: Infinity }).get("user_profile", "user_000003")).found).toBe(true);
        expect(String(warn.mock.calls[0]?.[0])).toMatch(/freshness check is OFF/);
      } finally {
        warn.mockRestore();
      }
    } finally {
      checkpointAsOf = before;
    }
  });
});
