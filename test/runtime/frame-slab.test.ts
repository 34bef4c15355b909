import { decodePayload, encodeFrame, FrameDecoder, FrameKind } from "../../wire/frames";
import { FrameSlabWriter } from "../../runtime/frame-slab";

const turn = () => new Promise((r) => setImmediate(r));

/** A socket stand-in: keeps every write (the very buffer it was handed) and its completion callback. */
function sink() {
  const writes: Array<{ data: Buffer; copy: Buffer; done: () => void }> = [];
  return {
    writes,
    write: (data: Buffer, done: () => void) => writes.push({ data, copy: Buffer.from(data), done }),
    completeAll: () => {
      for (const w of writes.splice(0)) w.done();
    },
  };
}

const frameOf = (id: number, size: number) => encodeFrame(id, FrameKind.Reply, { id, pad: Buffer.alloc(size, id % 251) });

describe("runtime/frame-slab FrameSlabWriter", () => {
  it("coalesces one turn's frames into one write, in order", async () => {
    const s = sink();
    const w = new FrameSlabWriter(s.write, undefined, 64 * 1024);
    for (let i = 1; i <= 5; i++) w.send(frameOf(i, 100));
    expect(s.writes).toHaveLength(0);
    await turn();
    expect(s.writes).toHaveLength(1);
    const frames = new FrameDecoder().push(s.writes[0]!.data);
    expect(frames.map((f) => decodePayload<{ id: number }>(f).id)).toEqual([1, 2, 3, 4, 5]);
  });

  it("never writes over bytes a write still holds: a slab is reused only after its writes completed", async () => {
    const s = sink();
    const slabBytes = 16 * 1024;
    const w = new FrameSlabWriter(s.write, undefined, slabBytes);
    let id = 0;
    // Many turns of frames, far more than two slabs, none of the writes completed: every write's bytes must stay as handed over.
    for (let t = 0; t < 40; t++) {
      for (let k = 0; k < 3; k++) w.send(frameOf(++id, 1500 + ((t * 3 + k) % 7) * 100));
      await turn();
    }
    for (const x of s.writes) expect(x.data.equals(x.copy)).toBe(true);
    const decoded = new FrameDecoder().push(Buffer.concat(s.writes.map((x) => x.data)));
    expect(decoded.map((f) => decodePayload<{ id: number }>(f).id)).toEqual(Array.from({ length: id }, (_, i) => i + 1));
    const distinct = new Set(s.writes.map((x) => x.data.buffer));
    expect(distinct.size).toBeGreaterThan(2); // nothing completed: a new slab each time one filled

    // Once writes complete, slabs are reused: the number of distinct slabs stops growing.
    s.completeAll();
    const before = new Set<ArrayBufferLike>();
    for (let t = 0; t < 40; t++) {
      for (let k = 0; k < 3; k++) w.send(frameOf(++id, 1500));
      await turn();
      for (const x of s.writes) before.add(x.data.buffer);
      s.completeAll(); // the callbacks fire after the write, as the socket's do
    }
    expect(before.size).toBeLessThanOrEqual(2);
  });

  it("a frame larger than half a slab goes in its own write, after what was queued before it", async () => {
    const s = sink();
    const w = new FrameSlabWriter(s.write, undefined, 8 * 1024);
    w.send(frameOf(1, 100));
    w.send(frameOf(2, 6000));
    w.send(frameOf(3, 100));
    await turn();
    const decoded = new FrameDecoder().push(Buffer.concat(s.writes.map((x) => x.data)));
    expect(decoded.map((f) => decodePayload<{ id: number }>(f).id)).toEqual([1, 2, 3]);
    expect(s.writes).toHaveLength(3);
  });

  it("frame() writes in place within the bound it declared; overrunning it throws", async () => {
    const s = sink();
    const w = new FrameSlabWriter(s.write, undefined, 8 * 1024);
    w.frame(10, (target, offset) => offset + target.write("0123456789", offset, "latin1"));
    await turn();
    expect(s.writes[0]!.data.toString("latin1")).toBe("0123456789");
    expect(() => w.frame(4, (target, offset) => offset + target.write("0123456789", offset, "latin1"))).toThrow(RangeError);
  });

  it("clear() drops what is queued; after close() nothing is written", async () => {
    const s = sink();
    const flushed: number[] = [];
    const w = new FrameSlabWriter(s.write, () => flushed.push(s.writes.length), 8 * 1024);
    w.send(frameOf(1, 10));
    w.clear();
    await turn();
    expect(s.writes).toHaveLength(0);
    w.send(frameOf(2, 10));
    await turn();
    expect(s.writes).toHaveLength(1);
    expect(flushed).toEqual([1]);
    w.send(frameOf(3, 10));
    w.close();
    w.send(frameOf(4, 10));
    await turn();
    expect(s.writes).toHaveLength(1);
  });
});
