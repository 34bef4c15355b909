import { createHash } from "node:crypto";
import { Packr } from "msgpackr";
import { Signer } from "../../enclave/signer";
import { decodePayload, encodeFrame, ErrorReply, FrameKind, SignedResponse } from "../../wire/frames";
import { receivedFromSigned, verifyResponse } from "../../verifier/response";
import { signPush } from "../../wire/writer-auth";
import { defineRegistry } from "../../wire/registry";
import { generateSealKey, SealKeyring } from "../../enclave/seal";

const NOW = 1_800_000_000_000;
const registry = defineRegistry([
  {
    name: "users",
    entityKey: "user_id",
    owner: "tests",
    description: "signer tests",
    ttlSeconds: 3600,
    features: [
      { name: "a", type: "int" },
      { name: "b", type: "string" },
      { name: "c", type: "float_array" },
      { name: "d", type: "string" },
      { name: "zz", type: "float" },
    ],
  },
]);
const writerKey = { ...generateSealKey("test"), writer: "loader" };
const seals = new SealKeyring([writerKey]);
const object = (view: string, entity: string) =>
  seals.seal({ view, entity, event_time: NOW - 5000, written_time: NOW - 1000, features: { a: 1, b: "two", c: [0.5, 1.5], d: null } });

function verify(signer: Signer, signed: SignedResponse, path: string, query = "", nonce?: string) {
  return verifyResponse(
    receivedFromSigned(signed),
    { method: "GET", path, query },
    { key: signer.key.info.jwk, nonce, now: NOW / 1000 },
  );
}

describe("enclave/signer", () => {
  const signer = new Signer({ now: () => NOW, registry, keys: { keyring: seals } });

  it("projects, encodes and signs a found entity", () => {
    const signed = signer.signRead({ method: "GET", path: "/v1/features/users/u1", query: "?features=b,zz", objects: [object("users", "u1")] });
    expect(signed.status).toBe(200);
    const body = JSON.parse(Buffer.from(signed.body).toString());
    expect(body).toEqual({
      view: "users",
      registry_version: 0,
      registry_digest: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      entity: "u1",
      found: true,
      event_time: new Date(NOW - 5000).toISOString(),
      written_time: new Date(NOW - 1000).toISOString(),
      written_by: "loader",
      features: { b: "two", zz: null },
      status: { b: "PRESENT", zz: "NOT_FOUND" },
    });
    expect(verify(signer, signed, "/v1/features/users/u1", "?features=b,zz").keyid).toBe(signer.key.keyid);
  });

  it("signs a 404 for a missing entity and carries the client's nonce and label", () => {
    const signed = signer.signRead({ method: "GET", path: "/v1/features/users/u2", query: "", acceptSignature: 'mine=("@status");nonce="n-123"', objects: [null] });
    expect(signed.status).toBe(404);
    expect(signed.signatureInput.startsWith("mine=")).toBe(true);
    expect(verify(signer, signed, "/v1/features/users/u2", "", "n-123").nonce).toBe("n-123");
  });

  it("answers MessagePack when asked", () => {
    const signed = signer.signRead({ method: "GET", path: "/v1/features/users/u1", query: "", accept: "application/msgpack", objects: [object("users", "u1")] });
    expect(signed.contentType).toBe("application/msgpack");
    const body = new Packr({ useRecords: false, mapsAsObjects: true }).unpack(Buffer.from(signed.body));
    expect(body.features).toEqual({ a: 1, b: "two", c: [0.5, 1.5], d: null, zz: null });
    expect(body.status.d).toBe("NULL_VALUE");
  });

  it("refuses to sign another entity's object as this one (signed 502, no features)", () => {
    const signed = signer.signRead({ method: "GET", path: "/v1/features/users/u1", query: "", objects: [object("users", "someone_else")] });
    expect(signed.status).toBe(502);
    const body = JSON.parse(Buffer.from(signed.body).toString());
    expect(body.features).toBeUndefined();
    expect(body.error.code).toBe("object_mismatch");
  });

  it("refuses corrupt objects, per entity in a batch", () => {
    const signed = signer.signRead({
      method: "POST",
      path: "/v1/features/users/batch",
      query: "",
      contentType: "application/json",
      body: Buffer.from(JSON.stringify({ entities: ["u1", "u2", "u3"], features: ["a"] })),
      objects: [object("users", "u1"), Buffer.from("garbage"), null],
    });
    expect(signed.status).toBe(200);
    const body = JSON.parse(Buffer.from(signed.body).toString());
    expect(body.results.map((r: { found: boolean; error?: { code: string } }) => r.found || r.error?.code)).toEqual([true, "corrupt_object", "not_found"]);
  });

  it("derives the entity from the signed path, not from the host: a count mismatch is refused", async () => {
    const frame = encodeFrame(7, FrameKind.SignRead, { method: "GET", path: "/v1/features/users/u1", query: "", objects: [] });
    const reply = await signer.handle({ id: 7, kind: FrameKind.SignRead, payload: frame.subarray(9) }, "read");
    expect((reply as Buffer).readUInt8(8)).toBe(FrameKind.Error);
  });

  it("answers malformed frames with an error frame, never a signature", async () => {
    for (const payload of [{ method: 1 }, { method: "GET", path: "/v1/features/USERS/u1", query: "", objects: [null] }, "junk"]) {
      const frame = encodeFrame(9, FrameKind.SignRead, payload);
      const reply = (await signer.handle({ id: 9, kind: FrameKind.SignRead, payload: frame.subarray(9) }, "read")) as Buffer;
      expect(reply.readUInt8(8)).toBe(FrameKind.Error);
      const err = decodePayload<ErrorReply>({ id: 9, kind: FrameKind.Error, payload: reply.subarray(9) });
      expect(err.status).toBeGreaterThanOrEqual(400);
    }
  });
});

