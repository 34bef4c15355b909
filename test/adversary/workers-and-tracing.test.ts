// A hostile host against the real dev signer started with `--workers 2 --trace-stages` (the
// bundle's own worker threads) and without either: the SignRead frame's optional `trace` field and
// the reply's timing trailer (wire/frames.ts) give the host nothing to sign with, and P2 holds
// across the signing threads. Each attack has a companion showing the legitimate path works.
import { randomBytes } from "node:crypto";
import { receivedFromSigned, verifyResponse } from "../../verifier/response";
import { decodeKeyInfo, decodeSealWriteResponse, decodeSignedResponse, FrameKind, type KeyInfo, type SealWriteResponse, type SignedResponse } from "../../wire/frames";
import { DEMO_VIEW } from "../../dev/demo-data";
import { signPush } from "../../wire/writer-auth";
import { HostConnection, startRealSigner, type RealSigner } from "./hostile-host";

jest.setTimeout(60_000);
const VIEW = DEMO_VIEW;
const PUSH_PATH = `/v1/features/${VIEW}/_push`;

interface Lane {
  signer: RealSigner;
  key: KeyInfo;
  read: HostConnection;
  write: HostConnection;
}

async function lane(args: string[]): Promise<Lane> {
  const signer = await startRealSigner(args);
  const read = await signer.open("read");
  const write = await signer.open("write");
  return { signer, read, write, key: decodeKeyInfo(await read.ok(FrameKind.KeyInfo, {})) };
}
const close = (l: Lane | undefined) => {
  l?.read.close();
  l?.write.close();
  l?.signer.stop();
};

async function sealed(l: Lane, entity: string, eventTime: number): Promise<Buffer> {
  const facts = {
    method: "POST",
    path: PUSH_PATH,
    query: "",
    contentType: "application/json",
    body: Buffer.from(JSON.stringify({ rows: [{ entity, event_time: eventTime, features: { country: "IN" } }] })),
  };
  const reply: SealWriteResponse = decodeSealWriteResponse(
    await l.write.ok(FrameKind.SealWrite, { ...facts, writerSignature: signPush(facts, l.signer.writer, { nonce: randomBytes(16).toString("base64url") }) }),
  );
  const row = reply.rows[0]!;
  if (!("object" in row)) throw new Error(`not sealed: ${JSON.stringify(row)}`);
  // The mark rises when the store write is reported done (P2, docs/trust.md), as the runtime does.
  await l.write.ok(FrameKind.SignWriteOutcome, { ticket: reply.ticket, outcomes: [{ index: 0, result: "written", stored_event_time: eventTime }] });
  return Buffer.from(row.object);
}

const readFrame = (entity: string, object: Uint8Array | null, extra: Record<string, unknown> = {}) => ({
  method: "GET",
  path: `/v1/features/${VIEW}/${entity}`,
  query: "?features=country",
  acceptSignature: 'sig1=("@status");nonce="consumer-nonce"',
  objects: [object],
  ...extra,
});
async function signedRead(l: Lane, entity: string, object: Uint8Array | null, extra: Record<string, unknown> = {}): Promise<SignedResponse> {
  const signed = decodeSignedResponse(await l.read.ok(FrameKind.SignRead, readFrame(entity, object, extra)));
  verifyResponse(receivedFromSigned(signed), { method: "GET", path: `/v1/features/${VIEW}/${entity}`, query: "?features=country" }, { maxStaleness: Infinity, key: l.key.jwk, nonce: "consumer-nonce" });
  return signed;
}
const bodyOf = (s: SignedResponse) => JSON.parse(Buffer.from(s.body).toString()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- answers of several shapes

describe("a signer without stage tracing (production flags)", () => {
  let l: Lane;
  beforeAll(async () => {
    l = await lane([]);
  }, 60_000);
  afterAll(() => close(l));

  test("a host asking for timing trailers, or sending junk in `trace`, gets the same signed answer and no trailer", async () => {
    const object = await sealed(l, "user_trace_1", Date.now() - 1000);
    const plain = await signedRead(l, "user_trace_1", object);
    expect(plain.trace).toBeUndefined();
    for (const trace of [true, "yes", { received: 0 }, 1]) {
      const asked = await signedRead(l, "user_trace_1", object, { trace });
      expect(asked.trace).toBeUndefined();
      expect(Buffer.from(asked.body).equals(Buffer.from(plain.body))).toBe(true);
      expect(bodyOf(asked).features.country).toBe("IN");
    }
  });
});

describe("a signer with --workers 2 --trace-stages (the bundle's worker threads)", () => {
  let l: Lane;
  beforeAll(async () => {
    l = await lane(["--workers", "2", "--trace-stages"]);
  }, 60_000);
  afterAll(() => close(l));

  test("legitimate reads verify with the one key, traced or not; the trailer is timing only", async () => {
    const object = await sealed(l, "user_w_1", Date.now() - 1000);
    const reads = await Promise.all(Array.from({ length: 40 }, (_, i) => signedRead(l, "user_w_1", object, i % 2 ? { trace: true } : {})));
    for (const [i, r] of reads.entries()) {
      expect(bodyOf(r).features.country).toBe("IN");
      if (i % 2) expect(Object.keys(r.trace ?? {}).sort()).toEqual(["decoded", "gc", "received", "signed"]);
      else expect(r.trace).toBeUndefined();
    }
  });

  test("P2 across threads: after version t2 was served, t1 is refused on every thread, however many the host sends at once", async () => {
    const t1 = await sealed(l, "user_w_2", Date.now() - 60_000);
    const t2 = await sealed(l, "user_w_2", Date.now() - 1000);
    expect(bodyOf(await signedRead(l, "user_w_2", t2)).found).toBe(true);
    const older = await Promise.all(Array.from({ length: 32 }, () => signedRead(l, "user_w_2", t1)));
    for (const o of older) expect(bodyOf(o).error.code).toBe("rolled_back");
    expect(bodyOf(await signedRead(l, "user_w_2", t2)).found).toBe(true);
  });

  test("a write sealed and reported on the main thread raises the mark the workers check", async () => {
    const t1 = await sealed(l, "user_w_3", Date.now() - 60_000);
    await sealed(l, "user_w_3", Date.now() - 1000);
    const reads = await Promise.all(Array.from({ length: 8 }, () => signedRead(l, "user_w_3", t1)));
    for (const r of reads) expect(bodyOf(r).error.code).toBe("rolled_back");
  });
});
