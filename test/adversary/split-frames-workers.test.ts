// A hostile host that cuts its frame stream anywhere: the same sequence of SignRead frames —
// legitimate reads, a batch-sized frame (which reaches a `--workers 2` signer's worker in the buffer
// it arrived in, uncopied: enclave/sign-workers.ts), junk payloads, a frame of another role, an
// object of another entity — written to the real dev signer in two socket writes split at many
// offsets (every offset near each frame boundary, all of the first bytes, a stride through the big
// frames) and once with every frame header dribbled byte by byte. The signer with workers must
// give exactly the replies the single-threaded signer gives for the same split, and those must be
// the replies of the unsplit stream: no frame answered twice, none lost, none answered with another
// frame's bytes, every answer verifiable.
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { receivedFromSigned, verifyResponse } from "../../verifier/response";
import {
  decodeErrorReply,
  decodeKeyInfo,
  decodeSealWriteResponse,
  decodeSignedResponse,
  encodeFrame,
  FrameDecoder,
  FrameKind,
  FRAME_PROTOCOL_VERSION,
  type Frame,
  type KeyInfo,
  type SignReadRequest,
} from "../../wire/frames";
import { DEMO_VIEW } from "../../dev/demo-data";
import { signPush } from "../../wire/writer-auth";
import { startRealSigner, type RealSigner } from "./hostile-host";

jest.setTimeout(180_000);
const VIEW = DEMO_VIEW;

interface Lane {
  signer: RealSigner;
  key: KeyInfo;
  /** The sealed objects of e0 and e1, sealed by this signer's writer key. */
  objects: Buffer[];
}

async function lane(args: string[]): Promise<Lane> {
  const signer = await startRealSigner(args);
  const write = await signer.open("write");
  const objects: Buffer[] = [];
  for (const entity of ["e0", "e1"]) {
    const facts = {
      method: "POST",
      path: `/v1/features/${VIEW}/_push`,
      query: "",
      contentType: "application/json",
      body: Buffer.from(JSON.stringify({ rows: [{ entity, event_time: 1_700_000_000_000, features: { country: "IN" } }] })),
    };
    const reply = decodeSealWriteResponse(
      await write.ok(FrameKind.SealWrite, { ...facts, writerSignature: signPush(facts, signer.writer, { nonce: randomBytes(16).toString("base64url") }) }),
    );
    const row = reply.rows[0]!;
    if (!("object" in row)) throw new Error(`not sealed: ${JSON.stringify(row)}`);
    await write.ok(FrameKind.SignWriteOutcome, { ticket: reply.ticket, outcomes: [{ index: 0, result: "written", stored_event_time: 1_700_000_000_000 }] });
    objects.push(Buffer.from(row.object));
  }
  write.close();
  const read = await signer.open("read");
  const key = decodeKeyInfo(await read.ok(FrameKind.KeyInfo, {}));
  read.close();
  return { signer, key, objects };
}

const get = (entity: string, object: Uint8Array | null): SignReadRequest => ({
  method: "GET",
  path: `/v1/features/${VIEW}/${entity}`,
  query: "?features=country",
  objects: [object],
});

/** The hostile sequence (ids 1001…), with what each answer is verified against. */
function sequence(l: Lane): { stream: Buffer; boundaries: number[]; requests: Map<number, SignReadRequest> } {
  const [e0, e1] = l.objects;
  const entities = Array.from({ length: 60 }, (_, i) => `e${i}`);
  const batch: SignReadRequest = {
    method: "POST",
    path: `/v1/features/${VIEW}/batch`,
    query: "",
    contentType: "application/json",
    body: Buffer.from(JSON.stringify({ entities, features: ["country"] })),
    objects: entities.map((_, i) => (i === 0 ? e0 : i === 1 ? e1 : Buffer.alloc(1200, i))), // 58 junk objects: a ≈ 75 KB frame
  };
  const requests = new Map<number, SignReadRequest>([
    [1001, batch],
    [1002, get("e0", e0)],
    [1005, get("e1", e0)], // another entity's object
    [1006, get("e2", Buffer.alloc(90_000, 0x5a))], // one junk object, a ≈ 90 KB frame
    [1007, get("e3", null)],
    [1008, get("e1", e1)],
  ]);
  const garbage = Buffer.from([0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x03, 0xeb, FrameKind.SignRead, 0xc1, 0xc1, 0xc1, 0xc1]); // id 1003, not MessagePack
  const frames = [
    encodeFrame(1001, FrameKind.SignRead, batch),
    encodeFrame(1002, FrameKind.SignRead, requests.get(1002)),
    garbage,
    encodeFrame(1004, FrameKind.ProvisionKeys, { directory: "x" }), // a provision frame on the read channel
    encodeFrame(1005, FrameKind.SignRead, requests.get(1005)),
    encodeFrame(1006, FrameKind.SignRead, requests.get(1006)),
    encodeFrame(1007, FrameKind.SignRead, requests.get(1007)),
    encodeFrame(1008, FrameKind.SignRead, requests.get(1008)),
  ];
  const boundaries: number[] = [];
  let at = 0;
  for (const f of frames) {
    boundaries.push(at);
    at += f.length;
  }
  return { stream: Buffer.concat(frames), boundaries, requests };
}
const REPLIES = 8;

