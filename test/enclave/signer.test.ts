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
  return verifyResponse(receivedFromSigned(signed), { method: "GET", path, query }, { maxStaleness: Infinity, key: signer.key.info.jwk, nonce, now: NOW / 1000 });
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
      max_staleness: 60,
      entity: "u1",
      found: true,
      event_time: new Date(NOW - 5000).toISOString(),
      written_time: new Date(NOW - 1000).toISOString(),
      written_by: "loader",
      fresh_as_of: null,
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
    expect(answer.results.map((r: { entity: string; result: string }) => [r.entity, r.result])).toEqual([
      ["u1", "written"],
      ["u2", "rejected"],
    ]);
    expect(answer.results[0].object_digest).toBe(
      createHash("sha256")
        .update(sealed.rows[0] && "object" in sealed.rows[0] ? sealed.rows[0].object : Buffer.alloc(0))
        .digest("base64"),
    );
    verifyResponse(receivedFromSigned(signed), { method: "POST", path: "/v1/features/users/_push", query: "", body: request.body }, { key: signer.key.info.jwk, now: NOW / 1000 });
  });

  it("refuses outcomes that are missing, invented or duplicated, and keeps rejections", () => {
    const sealed = signer.sealWrite(push(rows));
    expect(() => signer.signWriteOutcome({ ticket: sealed.ticket, outcomes: [] })).toThrow(/no store outcome/);
    expect(() =>
      signer.signWriteOutcome({
        ticket: sealed.ticket,
        outcomes: [
          { index: 0, result: "written", stored_event_time: 1 },
          { index: 0, result: "written", stored_event_time: 1 },
        ],
      }),
    ).toThrow(/two outcomes/);
    expect(() =>
      signer.signWriteOutcome({
        ticket: sealed.ticket,
        outcomes: [
          { index: 0, result: "unchanged", stored_event_time: 1 },
          { index: 1, result: "written", stored_event_time: 1 },
        ],
      }),
    ).toThrow(/not sealed/);
  });
});

