// The threat model's proof (docs/trust.md, P1–P7): a hostile host against the real signer process.
// Each attack from issue #11 must fail; each has a companion showing the legitimate path works.
import { createHash } from "node:crypto";
import { randomBytes } from "node:crypto";
import { SealKeyring } from "../../enclave/seal";
import { receivedFromSigned, verifyResponse, VerificationError } from "../../verifier/response";
import { contentDigest } from "../../wire/envelope";
import {
  decodeKeyInfo,
  decodeProvisionKeysResponse,
  decodeSealWriteResponse,
  decodeSignedResponse,
  FrameKind,
  type KeyInfo,
  type SealWriteResponse,
  type SignedResponse,
} from "../../wire/frames";
import { DEMO_VIEW } from "../../scripts/lane/demo-data";
import { signPush } from "../../wire/writer-auth";
import { directoryOf, listed, testWriterKey } from "../helpers/key-directory";
import { HostConnection, LANE, startRealSigner, type RealSigner } from "./hostile-host";

const VIEW = DEMO_VIEW;
const PUSH_PATH = `/v1/features/${VIEW}/_push`;
let signer: RealSigner;
let key: KeyInfo;
let read: HostConnection;
let write: HostConnection;
let provision: HostConnection;
let epoch = 1;

const nonce = () => randomBytes(16).toString("base64url");
const pushFacts = (rows: unknown[]) => ({ method: "POST", path: PUSH_PATH, query: "", contentType: "application/json", body: Buffer.from(JSON.stringify({ rows })) });
const row = (entity: string, event_time = Date.now() - 1000, features: Record<string, unknown> = { country: "IN" }) => ({ entity, event_time, features });
function signedPushFrame(rows: unknown[], k: { kid: string; key: Buffer } = signer.writer) {
  const facts = pushFacts(rows);
  return { ...facts, writerSignature: signPush(facts, k, { nonce: nonce() }) };
}
const readFrame = (entity: string, object: Uint8Array | null, acceptSignature = 'sig1=("@status");nonce="consumer-nonce"') => ({
  method: "GET",
  path: `/v1/features/${VIEW}/${entity}`,
  query: "?features=country",
  acceptSignature,
  objects: [object],
});
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are walked freely in assertions
const bodyOf = (s: SignedResponse) => JSON.parse(Buffer.from(s.body).toString()) as Record<string, any>;
// Freshness (P8) is test/adversary/freshness.test.ts's subject: this signer is given no checkpoints,
// so these checks opt out of it explicitly (maxStaleness: Infinity) and test P1–P7 only.
async function signedRead(entity: string, object: Uint8Array | null): Promise<SignedResponse> {
  const signed = decodeSignedResponse(await read.ok(FrameKind.SignRead, readFrame(entity, object)));
  // What a consumer does: verify against the pinned key, its own request and nonce.
  verifyResponse(receivedFromSigned(signed), { method: "GET", path: `/v1/features/${VIEW}/${entity}`, query: "?features=country" }, { maxStaleness: Infinity, key: key.jwk, nonce: "consumer-nonce" });
  return signed;
}
async function sealed(entity: string, eventTime?: number): Promise<SealWriteResponse> {
  return decodeSealWriteResponse(await write.ok(FrameKind.SealWrite, signedPushFrame([row(entity, eventTime)])));
}
const objectOf = (s: SealWriteResponse, i = 0): Buffer => {
  const r = s.rows[i]!;
  if (!("object" in r)) throw new Error(`row ${i} was not sealed: ${JSON.stringify(r)}`);
  return Buffer.from(r.object);
};

beforeAll(async () => {
  signer = await startRealSigner();
  read = await signer.open("read");
  write = await signer.open("write");
  provision = await signer.open("provision");
  key = decodeKeyInfo(await read.ok(FrameKind.KeyInfo, {}));
}, 60_000);
afterAll(() => {
  for (const c of [read, write, provision]) c?.close();
  signer?.stop();
});