describe("enclave/signer push answers", () => {
  const signer = new Signer({ now: () => NOW, registry, keys: { keyring: seals } });
  const body = (rows: unknown[]) => Buffer.from(JSON.stringify({ rows }));
  let n = 0;
  const push = (rows: unknown[]) => {
    const facts = { method: "POST", path: "/v1/features/users/_push", query: "", contentType: "application/json", body: body(rows) };
    return { ...facts, writerSignature: signPush(facts, writerKey, { nowSeconds: NOW / 1000, nonce: `nonce-${String(++n).padStart(16, "0")}` }) };
  };
  const rows = [
    { entity: "u1", event_time: NOW - 10, features: { a: 1 } },
    { entity: "u2", event_time: NOW - 10, features: { nope: 1 } },
  ];

  it("builds the answer from the ticket it issued plus host outcomes, labelled, bound to the push body, and signs it", () => {
    const request = push(rows);
    const sealed = signer.sealWrite(request);
    expect(sealed.writer).toBe("loader");
    const signed = signer.signWriteOutcome({ ticket: sealed.ticket, outcomes: [{ index: 0, result: "written", stored_event_time: NOW - 10 }] });
    const answer = JSON.parse(Buffer.from(signed.body).toString());
    expect(answer).toMatchObject({ view: "users", written_by: "loader", outcome_reported_by: "host", summary: { written: 1, rejected: 1 } });
    expect(answer.results.map((r: { entity: string; result: string }) => [r.entity, r.result])).toEqual([["u1", "written"], ["u2", "rejected"]]);
    expect(answer.results[0].object_digest).toBe(createHash("sha256").update(sealed.rows[0] && "object" in sealed.rows[0] ? sealed.rows[0].object : Buffer.alloc(0)).digest("base64"));
    verifyResponse(receivedFromSigned(signed), { method: "POST", path: "/v1/features/users/_push", query: "", body: request.body }, { key: signer.key.info.jwk, now: NOW / 1000 });
  });

  it("refuses outcomes that are missing, invented or duplicated, and keeps rejections", () => {
    const sealed = signer.sealWrite(push(rows));
    expect(() => signer.signWriteOutcome({ ticket: sealed.ticket, outcomes: [] })).toThrow(/no store outcome/);
    expect(() => signer.signWriteOutcome({ ticket: sealed.ticket, outcomes: [{ index: 0, result: "written", stored_event_time: 1 }, { index: 0, result: "written", stored_event_time: 1 }] })).toThrow(/two outcomes/);
    expect(() => signer.signWriteOutcome({ ticket: sealed.ticket, outcomes: [{ index: 0, result: "unchanged", stored_event_time: 1 }, { index: 1, result: "written", stored_event_time: 1 }] })).toThrow(/not sealed/);
  });
});