describe("enclave/signer merges pushes into the verified current object (issue #13)", () => {
  let clock = NOW;
  const signer = new Signer({ now: () => clock, registry, keys: { keyring: seals } });
  let n = 0;
  const request = (method: string, path: string, payload?: unknown) => {
    const facts = { method, path, query: "", contentType: "application/json", body: payload === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(payload)) };
    return { ...facts, writerSignature: signPush(facts, writerKey, { nowSeconds: Math.floor(clock / 1000), nonce: `merge-${String(++n).padStart(16, "0")}` }) };
  };
  const sealedObject = (r: ReturnType<Signer["sealWrite"]>, i = 0): Buffer => {
    const row = r.rows[i]!;
    if (!("object" in row)) throw new Error(`row ${i} refused: ${JSON.stringify(row)}`);
    return Buffer.from(row.object);
  };
  const codeOf = (r: ReturnType<Signer["sealWrite"]>, i = 0): string | undefined => {
    const row = r.rows[i]!;
    return "error" in row ? row.error.code : undefined;
  };
  const read = (entity: string, obj: Buffer | null, at = clock) => {
    clock = at;
    const signed = signer.signRead({ method: "GET", path: `/v1/features/users/${entity}`, query: "", objects: [obj] });
    return { status: signed.status, body: JSON.parse(Buffer.from(signed.body).toString()) };
  };

  it("merge keeps the other features (each with its own event time); replace drops them", () => {
    const first = signer.sealWrite(request("POST", "/v1/features/users", { entity: "m1", event_time: NOW - 7200_000 + 60_000, features: { a: 1, b: "old" } }));
    const v1 = sealedObject(first);
    const merged = signer.sealWrite({
      ...request("POST", "/v1/features/users", { entity: "m1", event_time: NOW - 60_000, features: { a: 2 } }),
      current: [{ entity: "m1", object: v1 }],
    });
    const v2 = sealedObject(merged);
    const got = read("m1", v2);
    expect(got.body.features).toMatchObject({ a: 2, b: null });
    // b is still stored, but its own event time is past the view's 1 h max age: per-feature OUTSIDE_MAX_AGE.
    expect(got.body.status).toMatchObject({ a: "PRESENT", b: "OUTSIDE_MAX_AGE" });
    const fresh = signer.sealWrite({
      ...request("POST", "/v1/features/users", { entity: "m1", event_time: NOW - 30_000, features: { b: "new" } }),
      current: [{ entity: "m1", object: v2 }],
    });
    expect(read("m1", sealedObject(fresh)).body.features).toMatchObject({ a: 2, b: "new" });
    const replaced = signer.sealWrite({
      ...request("POST", "/v1/features/users", { entity: "m1", event_time: NOW - 20_000, features: { a: 3 }, mode: "replace" }),
      current: [{ entity: "m1", object: sealedObject(fresh) }],
    });
    expect(read("m1", sealedObject(replaced)).body.status).toMatchObject({ a: "PRESENT", b: "NOT_FOUND" });
  });

  it("a sealed version whose write was lost (not reported stored) does not make the winner look rolled back", () => {
    const loser = signer.sealWrite(request("POST", "/v1/features/users", { entity: "m8", event_time: NOW - 100, features: { a: 1 } }));
    expect(codeOf(loser)).toBeUndefined();
    const winner = seals.seal({ view: "users", entity: "m8", event_time: NOW - 500, written_time: NOW, features: { b: "won" } });
    const retry = signer.sealWrite({
      ...request("POST", "/v1/features/users", { entity: "m8", event_time: NOW - 100, features: { a: 1 } }),
      current: [{ entity: "m8", object: winner }],
    });
    expect(codeOf(retry)).toBeUndefined();
    expect(read("m8", sealedObject(retry)).body.features).toMatchObject({ a: 1, b: "won" });
  });

  it("a host that sends current objects but leaves an entity out gets that row refused (never merged from nothing)", () => {
    const r = signer.sealWrite({
      ...request("POST", "/v1/features/users/_push", {
        rows: [
          { entity: "m9", event_time: NOW - 10, features: { a: 1 } },
          { entity: "m10", event_time: NOW - 10, features: { a: 1 } },
        ],
      }),
      current: [{ entity: "m9", object: null }],
    });
    expect(codeOf(r, 0)).toBeUndefined();
    expect(codeOf(r, 1)).toBe("current_object_missing");
  });

  it("refuses a row older than the current object, and an unchanged row returns the current bytes", () => {
    const v1 = sealedObject(signer.sealWrite(request("POST", "/v1/features/users", { entity: "m2", event_time: NOW - 1000, features: { a: 1 } })));
    const older = signer.sealWrite({
      ...request("POST", "/v1/features/users", { entity: "m2", event_time: NOW - 2000, features: { a: 0 } }),
      current: [{ entity: "m2", object: v1 }],
    });
    expect(codeOf(older)).toBe("older_than_stored");
    const same = signer.sealWrite({
      ...request("POST", "/v1/features/users", { entity: "m2", event_time: NOW - 1000, features: { a: 1 } }),
      current: [{ entity: "m2", object: v1 }],
    });
    expect(same.rows[0]).toMatchObject({ unchanged: true });
    expect(sealedObject(same)).toEqual(v1);
  });

  it("refuses to merge into a forged, other-entity or rolled-back current object, or when the host withholds a newer one", () => {
    const other = new SealKeyring([{ ...generateSealKey("forger"), writer: "mallory" }]);
    const forged = other.seal({ view: "users", entity: "m3", event_time: NOW - 10, written_time: NOW, features: { a: 666 } });
    const push = () => request("POST", "/v1/features/users", { entity: "m3", event_time: NOW - 100, features: { a: 1 } });
    expect(codeOf(signer.sealWrite({ ...push(), current: [{ entity: "m3", object: forged }] }))).toBe("current_object_invalid");
    const elsewhere = seals.seal({ view: "users", entity: "someone-else", event_time: NOW - 500, written_time: NOW, features: { a: 7 } });
    const r = signer.sealWrite({ ...push(), current: [{ entity: "m3", object: elsewhere }] });
    expect(codeOf(r)).toBe("current_object_invalid");
    expect("error" in r.rows[0]! && r.rows[0].error.message).toMatch(/object_mismatch/);
    // The signer seals m3 at NOW - 100 and the host reports it stored: an older genuine object is now a rollback…
    const fresh = signer.sealWrite(push());
    expect(codeOf(fresh)).toBeUndefined();
    signer.signWriteOutcome({ ticket: fresh.ticket, outcomes: [{ index: 0, result: "written", stored_event_time: NOW - 100 }] });
    const stale = seals.seal({ view: "users", entity: "m3", event_time: NOW - 5000, written_time: NOW - 5000, features: { a: 0 } });
    expect(
      codeOf(
        signer.sealWrite({ ...request("POST", "/v1/features/users", { entity: "m3", event_time: NOW - 50, features: { b: "x" } }), current: [{ entity: "m3", object: stale }] }),
      ),
    ).toBe("rolled_back");
    // …and "no current object" for a row older than the mark means the host withheld the newer one.
    expect(codeOf(signer.sealWrite(request("POST", "/v1/features/users", { entity: "m3", event_time: NOW - 200, features: { a: 1 } })))).toBe("older_than_stored");
  });

  it("a delete (DELETE route or a delete row) seals a tombstone that reads NOT_FOUND, signed; an older write after it is refused", () => {
    const v1 = sealedObject(signer.sealWrite(request("POST", "/v1/features/users", { entity: "m4", event_time: NOW - 1000, features: { a: 1 } })));
    const del = signer.sealWrite({ ...request("DELETE", "/v1/features/users/m4"), current: [{ entity: "m4", object: v1 }] });
    expect(del.ticket.kind).toBe("delete");
    const tomb = sealedObject(del);
    const got = read("m4", tomb);
    expect(got.status).toBe(404);
    expect(got.body.error.code).toBe("not_found");
    const late = signer.sealWrite({
      ...request("POST", "/v1/features/users", { entity: "m4", event_time: NOW - 500, features: { a: 2 } }),
      current: [{ entity: "m4", object: tomb }],
    });
    expect(codeOf(late)).toBe("older_than_stored");
    const rowDelete = signer.sealWrite({
      ...request("POST", "/v1/features/users/_push", {
        rows: [
          { entity: "m5", event_time: NOW - 10, delete: true },
          { entity: "m5", event_time: NOW - 5, features: { a: 1 } },
        ],
      }),
    });
    expect(read("m5", sealedObject(rowDelete)).status).toBe(404);
    expect(codeOf(rowDelete, 1)).toBe("duplicate_entity");
  });

  it("re-seals a push only for its own ticket, without a second nonce, at most MAX_WRITE_ATTEMPTS times; a plain replay is refused", () => {
    const req = request("POST", "/v1/features/users", { entity: "m6", event_time: NOW - 10, features: { a: 1 } });
    const first = signer.sealWrite(req);
    expect(() => signer.sealWrite(req)).toThrow(/already used/);
    let ticket = first.ticket;
    for (let attempt = 2; attempt <= 4; attempt++) {
      const again = signer.sealWrite({ ...req, retryOf: ticket });
      expect(again.ticket.attempt).toBe(attempt);
      ticket = again.ticket;
    }
    expect(() => signer.sealWrite({ ...req, retryOf: ticket })).toThrow(/attempts/);
    const otherReq = request("POST", "/v1/features/users", { entity: "m7", event_time: NOW - 10, features: { a: 1 } });
    expect(() => signer.sealWrite({ ...otherReq, retryOf: first.ticket })).toThrow(/another request/);
    expect(() => signer.sealWrite({ ...req, retryOf: { ...first.ticket, attempt: 0 } })).toThrow(/not issued by this signer or was altered/);
  });
});