describe("attack 1: forged values signed as PRESENT (P1 no host-minted writes)", () => {
  test("legitimate: a writer-signed push is sealed under the writer's key and read back PRESENT, written_by the writer", async () => {
    const s = await sealed("user_adv_1");
    expect(s.writer).toBe("loader");
    const answer = bodyOf(await signedRead("user_adv_1", objectOf(s)));
    expect(answer).toMatchObject({ found: true, written_by: "loader", features: { country: "IN" }, status: { country: "PRESENT" } });
  });

  test("a push with no writer signature is refused", async () => {
    const err = await write.refused(FrameKind.SealWrite, { ...pushFacts([row("user_adv_x")]), writerSignature: {} });
    expect(err.code).toBe("writer_signature_missing");
  });

  test("a push signed with a key the host made up (not in the admin's directory) is refused", async () => {
    const mine = testWriterKey("loader", signer.writer.kid); // same kid, host's own key
    const err = await write.refused(FrameKind.SealWrite, signedPushFrame([row("user_adv_x")], mine));
    expect(err.code).toBe("writer_signature_invalid");
    expect(err.message).toMatch(/does not verify/);
    const other = testWriterKey("loader");
    expect((await write.refused(FrameKind.SealWrite, signedPushFrame([row("user_adv_x")], other))).code).toBe("writer_key_unknown");
  });

  test("a genuine writer signature over other rows does not cover the host's rows (body swapped)", async () => {
    const genuine = signedPushFrame([row("user_adv_2")]);
    const swapped = { ...genuine, body: Buffer.from(JSON.stringify({ rows: [row("user_adv_2", Date.now(), { country: "XX" })] })) };
    expect((await write.refused(FrameKind.SealWrite, swapped)).code).toBe("content_digest_mismatch");
    // …and with the Content-Digest header fixed up to match, the MAC no longer verifies.
    const fixed = { ...swapped, writerSignature: { ...swapped.writerSignature, contentDigest: contentDigest(swapped.body) } };
    expect((await write.refused(FrameKind.SealWrite, fixed)).message).toMatch(/does not verify/);
  });

  test("a genuine push replayed is refused; an old one is stale", async () => {
    const frame = signedPushFrame([row("user_adv_3")]);
    await write.ok(FrameKind.SealWrite, frame);
    expect((await write.refused(FrameKind.SealWrite, frame)).code).toBe("push_replayed");
    const facts = pushFacts([row("user_adv_3")]);
    const old = { ...facts, writerSignature: signPush(facts, signer.writer, { nonce: nonce(), nowSeconds: Math.floor(Date.now() / 1000) - 3600 }) };
    expect((await write.refused(FrameKind.SealWrite, old)).code).toBe("writer_signature_stale");
  });

  test("an object the host sealed with its own key is a signed per-entity refusal, never a value", async () => {
    const forged = new SealKeyring([testWriterKey("loader", signer.writer.kid)]).seal({
      view: VIEW,
      entity: "user_adv_4",
      event_time: Date.now(),
      written_time: Date.now(),
      features: { country: "XX" },
    });
    const answer = bodyOf(await signedRead("user_adv_4", forged));
    expect(answer).toMatchObject({ found: false, error: { code: "seal_invalid" } });
    expect(JSON.stringify(answer)).not.toContain("XX");
  });
});

describe("the signer's per-entity outcomes (SignedResponse.served, metrics only)", () => {
  test("legitimate: the real signer reports each entity's status and age, in object order, matching what it signed", async () => {
    const fresh = await sealed("user_adv_served_1", Date.now() - 5000);
    const signed = decodeSignedResponse(await read.ok(FrameKind.SignRead, readFrame("user_adv_served_1", objectOf(fresh))));
    expect(signed.served).toHaveLength(1);
    expect(signed.served![0]!.status).toBe("found");
    expect(signed.served![0]!.ageSeconds).toBeGreaterThanOrEqual(4);
    const missing = decodeSignedResponse(await read.ok(FrameKind.SignRead, readFrame("user_adv_served_2", null)));
    expect(missing.served).toEqual([{ status: "not_found" }]);
  });

  test("a host-made object is 'refused' there too, and the unsigned outcomes are not part of what a consumer verifies", async () => {
    const forged = decodeSignedResponse(await read.ok(FrameKind.SignRead, readFrame("user_adv_served_3", Buffer.from("host-made bytes"))));
    expect(forged.served).toEqual([{ status: "refused" }]);
    expect(bodyOf(forged)).not.toHaveProperty("served");
    // Whatever a host writes into `served` (it could: it is the host's copy), the signed answer
    // stays the signer's: changing it leaves the signature valid and the body untouched.
    const tampered: SignedResponse = { ...forged, served: [{ status: "found", ageSeconds: 0 }] };
    expect(() =>
      verifyResponse(
        receivedFromSigned(tampered),
        { method: "GET", path: `/v1/features/${VIEW}/user_adv_served_3`, query: "?features=country" },
        { maxStaleness: Infinity, key: key.jwk, nonce: "consumer-nonce" },
      ),
    ).not.toThrow();
    expect(bodyOf(tampered).found).toBe(false);
  });
});

