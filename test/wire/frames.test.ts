import fc from "fast-check";
import { MessageChannel } from "node:worker_threads";
import { Packr } from "msgpackr";
import { decodePayload, decodeSignedResponse, decodeSignRead, encodeFrame, FrameDecoder, FrameError, FrameFieldError, FrameKind, FrameWriter } from "../../wire/frames";

describe("wire/frames", () => {
  it("decodes frames however the stream is chunked", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ id: fc.integer({ min: 0, max: 0xffffffff }), text: fc.string() }), { minLength: 1, maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 50 }),
        (messages, cuts) => {
          const stream = Buffer.concat(messages.map((m) => encodeFrame(m.id, FrameKind.SignRead, { text: m.text })));
          const decoder = new FrameDecoder();
          const out: Array<{ id: number; text: string }> = [];
          let offset = 0;
          let i = 0;
          while (offset < stream.length) {
            const end = Math.min(stream.length, offset + cuts[i++ % cuts.length]);
            for (const f of decoder.push(stream.subarray(offset, end))) out.push({ id: f.id, ...decodePayload<{ text: string }>(f) });
            offset = end;
          }
          expect(out).toEqual(messages);
          expect(decoder.pending).toBe(0);
        },
      ),
    );
  });

  it("frames packed in place stay intact while later frames are encoded (held in a writer queue, small and batch-sized)", () => {
    // encodeFrame returns msgpackr's own buffer with the header written in front: frames encoded
    // later (including ones that make msgpackr grow or replace its buffer) must not touch it.
    const messages = Array.from({ length: 300 }, (_, i) =>
      i % 50 === 7 ? { n: i, objects: Array.from({ length: 100 }, (_, k) => Buffer.alloc(4096, (i + k) % 256)) } : { n: i, text: "x".repeat(i * 13) },
    );
    const held = messages.map((m, i) => ({ frame: encodeFrame(i + 1, FrameKind.Reply, m), copy: Buffer.from(encodeFrame(i + 1, FrameKind.Reply, m)) }));
    for (const { frame, copy } of held) expect(frame.equals(copy)).toBe(true);
    const decoded = new FrameDecoder().push(Buffer.concat(held.map((h) => h.frame)));
    expect(decoded.map((f) => f.id)).toEqual(messages.map((_, i) => i + 1));
    expect(decoded.map((f) => decodePayload<Record<string, unknown>>(f))).toEqual(messages);
  });

  it("reassembles a batch-sized frame from socket-sized reads, with whole frames before and after it", () => {
    const big = { objects: Array.from({ length: 100 }, (_, i) => Buffer.alloc(4096, i)) };
    const stream = Buffer.concat([encodeFrame(1, FrameKind.KeyInfo, {}), encodeFrame(2, FrameKind.SignRead, big), encodeFrame(3, FrameKind.KeyInfo, {})]);
    const decoder = new FrameDecoder();
    const frames = [];
    for (let offset = 0; offset < stream.length; offset += 65_536) {
      frames.push(...decoder.push(stream.subarray(offset, offset + 65_536)));
    }
    expect(frames.map((f) => f.id)).toEqual([1, 2, 3]);
    expect(decodePayload<typeof big>(frames[1]).objects.map((o) => o[0])).toEqual(big.objects.map((_, i) => i));
    expect(decoder.pending).toBe(0);
  });

  it("gives a frame that spans reads a buffer of its own (exclusive: that frame only); frames inside one read are views", () => {
    const big = { objects: Array.from({ length: 30 }, (_, i) => Buffer.alloc(4096, i)) };
    const stream = Buffer.concat([encodeFrame(1, FrameKind.KeyInfo, {}), encodeFrame(2, FrameKind.SignRead, big), encodeFrame(3, FrameKind.KeyInfo, {})]);
    const decoder = new FrameDecoder();
    const frames = [];
    for (let offset = 0; offset < stream.length; offset += 65_536) frames.push(...decoder.push(stream.subarray(offset, offset + 65_536)));
    const [first, whole, last] = frames;
    expect([first.exclusive, whole.exclusive, last.exclusive]).toEqual([undefined, true, undefined]);
    // The frame's own bytes, header first, and nothing after them.
    expect(whole.payload.byteOffset).toBe(9);
    expect(whole.payload.buffer.byteLength).toBe(9 + whole.payload.length);
    expect(Buffer.from(whole.payload.buffer).equals(encodeFrame(2, FrameKind.SignRead, big))).toBe(true);
    expect(last.payload.buffer).not.toBe(whole.payload.buffer);
  });

  it("gives the same frames, split into two reads at every offset, as the stream read at once", () => {
    const stream = Buffer.concat([
      encodeFrame(1, FrameKind.Hello, { role: "read", protocol: 2 }),
      encodeFrame(2, FrameKind.SignRead, { objects: [Buffer.alloc(5000, 7)] }),
      encodeFrame(0xffffffff, FrameKind.SignRead, { text: "é".repeat(40) }),
      encodeFrame(4, FrameKind.KeyInfo, {}),
      encodeFrame(5, FrameKind.SignRead, { objects: [Buffer.alloc(300, 9), null] }),
    ]);
    const facts = (frames: ReturnType<FrameDecoder["push"]>) => frames.map((f) => [f.id, f.kind, Buffer.from(f.payload).toString("hex")]);
    const reference = facts(new FrameDecoder().push(stream));
    expect(reference).toHaveLength(5);
    for (let k = 0; k <= stream.length; k++) {
      const decoder = new FrameDecoder();
      const got = facts([...decoder.push(stream.subarray(0, k)), ...decoder.push(stream.subarray(k))]);
      if (JSON.stringify(got) !== JSON.stringify(reference)) throw new Error(`split at ${k}: other frames`);
      expect(decoder.pending).toBe(0);
    }
    // And three reads, anywhere.
    fc.assert(
      fc.property(fc.integer({ min: 0, max: stream.length }), fc.integer({ min: 0, max: stream.length }), (a, b) => {
        const [i, j] = a <= b ? [a, b] : [b, a];
        const decoder = new FrameDecoder();
        const got = facts([...decoder.push(stream.subarray(0, i)), ...decoder.push(stream.subarray(i, j)), ...decoder.push(stream.subarray(j))]);
        expect(got).toEqual(reference);
      }),
    );
  });

  it("keeps decoding after an exclusive frame's buffer was transferred to another thread", async () => {
    const big = { objects: [Buffer.alloc(100_000, 3)] };
    const first = encodeFrame(1, FrameKind.SignRead, big);
    const stream = Buffer.concat([first, encodeFrame(2, FrameKind.SignRead, { objects: [Buffer.alloc(10, 4)] })]);
    const decoder = new FrameDecoder();
    const [whole] = decoder.push(stream.subarray(0, 70_000));
    expect(whole).toBeUndefined();
    const cut = first.length + 5; // the big frame's end and 5 bytes of the next one
    const frames = decoder.push(stream.subarray(70_000, cut));
    expect(frames.map((f) => f.exclusive)).toEqual([true]);
    const { port1, port2 } = new MessageChannel();
    const moved = new Promise<ArrayBuffer>((resolve) => port2.once("message", resolve));
    port1.postMessage(frames[0].payload.buffer, [frames[0].payload.buffer as ArrayBuffer]);
    expect(frames[0].payload.length).toBe(0); // detached here
    const arrived = await moved;
    port1.close();
    expect(decodePayload<typeof big>({ ...frames[0], payload: Buffer.from(arrived, 9) }).objects[0]).toEqual(big.objects[0]);
    const rest = decoder.push(stream.subarray(cut));
    expect(rest.map((f) => [f.id, decodePayload<{ objects: Buffer[] }>(f).objects[0]])).toEqual([[2, Buffer.alloc(10, 4)]]);
    expect(decoder.pending).toBe(0);
  });

  it("rejects frame lengths out of range", () => {
    const bad = Buffer.alloc(9);
    bad.writeUInt32BE(2, 0);
    expect(() => new FrameDecoder().push(bad)).toThrow(FrameError);
    const huge = Buffer.alloc(9);
    huge.writeUInt32BE(0xfffffff0, 0);
    expect(() => new FrameDecoder(1024).push(huge)).toThrow(FrameError);
  });

  it("coalesces frames sent in one turn into one write", async () => {
    const writes: Buffer[] = [];
    const writer = new FrameWriter((d) => writes.push(d));
    writer.send(encodeFrame(1, FrameKind.KeyInfo, {}));
    writer.send(encodeFrame(2, FrameKind.KeyInfo, {}));
    writer.send(encodeFrame(3, FrameKind.KeyInfo, {}));
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(1);
    expect(new FrameDecoder().push(writes[0]).map((f) => f.id)).toEqual([1, 2, 3]);
  });
});

