// Issue #13 write semantics against a hostile host: the host fetches the "current object" for a
// merge and can send anything in its place — a forged object, another entity's, an older genuine
// one, none at all — replay a tombstone, or send a delete no writer signed. Each is refused by the
// REAL signer process, next to the legitimate merge and delete.
import { randomBytes } from "node:crypto";
import { receivedFromSigned, verifyResponse } from "../../verifier/response";
import { decodeKeyInfo, decodeSealWriteResponse, decodeSignedResponse, FrameKind, type KeyInfo, type SealWriteResponse } from "../../wire/frames";
import { DEMO_VIEW } from "../../scripts/lane/demo-data";
import { signPush } from "../../wire/writer-auth";
import { testWriterKey } from "../helpers/key-directory";
import { SealKeyring } from "../../enclave/seal";
import { HostConnection, startRealSigner, type RealSigner } from "./hostile-host";

const VIEW = DEMO_VIEW;
let signer: RealSigner;
let key: KeyInfo;
let read: HostConnection;
let write: HostConnection;

const nonce = () => randomBytes(16).toString("base64url");
function signed(method: string, path: string, payload?: unknown, k: { kid: string; key: Buffer } = signer.writer) {
  const facts = { method, path, query: "", contentType: "application/json", body: payload === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(payload)) };
  return { ...facts, writerSignature: signPush(facts, k, { nonce: nonce() }) };
}
const pushOne = (entity: string, event_time: number, features: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  signed("POST", `/v1/features/${VIEW}`, { entity, event_time, features, ...extra });
async function seal(frame: unknown): Promise<SealWriteResponse> {
  return decodeSealWriteResponse(await write.ok(FrameKind.SealWrite, frame));
}
const objectOf = (s: SealWriteResponse, i = 0): Buffer => {
  const r = s.rows[i]!;
  if (!("object" in r)) throw new Error(`row ${i} was not sealed: ${JSON.stringify(r)}`);
  return Buffer.from(r.object);
};
const errorOf = (s: SealWriteResponse, i = 0) => {
  const r = s.rows[i]!;
  return "error" in r ? r.error : undefined;
};
/** A consumer's read of `entity`, answered by the signer over `object`, verified against the pinned key. */
async function consumerRead(entity: string, object: Buffer | null) {
  const path = `/v1/features/${VIEW}/${encodeURIComponent(entity)}`;
  const answer = decodeSignedResponse(
    await read.ok(FrameKind.SignRead, { method: "GET", path, query: "?features=country,segment", acceptSignature: 'sig1=("@status");nonce="consumer-nonce"', objects: [object] }),
  );
  verifyResponse(receivedFromSigned(answer), { method: "GET", path, query: "?features=country,segment" }, { maxStaleness: Infinity, key: key.jwk, nonce: "consumer-nonce" });
  return { status: answer.status, body: JSON.parse(Buffer.from(answer.body).toString()) };
}

beforeAll(async () => {
  signer = await startRealSigner();
  read = await signer.open("read");
  write = await signer.open("write");
  key = decodeKeyInfo(await read.ok(FrameKind.KeyInfo, {}));
}, 60_000);
afterAll(() => {
  for (const c of [read, write]) c?.close();
  signer?.stop();
});

describe("merge against a hostile host's current object", () => {
  const t0 = Date.now() - 60_000;

  test("legitimate: a merge into the genuine current object keeps the features the push does not carry", async () => {
    const v1 = objectOf(await seal(pushOne("adv_merge_1", t0, { country: "IN", segment: "gold" })));
    const v2 = objectOf(await seal({ ...pushOne("adv_merge_1", t0 + 1000, { country: "FR" }), current: [{ entity: "adv_merge_1", object: v1 }] }));
    const got = await consumerRead("adv_merge_1", v2);
    expect(got.body).toMatchObject({ found: true, written_by: "loader", features: { country: "FR", segment: "gold" }, status: { country: "PRESENT", segment: "PRESENT" } });
  });

  test("a forged current object (a key the directory does not list) is refused, its values never merged", async () => {
    const forger = new SealKeyring([{ ...testWriterKey("loader", signer.writer.kid), writer: "loader" }]);
    const forged = forger.seal({ view: VIEW, entity: "adv_merge_2", event_time: t0, written_time: t0, features: { segment: "host-made" } });
    const r = await seal({ ...pushOne("adv_merge_2", t0 + 1000, { country: "IN" }), current: [{ entity: "adv_merge_2", object: forged }] });
    expect(errorOf(r)).toMatchObject({ code: "current_object_invalid" });
    expect(errorOf(r)!.message).toMatch(/seal_invalid/);
    expect(r.rows[0]).not.toHaveProperty("object");
  });

  test("another entity's genuine object as the current one is refused (object_mismatch)", async () => {
    const victim = objectOf(await seal(pushOne("adv_merge_3_victim", t0, { segment: "victim-secret" })));
    const r = await seal({ ...pushOne("adv_merge_3", t0 + 1000, { country: "IN" }), current: [{ entity: "adv_merge_3", object: victim }] });
    expect(errorOf(r)).toMatchObject({ code: "current_object_invalid" });
    expect(errorOf(r)!.message).toMatch(/object_mismatch/);
  });

  test("an older genuine current object (a rollback) is refused, and so is withholding the newer one", async () => {
    const old = objectOf(await seal(pushOne("adv_merge_4", t0, { segment: "v1" })));
    const newer = objectOf(await seal({ ...pushOne("adv_merge_4", t0 + 2000, { segment: "v2" }), current: [{ entity: "adv_merge_4", object: old }] }));
    // The newer version is stored and served: the signer's P2 mark is now t0 + 2000.
    expect((await consumerRead("adv_merge_4", newer)).body).toMatchObject({ found: true, features: { segment: "v2" } });
    const rolledBack = await seal({ ...pushOne("adv_merge_4", t0 + 3000, { country: "IN" }), current: [{ entity: "adv_merge_4", object: old }] });
    expect(errorOf(rolledBack)).toMatchObject({ code: "rolled_back" });
    const withheld = await seal(pushOne("adv_merge_4", t0 + 1000, { country: "IN" }));
    expect(errorOf(withheld)).toMatchObject({ code: "older_than_stored" });
  });

  test("a re-seal needs the signer's own ticket for the same request: a made-up or other-request ticket is refused", async () => {
    const frame = pushOne("adv_merge_5", t0, { country: "IN" });
    const first = await seal(frame);
    expect((await write.refused(FrameKind.SealWrite, frame)).code).toBe("push_replayed");
    const retried = await seal({ ...frame, retryOf: first.ticket });
    expect(retried.ticket.attempt).toBe(2);
    expect((await write.refused(FrameKind.SealWrite, { ...frame, retryOf: { ...first.ticket, attempt: 0 } })).code).toBe("bad_write_ticket");
    expect((await write.refused(FrameKind.SealWrite, { ...pushOne("adv_merge_6", t0, { country: "XX" }), retryOf: first.ticket })).code).toBe("bad_write_ticket");
  });
});

describe("deletes against a hostile host", () => {
  const t0 = Date.now() - 30_000;

  test("legitimate: a writer-signed DELETE seals a tombstone; the read is a signed NOT_FOUND; an older write after it is refused", async () => {
    const v1 = objectOf(await seal(pushOne("adv_del_1", t0, { country: "IN" })));
    const del = await seal({ ...signed("DELETE", `/v1/features/${VIEW}/adv_del_1`), current: [{ entity: "adv_del_1", object: v1 }] });
    expect(del.ticket.kind).toBe("delete");
    const tomb = objectOf(del);
    const got = await consumerRead("adv_del_1", tomb);
    expect(got.status).toBe(404);
    expect(got.body.error.code).toBe("not_found");
    const late = await seal({ ...pushOne("adv_del_1", t0 + 1000, { country: "FR" }), current: [{ entity: "adv_del_1", object: tomb }] });
    expect(errorOf(late)).toMatchObject({ code: "older_than_stored" });
  });

  test("a delete without a writer signature, or signed by a key the host made up, is refused", async () => {
    const unsigned = { method: "DELETE", path: `/v1/features/${VIEW}/adv_del_2`, query: "", contentType: "application/json", body: Buffer.alloc(0), writerSignature: {} };
    expect((await write.refused(FrameKind.SealWrite, unsigned)).code).toBe("writer_signature_missing");
    const mine = testWriterKey("loader", signer.writer.kid);
    expect((await write.refused(FrameKind.SealWrite, signed("DELETE", `/v1/features/${VIEW}/adv_del_2`, undefined, mine))).code).toBe("writer_signature_invalid");
    // a genuine push signature does not cover a DELETE of the same entity (method is signed)
    const push = pushOne("adv_del_2", t0, { country: "IN" });
    expect((await write.refused(FrameKind.SealWrite, { ...push, method: "DELETE", path: `/v1/features/${VIEW}/adv_del_2` })).code).toMatch(
      /writer_signature_invalid|content_digest_mismatch/,
    );
  });

  test("a replayed tombstone is refused: the same signed DELETE again, and an old tombstone after a newer write", async () => {
    const del = signed("DELETE", `/v1/features/${VIEW}/adv_del_3`, { event_time: t0 });
    const tomb = objectOf(await seal(del));
    expect((await write.refused(FrameKind.SealWrite, del)).code).toBe("push_replayed");
    const back = objectOf(await seal({ ...pushOne("adv_del_3", t0 + 5000, { country: "IN" }), current: [{ entity: "adv_del_3", object: tomb }] }));
    expect((await consumerRead("adv_del_3", back)).body).toMatchObject({ found: true, features: { country: "IN" } });
    // The host serves the old tombstone in place of the newer object: refused (P2), not a NOT_FOUND.
    const replayed = await consumerRead("adv_del_3", tomb);
    expect(replayed.status).toBe(502);
    expect(replayed.body.error.code).toBe("rolled_back");
  });
});