describe("attack 2: a batch answer for another request (P3 bound to the whole request)", () => {
  const consumerBody = Buffer.from(JSON.stringify({ entities: ["user_adv_1", "user_adv_5"], features: ["country"] }));
  const hostBody = Buffer.from(JSON.stringify({ entities: ["user_adv_5", "user_adv_1"], features: ["country"] }));
  const batch = (body: Buffer, objects: (Buffer | null)[]) => ({ method: "POST", path: `/v1/features/${VIEW}/batch`, query: "", contentType: "application/json", body, objects });
  const consumer = { method: "POST", path: `/v1/features/${VIEW}/batch`, query: "", body: consumerBody };

  test("legitimate: the answer to the consumer's own body verifies", async () => {
    const signed = decodeSignedResponse(await read.ok(FrameKind.SignRead, batch(consumerBody, [null, null])));
    expect(verifyResponse(receivedFromSigned(signed), consumer, { maxStaleness: Infinity, key: key.jwk }).keyid).toBe(key.keyid);
  });

  test("the answer to a body the host chose (other order) fails against the consumer's request", async () => {
    const signed = decodeSignedResponse(await read.ok(FrameKind.SignRead, batch(hostBody, [null, null])));
    expect(() => verifyResponse(receivedFromSigned(signed), consumer, { maxStaleness: Infinity, key: key.jwk })).toThrow(VerificationError);
    try {
      verifyResponse(receivedFromSigned(signed), consumer, { maxStaleness: Infinity, key: key.jwk });
    } catch (err) {
      expect((err as VerificationError).code).toBe("bad_signature");
    }
  });
});

describe("attack 3: signed push outcomes for rows never sealed (P3 outcomes bound to what the enclave sealed)", () => {
  test("legitimate: the ticket from SealWrite yields a signed answer naming the sealed object's digest", async () => {
    const facts = signedPushFrame([row("user_adv_6")]);
    const s = decodeSealWriteResponse(await write.ok(FrameKind.SealWrite, facts));
    const signed = decodeSignedResponse(
      await write.ok(FrameKind.SignWriteOutcome, { ticket: s.ticket, outcomes: [{ index: 0, result: "written", stored_event_time: Date.now() }] }),
    );
    verifyResponse(receivedFromSigned(signed), { method: "POST", path: PUSH_PATH, query: "", body: facts.body }, { key: key.jwk });
    const answer = bodyOf(signed);
    expect(answer.results[0]).toMatchObject({
      entity: "user_adv_6",
      result: "written",
      written_by: "loader",
      object_digest: createHash("sha256").update(objectOf(s)).digest("base64"),
    });
  });

  test("without a ticket, with a made-up ticket, or with rows added to a genuine one, there is no signed answer", async () => {
    const s = await sealed("user_adv_7");
    const outcomes = [{ index: 0, result: "written", stored_event_time: Date.now() }];
    expect((await write.refused(FrameKind.SignWriteOutcome, { outcomes })).code).toBe("bad_frame");
    const madeUp = { ...s.ticket, mac: randomBytes(32) };
    expect((await write.refused(FrameKind.SignWriteOutcome, { ticket: madeUp, outcomes })).code).toBe("bad_write_ticket");
    const added = { ...s.ticket, rows: [...s.ticket.rows, [1, "user_never", Date.now(), "AAAA"]] };
    expect((await write.refused(FrameKind.SignWriteOutcome, { ticket: added, outcomes: [...outcomes, { index: 1, result: "written", stored_event_time: 1 }] })).code).toBe(
      "bad_write_ticket",
    );
    const otherEntity = { ...s.ticket, rows: [[0, "user_other", s.ticket.rows[0]![2], s.ticket.rows[0]![3]]] };
    expect((await write.refused(FrameKind.SignWriteOutcome, { ticket: otherEntity, outcomes })).code).toBe("bad_write_ticket");
  });
});

