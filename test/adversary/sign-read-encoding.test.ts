// The runtime writes SignRead frames field by field (wire/frames.ts writeSignReadFrame, session 7)
// instead of through msgpackr. The signer's decoder is unchanged and the host controls every byte
// anyway, so nothing about trust moves — these check it against the real signer process: the
// runtime's encoding is answered exactly as msgpackr's is (a verifiable signed answer), and the
// same encoding with a swapped object or a lying length header gets what any hostile frame gets.
import { randomBytes } from "node:crypto";
import { receivedFromSigned, verifyResponse } from "../../verifier/response";
import {
  decodeErrorReply,
  decodeKeyInfo,
  decodeSealWriteResponse,
  decodeSignedResponse,
  encodeFrame,
  FrameKind,
  signReadFrameBound,
  writeSignReadFrame,
  type KeyInfo,
  type SignReadRequest,
} from "../../wire/frames";
import { DEMO_VIEW } from "../../dev/lane/demo-data";
import { signPush } from "../../wire/writer-auth";
import { HostConnection, startRealSigner, type RealSigner } from "./hostile-host";

const VIEW = DEMO_VIEW;
let signer: RealSigner;
let key: KeyInfo;
let read: HostConnection;
let write: HostConnection;

/** The runtime's encoding of a SignRead (what runtime/signer-client.ts sends). */
const fieldWritten = (request: SignReadRequest) => (id: number) => {
  const target = Buffer.alloc(signReadFrameBound(request));
  return target.subarray(0, writeSignReadFrame(target, 0, id, request));
};

async function sealedObject(entity: string): Promise<Buffer> {
  const facts = {
    method: "POST",
    path: `/v1/features/${VIEW}/_push`,
    query: "",
    contentType: "application/json",
    body: Buffer.from(JSON.stringify({ rows: [{ entity, event_time: Date.now() - 1000, features: { country: "IN" } }] })),
  };
  const sealed = decodeSealWriteResponse(
    await write.ok(FrameKind.SealWrite, { ...facts, writerSignature: signPush(facts, signer.writer, { nonce: randomBytes(16).toString("base64url") }) }),
  );
  const row = sealed.rows[0]!;
  if (!("object" in row)) throw new Error(`not sealed: ${JSON.stringify(row)}`);
  return Buffer.from(row.object);
}

const readOf = (entity: string, object: Buffer | null): SignReadRequest => ({
  method: "GET",
  path: `/v1/features/${VIEW}/${entity}`,
  query: "?features=country",
  accept: undefined,
  acceptSignature: 'sig1=("@status");nonce="consumer-nonce"',
  contentType: undefined,
  body: undefined,
  objects: [object],
});

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

describe("SignRead written field by field (the runtime's encoding) under a hostile host", () => {
  it("legitimate: answered like msgpackr's encoding of the same read, and the answer verifies", async () => {
    const object = await sealedObject("user_enc_1");
    const ours = await read.requestBytes(fieldWritten(readOf("user_enc_1", object)));
    const theirs = await read.requestBytes((id) => encodeFrame(id, FrameKind.SignRead, readOf("user_enc_1", object)));
    if (ours === "closed" || theirs === "closed") throw new Error("connection closed");
    expect(ours.kind).toBe(FrameKind.Reply);
    const signed = decodeSignedResponse(ours.payload);
    const body = JSON.parse(Buffer.from(signed.body).toString()) as { entity: string; features: Record<string, unknown> };
    expect(body).toMatchObject({ entity: "user_enc_1", features: { country: "IN" } });
    expect(signed.served).toEqual(decodeSignedResponse(theirs.payload).served);
    verifyResponse(
      receivedFromSigned(signed),
      { method: "GET", path: `/v1/features/${VIEW}/user_enc_1`, query: "?features=country" },
      { maxStaleness: Infinity, key: key.jwk, nonce: "consumer-nonce" },
    );
  });

  it("attack: another entity's sealed object in the runtime's encoding is refused, never served as this entity's values", async () => {
    const other = await sealedObject("user_enc_2");
    const reply = await read.requestBytes(fieldWritten(readOf("user_enc_3", other)));
    if (reply === "closed") throw new Error("connection closed");
    const signed = decodeSignedResponse(reply.payload);
    expect(signed.served?.[0]?.status).toBe("refused");
    expect(Buffer.from(signed.body).toString()).not.toContain('"IN"');
  });

  it("attack: a string header in that encoding claiming more bytes than the frame holds is a bad_frame error; the channel keeps working", async () => {
    const request = readOf("user_enc_4", null);
    const lying = (id: number) => {
      const frame = Buffer.from(fieldWritten(request)(id));
      // The path's str8 header (0xd9 len) follows the "path" key: claim 255 bytes.
      const at = frame.indexOf(Buffer.from([0xa4, ...Buffer.from("path")])) + 5;
      expect(frame[at]).toBe(0xd9);
      frame[at + 1] = 0xff;
      return frame;
    };
    const reply = await read.requestBytes(lying);
    if (reply === "closed") throw new Error("connection closed");
    expect(reply.kind).toBe(FrameKind.Error);
    expect(decodeErrorReply(reply.payload).code).toBe("bad_frame");
    const after = await read.requestBytes(fieldWritten(readOf("user_enc_5", null)));
    expect(after !== "closed" && after.kind).toBe(FrameKind.Reply);
  });
});