describe("wire/frames: the signer's per-entity outcomes (metrics only)", () => {
  const packr = new Packr({ useRecords: false });
  const answer = { status: 200, contentType: "application/json", contentDigest: "d", signatureInput: "i", signature: "s", body: Buffer.from("{}") };

  it("decodes served statuses and ages, and their absence", () => {
    const served = [{ status: "found", ageSeconds: 1.5 }, { status: "outside_max_age", ageSeconds: 90_000 }, { status: "not_found" }, { status: "refused" }];
    expect(decodeSignedResponse(packr.pack({ ...answer, served })).served).toEqual(served);
    expect(decodeSignedResponse(packr.pack(answer)).served).toBeUndefined();
  });

  it("refuses an unknown status or a bad age", () => {
    for (const served of [[{ status: "fresh" }], [{ status: "found", ageSeconds: -1 }], [{ status: "found", ageSeconds: "1" }], ["found"], "found"]) {
      expect(() => decodeSignedResponse(packr.pack({ ...answer, served }))).toThrow(FrameFieldError);
    }
  });
});

describe("the SignRead trace request and the SignedResponse timing trailer (stage tracing)", () => {
  const pack = (v: unknown) => new Packr({ useRecords: false }).pack(v);
  const answer = { status: 200, contentType: "application/json", contentDigest: "sha-256=:x:", signatureInput: "sig1=()", signature: "sig1=:y:", body: Buffer.from("{}") };

  it("a SignRead's proofs travel as one proof list and decode back; a list that is not one is bad_frame", () => {
    const base = { method: "GET", path: "/v1/features/v/e", query: "", objects: [Buffer.from("o"), null] };
    const proofs = [{ seq: 9, siblings: Buffer.alloc(64, 2), leaf_key: Buffer.alloc(32, 3), leaf_value: Buffer.alloc(40, 4) }, null];
    const frame = encodeFrame(1, FrameKind.SignRead, { ...base, proofs });
    expect(decodeSignRead(frame.subarray(9)).proofs).toEqual(proofs);
    for (const junk of [[{ seq: 1 }], "proofs", Buffer.from([1]), Buffer.from([0]), Buffer.from([0, 0, 0])]) {
      expect(() => decodeSignRead(pack({ ...base, proofs: junk }))).toThrow(FrameFieldError);
    }
    expect(decodeSignRead(pack({ ...base, proofs: Buffer.from([0, 0]) })).proofs).toEqual([null, null]);
  });

  it("reads trace only as `true`; anything else is no trace", () => {
    const base = { method: "GET", path: "/v1/features/v/e", query: "", objects: [null] };
    expect(decodeSignRead(pack({ ...base, trace: true })).trace).toBe(true);
    for (const junk of ["yes", 1, { a: 1 }, null]) expect(decodeSignRead(pack({ ...base, trace: junk })).trace).toBeUndefined();
    expect(decodeSignRead(pack(base)).trace).toBeUndefined();
  });

  it("decodes a well-formed trailer and refuses a malformed one (a bad_frame, not a partial object)", () => {
    const ok = decodeSignedResponse(pack({ ...answer, trace: { received: 1, decoded: 2, signed: 3, gc: [[1.5, 0.2]] } }));
    expect(ok.trace).toEqual({ received: 1, decoded: 2, signed: 3, gc: [[1.5, 0.2]] });
    expect(decodeSignedResponse(pack(answer)).trace).toBeUndefined();
    for (const bad of [
      { received: "1", decoded: 2, signed: 3, gc: [] },
      { received: 1, decoded: 2, signed: 3, gc: [[1]] },
      { received: 1, decoded: 2, signed: 3, gc: Array.from({ length: 300 }, () => [1, 1]) },
      "trace",
    ]) {
      expect(() => decodeSignedResponse(pack({ ...answer, trace: bad }))).toThrow(FrameFieldError);
    }
  });
});