describe("P2: monotonic per enclave", () => {
  test("after serving version t2 of an entity, the genuine older version t1 is refused; t2 again is fine", async () => {
    const t1 = await sealed("user_adv_10", Date.now() - 60_000);
    const t2 = await sealed("user_adv_10", Date.now() - 1000);
    expect(bodyOf(await signedRead("user_adv_10", objectOf(t2))).found).toBe(true);
    expect(bodyOf(await signedRead("user_adv_10", objectOf(t1))).error.code).toBe("rolled_back");
    expect(bodyOf(await signedRead("user_adv_10", objectOf(t2))).found).toBe(true);
  });

  test("a newer version the writer was told is stored raises the mark: the older object is refused before it is ever read", async () => {
    const t1 = await sealed("user_adv_11", Date.now() - 60_000);
    const t2 = await sealed("user_adv_11", Date.now() - 1000);
    // The writer's signed answer says "written" only after this: from then on t1 is a rollback.
    await write.ok(FrameKind.SignWriteOutcome, { ticket: t2.ticket, outcomes: [{ index: 0, result: "written", stored_event_time: Date.now() - 1000 }] });
    expect(bodyOf(await signedRead("user_adv_11", objectOf(t1))).error.code).toBe("rolled_back");
  });

  test("a sealed version the host never reports stored does not raise the mark (it lost its write, or was dropped — as if never pushed)", async () => {
    const t1 = await sealed("user_adv_12", Date.now() - 60_000);
    await sealed("user_adv_12", Date.now() - 1000);
    expect(bodyOf(await signedRead("user_adv_12", objectOf(t1))).found).toBe(true);
  });
});

describe("P5: signed bodies carry only signer-authored text", () => {
  test("a stored object of host-chosen bytes yields a fixed message, not a preview of the bytes", async () => {
    const answer = bodyOf(await signedRead("user_adv_12", Buffer.from("HOST-CHOSEN-TEXT-HOST-CHOSEN-TEXT")));
    expect(answer.error.code).toBe("corrupt_object");
    expect(JSON.stringify(answer)).not.toContain("HOST-CHOSEN");
  });
});

describe("P7: the channel has roles and bounds", () => {
  test("frames outside a connection's role are refused: a read connection cannot seal or provision", async () => {
    expect((await read.refused(FrameKind.SealWrite, signedPushFrame([row("user_adv_13")]))).code).toBe("frame_not_allowed");
    expect((await read.refused(FrameKind.ProvisionKeys, { directory: Buffer.alloc(1) })).code).toBe("frame_not_allowed");
    expect((await write.refused(FrameKind.SignRead, readFrame("user_adv_13", null))).code).toBe("frame_not_allowed");
    expect((await provision.refused(FrameKind.SealWrite, signedPushFrame([row("user_adv_13")]))).code).toBe("frame_not_allowed");
  });

  test("a connection that does not start with Hello is dropped", async () => {
    const anonymous = await signer.open(null);
    expect(await anonymous.request(FrameKind.SignRead, readFrame("user_adv_13", null))).toBe("closed");
  });

  test("a frame larger than the role allows drops the connection (bounded buffering)", async () => {
    const conn = await signer.open("provision");
    expect(await conn.request(FrameKind.ProvisionKeys, { directory: Buffer.alloc(2 * 1024 * 1024) })).toBe("closed");
  });

  test("frames of the right kind but the wrong shape are refused by the typed decoder", async () => {
    expect((await read.refused(FrameKind.SignRead, { method: "GET", path: 7, query: "", objects: [] })).code).toBe("bad_frame");
    expect((await write.refused(FrameKind.SealWrite, "junk")).code).toBe("bad_frame");
  });

  test("connections per role are capped: the host cannot make the signer hold unbounded state", async () => {
    const extra: HostConnection[] = [];
    let refusedAt = -1;
    for (let i = 0; i < 4; i++) {
      const c = await signer.open(null);
      extra.push(c);
      const r = await c.request(FrameKind.Hello, { role: "provision", protocol: 2 });
      if (r === "closed" || r.kind === FrameKind.Error) {
        refusedAt = i;
        break;
      }
    }
    for (const c of extra) c.close();
    // provision already has one connection open (the suite's), so the second extra one is refused.
    expect(refusedAt).toBe(1);
  });

  test("the signer is still serving after all of the above", async () => {
    const s = await sealed("user_adv_14");
    expect(bodyOf(await signedRead("user_adv_14", objectOf(s))).found).toBe(true);
  });
});