/** What a reply says, with the seal time (which differs per signer's writer) left out; Reply answers verified with the signer's key first. */
function facts(frame: Frame, l: Lane, requests: Map<number, SignReadRequest>): string {
  if (frame.kind === FrameKind.Error) {
    const e = decodeErrorReply(frame.payload);
    return `${frame.id} error ${e.code} ${e.status}`;
  }
  const signed = decodeSignedResponse(frame.payload);
  const request = requests.get(frame.id)!;
  verifyResponse(receivedFromSigned(signed), { method: request.method, path: request.path, query: request.query, body: request.body }, { maxStaleness: Infinity, key: l.key.jwk });
  const body = Buffer.from(signed.body)
    .toString()
    .replace(/"written_time":"[^"]*"/g, '"written_time":_')
    .replace(/"registry_digest":"[^"]*"/g, "");
  return `${frame.id} ${frame.kind} ${signed.status} ${body}`;
}

/** One read connection; `writes` are the stream's pieces, each written after the signer had a moment to read the one before. */
async function run(l: Lane, writes: Buffer[], requests: Map<number, SignReadRequest>): Promise<string[]> {
  const socket: Socket = connect(l.signer.socket);
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  const decoder = new FrameDecoder();
  const replies: Frame[] = [];
  let onFrame: () => void = () => undefined;
  socket.on("data", (chunk: Buffer) => {
    for (const f of decoder.push(chunk)) {
      replies.push({ ...f, payload: Buffer.from(f.payload) });
      onFrame();
    }
  });
  const until = (n: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${replies.length} of ${n} replies`)), 20_000);
      onFrame = () => {
        if (replies.length >= n) {
          clearTimeout(timer);
          resolve();
        }
      };
      onFrame();
    });
  socket.write(encodeFrame(1, FrameKind.Hello, { role: "read", protocol: FRAME_PROTOCOL_VERSION }));
  await until(1);
  for (const w of writes) {
    socket.write(w);
    await new Promise((r) => setTimeout(r, 1));
  }
  await until(1 + REPLIES);
  await new Promise((r) => setTimeout(r, 5)); // nothing more may come
  socket.destroy();
  const answers = replies.slice(1);
  if (answers.length !== REPLIES) throw new Error(`${answers.length} replies`);
  return answers.map((f) => facts(f, l, requests)).sort();
}

describe("adversary: a frame stream split anywhere, with and without signing workers", () => {
  let one: Lane | undefined;
  let two: Lane | undefined;
  beforeAll(async () => {
    [one, two] = await Promise.all([lane([]), lane(["--workers", "2"])]);
  });
  afterAll(() => {
    one?.signer.stop();
    two?.signer.stop();
  });

  it("the unsplit stream: every frame answered once, as the single-threaded signer answers it (legitimate reads verify)", async () => {
    const a = sequence(one!);
    const b = sequence(two!);
    const single = await run(one!, [a.stream], a.requests);
    const pooled = await run(two!, [b.stream], b.requests);
    expect(pooled).toEqual(single);
    expect(single.map((s) => s.split(" ").slice(0, 3).join(" "))).toEqual([
      "1001 64 200",
      "1002 64 200",
      "1003 error bad_frame",
      "1004 error frame_not_allowed",
      "1005 64 502", // another entity's object: a signed refusal
      "1006 64 502", // junk: a signed refusal
      "1007 64 404",
      "1008 64 200",
    ]);
    expect(single[0]).toContain('"entity":"e0","found":true');
    expect(single[0]).toContain("corrupt_object");
    expect(single[4]).not.toContain('"country":"IN"'); // another entity's object serves nothing
  });

  it("split into two writes at every offset near each frame boundary, and through the big frames: the same replies", async () => {
    const a = sequence(one!);
    const b = sequence(two!);
    expect(b.boundaries).toEqual(a.boundaries);
    const reference = await run(one!, [a.stream], a.requests);
    const offsets = new Set<number>();
    for (let k = 0; k < 64; k++) offsets.add(k);
    for (const boundary of a.boundaries.slice(1)) for (let d = -12; d <= 12; d++) offsets.add(boundary + d);
    for (let k = 0; k < a.stream.length; k += 7919) offsets.add(k);
    let runs = 0;
    for (const k of offsets) {
      if (k <= 0 || k >= a.stream.length) continue;
      // Both signers' streams have the same layout (same request sizes): the offsets mean the same bytes.
      const [single, pooled] = await Promise.all([
        run(one!, [a.stream.subarray(0, k), a.stream.subarray(k)], a.requests),
        run(two!, [b.stream.subarray(0, k), b.stream.subarray(k)], b.requests),
      ]);
      if (JSON.stringify(single) !== JSON.stringify(reference)) throw new Error(`one thread, split at ${k}: other replies`);
      if (JSON.stringify(pooled) !== JSON.stringify(reference)) throw new Error(`workers, split at ${k}: other replies`);
      runs++;
    }
    expect(runs).toBeGreaterThan(200);
  });

  it("every frame header dribbled a byte per write: the same replies", async () => {
    const a = sequence(one!);
    const b = sequence(two!);
    const reference = await run(one!, [a.stream], a.requests);
    const dribble = (s: { stream: Buffer; boundaries: number[] }) => {
      const writes: Buffer[] = [];
      const ends = [...s.boundaries.slice(1), s.stream.length];
      s.boundaries.forEach((start, i) => {
        for (let k = start; k < start + 12; k++) writes.push(s.stream.subarray(k, k + 1));
        writes.push(s.stream.subarray(start + 12, ends[i]));
      });
      return writes;
    };
    expect(await run(one!, dribble(a), a.requests)).toEqual(reference);
    expect(await run(two!, dribble(b), b.requests)).toEqual(reference);
  });
});
