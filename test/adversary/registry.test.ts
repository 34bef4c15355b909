// The registry under a hostile host (issue #13): the host delivers registry documents to the real
// signer process but cannot make one. Documents it signs itself, older versions, another lane's
// document, a tampered view list and a registry frame on a read connection are all refused, and
// every answer keeps naming the registry the enclave actually holds — next to the legitimate path
// (an admin-signed, newer document), after which answers name the new registry and serve its view.
import { randomBytes } from "node:crypto";
import { receivedFromSigned, verifyResponse } from "../../verifier/response";
import { canonicalJson, parseSignedRegistryDocument, type ViewDocument } from "../../wire/registry-document";
import { DEFAULT_REGISTRY_REF, DEFAULT_VIEWS } from "../../registry/views";
import {
  decodeErrorReply,
  decodeKeyInfo,
  decodeProvisionRegistryResponse,
  decodeSealWriteResponse,
  decodeSignedResponse,
  FrameKind,
  type KeyInfo,
  type SignedResponse,
} from "../../wire/frames";
import { signPush } from "../../wire/writer-auth";
import { testAdmin } from "../helpers/key-directory";
import { signedRegistry, smallView } from "../helpers/registry-document";
import { HostConnection, LANE, startRealSigner, type RealSigner } from "./hostile-host";

let signer: RealSigner;
let key: KeyInfo;
let read: HostConnection;
let write: HostConnection;
let provision: HostConnection;

const NEW_VIEW = smallView("adv_orders", [
  { name: "amount", type: "float" },
  { name: "items", type: "int" },
]);
const doc = (version: number, views: readonly ViewDocument[] = [...DEFAULT_VIEWS, NEW_VIEW], lane = LANE, admin = signer.admin) => signedRegistry(admin, { version, lane, views });

async function signedRead(view: string, entity: string, object: Uint8Array | null): Promise<{ status: number; body: Record<string, unknown> }> {
  const facts = { method: "GET", path: `/v1/features/${view}/${entity}`, query: "", acceptSignature: 'sig1=("@status");nonce="n1"' };
  const reply = await read.request(FrameKind.SignRead, { ...facts, objects: [object] });
  if (reply === "closed") throw new Error("closed");
  if (reply.kind !== FrameKind.Reply) return { status: -1, body: { error: decodeErrorReply(reply.payload) } };
  const signed: SignedResponse = decodeSignedResponse(reply.payload);
  verifyResponse(receivedFromSigned(signed), { method: "GET", path: facts.path, query: "" }, { maxStaleness: Infinity, key: key.jwk, nonce: "n1" });
  return { status: signed.status, body: JSON.parse(Buffer.from(signed.body).toString()) as Record<string, unknown> };
}
async function held() {
  return decodeProvisionRegistryResponse(await provision.ok(FrameKind.ProvisionRegistry, {}));
}

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

describe("registry documents from a hostile host (issue #13)", () => {
  it("before any document the signer serves the image default and answers say so", async () => {
    expect(await held()).toEqual({ version: 0, digest: DEFAULT_REGISTRY_REF.digest });
    const r = await signedRead("user_profile", "nobody", null);
    expect(r.body).toMatchObject({ registry_version: 0, registry_digest: DEFAULT_REGISTRY_REF.digest });
    expect((await signedRead("adv_orders", "o1", null)).body.error).toMatchObject({ code: "unknown_view" });
  });

  it("refuses a document the host signed with its own key (same kid, other key)", async () => {
    const forged = await doc(1, undefined, LANE, testAdmin(signer.admin.entry.kid));
    expect(await provision.refused(FrameKind.ProvisionRegistry, { document: forged })).toMatchObject({ code: "bad_registry_document", status: 400 });
    expect((await held()).version).toBe(0);
  });

  it("refuses another lane's admin-signed document", async () => {
    expect(await provision.refused(FrameKind.ProvisionRegistry, { document: await doc(1, undefined, "other-lane") })).toMatchObject({ code: "bad_registry_document" });
  });

  it("refuses a registry frame on a read or write connection", async () => {
    const good = await doc(1);
    expect(await read.refused(FrameKind.ProvisionRegistry, { document: good })).toMatchObject({ code: "frame_not_allowed" });
    expect(await write.refused(FrameKind.ProvisionRegistry, { document: good })).toMatchObject({ code: "frame_not_allowed" });
    expect((await held()).version).toBe(0);
  });

  it("legitimate path: an admin-signed newer document is accepted, answers name it and serve its view", async () => {
    const good = await doc(2);
    const reply = decodeProvisionRegistryResponse(await provision.ok(FrameKind.ProvisionRegistry, { document: good }));
    const digest = parseSignedRegistryDocument(good).digest;
    expect(reply).toMatchObject({ version: 2, digest });
    expect(Buffer.from(reply.document!).equals(good)).toBe(true);
    // Idempotent re-send (runtime start, reconnect, poll).
    expect(decodeProvisionRegistryResponse(await provision.ok(FrameKind.ProvisionRegistry, { document: good })).version).toBe(2);
    // A push into the new view seals; a read of it is signed and names the new registry.
    const facts = {
      method: "POST",
      path: "/v1/features/adv_orders/_push",
      query: "",
      contentType: "application/json",
      body: Buffer.from(JSON.stringify({ rows: [{ entity: "o1", event_time: Date.now() - 1000, features: { amount: 12.5, items: 2 } }] })),
    };
    const sealed = decodeSealWriteResponse(
      await write.ok(FrameKind.SealWrite, { ...facts, writerSignature: signPush(facts, signer.writer, { nonce: randomBytes(16).toString("base64url") }) }),
    );
    const row = sealed.rows[0]!;
    if (!("object" in row)) throw new Error(JSON.stringify(row));
    const r = await signedRead("adv_orders", "o1", row.object);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ registry_version: 2, registry_digest: digest, features: { amount: 12.5, items: 2 } });
  });

  it("refuses an older version, and a different document under the held version", async () => {
    expect(await provision.refused(FrameKind.ProvisionRegistry, { document: await doc(1) })).toMatchObject({ code: "registry_rollback", status: 409 });
    expect(await provision.refused(FrameKind.ProvisionRegistry, { document: await doc(2, DEFAULT_VIEWS) })).toMatchObject({ code: "registry_rollback" });
  });

  it("refuses a tampered view list (admin signature kept, payload changed)", async () => {
    const good = JSON.parse((await doc(3)).toString()) as { payload: string };
    const value = JSON.parse(Buffer.from(good.payload, "base64").toString()) as { views: unknown[] };
    value.views.push(smallView("host_view"));
    const tampered = Buffer.from(JSON.stringify({ ...good, payload: canonicalJson(value).toString("base64") }));
    expect(await provision.refused(FrameKind.ProvisionRegistry, { document: tampered })).toMatchObject({ code: "bad_registry_document" });
  });

  it("after every refusal, answers still name the registry the enclave accepted (version 2)", async () => {
    const h = await held();
    expect(h.version).toBe(2);
    const r = await signedRead("user_profile", "nobody", null);
    expect(r.body).toMatchObject({ registry_version: 2, registry_digest: h.digest });
    expect((await signedRead("host_view", "x", null)).body.error).toMatchObject({ code: "unknown_view" });
  });
});