describe("the Feast route and lane keys under a hostile host", () => {
  const feastBody = (entities: string[]) => Buffer.from(JSON.stringify({ features: [`${VIEW}:country`], entities: { user_id: entities } }));
  const feastFrame = (body: Buffer, objects: (Buffer | null)[]) => ({ method: "POST", path: "/get-online-features", query: "", body, objects });

  test("legitimate: a Feast answer verifies against the consumer's own body", async () => {
    const body = feastBody(["user_adv_1", "user_adv_20"]);
    const signed = decodeSignedResponse(await read.ok(FrameKind.SignRead, feastFrame(body, [null, null])));
    expect(verifyResponse(receivedFromSigned(signed), { method: "POST", path: "/get-online-features", query: "", body }, { maxStaleness: Infinity, key: key.jwk }).keyid).toBe(key.keyid);
  });

  test("a Feast answer the host had made for other entities fails against the consumer's body", async () => {
    const hostBody = feastBody(["user_adv_20", "user_adv_1"]);
    const signed = decodeSignedResponse(await read.ok(FrameKind.SignRead, feastFrame(hostBody, [null, null])));
    expect(() =>
      verifyResponse(receivedFromSigned(signed), { method: "POST", path: "/get-online-features", query: "", body: feastBody(["user_adv_1", "user_adv_20"]) }, { maxStaleness: Infinity, key: key.jwk }),
    ).toThrow(/signature/);
  });

  test("a host cannot hand the signer a lane key of its choosing: without the pinned KMS key it takes none, and keeps signing with its own", async () => {
    const directory = await signer.admin.sign(directoryOf(LANE, ++epoch, Date.now(), [listed(signer.writer)]));
    const err = await provision.refused(FrameKind.ProvisionKeys, {
      directory,
      laneKeys: [{ kid: "A".repeat(43), ciphertextBlob: randomBytes(200), notBefore: Date.now() - 1000, notAfter: Date.now() + 3_600_000 }],
    });
    expect(err.code).toBe("kms_provisioning_disabled");
    const s = await sealed("user_adv_21");
    expect(bodyOf(await signedRead("user_adv_21", objectOf(s))).found).toBe(true); // still the signer's own, pinned key
  });
});

// Last: it revokes the suite's writer key.
describe("routes by method and shape, one query grammar, under a hostile host (issue 17)", () => {
  const get = (entity: string, query = "?features=country") => ({ method: "GET", path: `/v1/features/${VIEW}/${entity}`, query });

  test("legitimate: an entity named batch is read with GET, and the signed single answer verifies", async () => {
    const object = objectOf(await sealed("batch"));
    const signed = decodeSignedResponse(await read.ok(FrameKind.SignRead, { ...get("batch"), objects: [object] }));
    expect(signed.status).toBe(200);
    expect(bodyOf(signed)).toMatchObject({ view: VIEW, entity: "batch", found: true, features: { country: "IN" } });
    expect(verifyResponse(receivedFromSigned(signed), get("batch"), { maxStaleness: Infinity, key: key.jwk }).keyid).toBe(key.keyid);
  });

  test("a GET …/batch with a batch body the host added is still one entity: extra objects are refused, never a batch answer", async () => {
    const body = Buffer.from(JSON.stringify({ entities: ["user_adv_1", "user_adv_5"], features: ["country"] }));
    const reply = await read.refused(FrameKind.SignRead, { ...get("batch"), contentType: "application/json", body, objects: [null, null] });
    expect(reply).toMatchObject({ code: "bad_body", status: 400 });
  });

  test("another entity's sealed object offered for the entity named batch is refused (object_mismatch), never served", async () => {
    const other = objectOf(await sealed("user_adv_batch_victim"));
    const signed = decodeSignedResponse(await read.ok(FrameKind.SignRead, { ...get("batch"), objects: [other] }));
    expect(signed.status).toBe(502);
    expect(bodyOf(signed)).toMatchObject({ entity: "batch", found: false, error: { code: "object_mismatch" } });
    expect(bodyOf(signed).features).toBeUndefined();
  });

  test.each([
    ["invalid percent-encoding", "?features=%zz"],
    ["a repeated parameter", "?features=country&features=segment"],
    ["an undeclared parameter", "?features=country&entity=user_adv_1"],
  ])("the signer refuses a query with %s the runtime would have refused (bad_query), signing nothing", async (_name, query) => {
    expect(await read.refused(FrameKind.SignRead, { ...get("user_adv_1", query), objects: [null] })).toMatchObject({ code: "bad_query", status: 400 });
  });

  test("a batch read with a query the host added is refused (features travel in the signed body only)", async () => {
    const body = Buffer.from(JSON.stringify({ entities: ["user_adv_1"] }));
    const reply = await read.refused(FrameKind.SignRead, {
      method: "POST",
      path: `/v1/features/${VIEW}/batch`,
      query: "?features=country",
      contentType: "application/json",
      body,
      objects: [null],
    });
    expect(reply).toMatchObject({ code: "bad_query", status: 400 });
  });
});

describe("attack 4: revocation does not revoke (P4)", () => {
  test("an admin directory without a kid revokes it in the running signer; the host cannot bring it back", async () => {
    const before = await sealed("user_adv_8");
    expect(bodyOf(await signedRead("user_adv_8", objectOf(before))).found).toBe(true);
    const replacement = testWriterKey("loader");
    // Rotation, step 1 (docs/keys.md): the old key becomes verify-only next to its replacement.
    await provision.ok(FrameKind.ProvisionKeys, {
      directory: await signer.admin.sign(directoryOf(LANE, ++epoch, Date.now(), [listed(signer.writer, "verify"), listed(replacement)])),
    });
    expect(bodyOf(await signedRead("user_adv_8", objectOf(before))).found).toBe(true); // old objects still read
    expect((await write.refused(FrameKind.SealWrite, signedPushFrame([row("user_adv_9")]))).message).toMatch(/not a write key/); // but it cannot seal
    const older = await signer.admin.sign(directoryOf(LANE, ++epoch, Date.now(), [listed(signer.writer)]));
    const revoking = await signer.admin.sign(directoryOf(LANE, ++epoch, Date.now(), [listed(replacement)]));
    await provision.ok(FrameKind.ProvisionKeys, { directory: older });
    const reply = decodeProvisionKeysResponse(await provision.ok(FrameKind.ProvisionKeys, { directory: revoking }));
    expect(reply).toMatchObject({ epoch, kids: [], missing: [replacement.kid] });
    // The revoked writer's objects and pushes are refused at once, without a restart.
    expect(bodyOf(await signedRead("user_adv_8", objectOf(before))).error.code).toBe("seal_unknown_key");
    expect((await write.refused(FrameKind.SealWrite, signedPushFrame([row("user_adv_9")]))).message).toMatch(/not a write key/);
    // Re-sending the older directory (which still listed it) is a rollback and refused.
    expect((await provision.refused(FrameKind.ProvisionKeys, { directory: older })).code).toBe("key_directory_rollback");
    // A directory the host signed itself, or one for another lane, is refused.
    const hostMade = Buffer.from(older.toString().replace(/"signature": "[^"]+"/, `"signature": "${randomBytes(64).toString("base64")}"`));
    expect((await provision.refused(FrameKind.ProvisionKeys, { directory: hostMade })).code).toBe("bad_key_directory");
    const otherLane = await signer.admin.sign(directoryOf("elsewhere", epoch + 10, Date.now(), [listed(signer.writer)]));
    expect((await provision.refused(FrameKind.ProvisionKeys, { directory: otherLane })).code).toBe("bad_key_directory");
    // Listed again by a newer directory, the revoked kid stays unusable until its key is delivered
    // again (its material was dropped with the revocation): nothing the host kept comes back.
    await provision.ok(FrameKind.ProvisionKeys, { directory: await signer.admin.sign(directoryOf(LANE, ++epoch, Date.now(), [listed(signer.writer)])) });
    expect(bodyOf(await signedRead("user_adv_8", objectOf(before))).error.code).toBe("seal_unknown_key");
  });

  test("an expired directory cannot be provisioned", async () => {
    const now = Date.now();
    const expired = await signer.admin.sign({ lane: LANE, epoch: epoch + 100, issued_at: now - 10 * 86_400_000, expires_at: now - 1000, keys: [listed(signer.writer)] });
    expect((await provision.refused(FrameKind.ProvisionKeys, { directory: expired })).message).toMatch(/expired/);
  });
});
