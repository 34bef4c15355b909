import { inspectSealed, writeIfNewer, WriteConflictError } from "../../../runtime/store/conditional-write";
import { MemoryStore } from "../../../runtime/store/memory-store";
import { StoreError } from "../../../runtime/store/types";
import { encodeObjectBody, encodeSealedObject, type FeatureValue } from "../../../wire/object";

const KEY = "views/user/u1";

/** A sealed v2 object (the MAC is not checked here: writeIfNewer stores bytes already sealed). */
function sealed(eventTime: number, features: Record<string, FeatureValue> = { n: 1 }, writtenTime = eventTime): Buffer {
  const body = encodeObjectBody({ view: "user", entity: "u1", event_time: eventTime, written_time: writtenTime, features });
  return encodeSealedObject(body, "w1", Buffer.alloc(32, 7));
}

describe("inspectSealed", () => {
  it("reads the claimed event time, entity and view of a sealed v2 object", () => {
    expect(inspectSealed(sealed(1000))).toMatchObject({ eventTime: 1000, entity: "u1", view: "user", fingerprint: expect.any(String) });
  });

  it("fingerprints the features, not the written time", () => {
    expect(inspectSealed(sealed(1, { n: 1 }, 5))!.fingerprint).toBe(inspectSealed(sealed(1, { n: 1 }, 9))!.fingerprint);
    expect(inspectSealed(sealed(1, { n: 1 }))!.fingerprint).not.toBe(inspectSealed(sealed(1, { n: 2 }))!.fingerprint);
  });

  it("is null for bytes that are not a readable sealed v2 object", () => {
    expect(inspectSealed(Buffer.from("not msgpack at all"))).toBeNull();
    expect(inspectSealed(Buffer.alloc(0))).toBeNull();
  });
});

describe("writeIfNewer", () => {
  it("creates an absent object with If-None-Match: *", async () => {
    const store = new MemoryStore();
    const put = jest.spyOn(store, "put");
    const r = await writeIfNewer(store, KEY, sealed(10));
    expect(r).toMatchObject({ outcome: "written", storedEventTime: 10, attempts: 1, etag: expect.any(String) });
    expect(put.mock.calls[0]![2]).toMatchObject({ ifNoneMatch: "*", contentType: "application/msgpack" });
  });

  it("replaces an older object with If-Match on its ETag", async () => {
    const store = new MemoryStore([[KEY, sealed(5)]]);
    const { etag } = (await store.get(KEY)) as { etag: string };
    const put = jest.spyOn(store, "put");
    await expect(writeIfNewer(store, KEY, sealed(10))).resolves.toMatchObject({ outcome: "written", storedEventTime: 10 });
    expect(put.mock.calls[0]![2]).toMatchObject({ ifMatch: etag });
  });

  it("never overwrites newer data: skipped_older, reporting the stored event time", async () => {
    const store = new MemoryStore([[KEY, sealed(20)]]);
    const put = jest.spyOn(store, "put");
    await expect(writeIfNewer(store, KEY, sealed(10))).resolves.toMatchObject({ outcome: "skipped_older", storedEventTime: 20 });
    expect(put).not.toHaveBeenCalled();
  });

  it("re-loading the same data is unchanged (no PUT), whatever its written time", async () => {
    const store = new MemoryStore([[KEY, sealed(10, { n: 1 }, 100)]]);
    const put = jest.spyOn(store, "put");
    await expect(writeIfNewer(store, KEY, sealed(10, { n: 1 }, 200))).resolves.toMatchObject({ outcome: "unchanged", storedEventTime: 10 });
    expect(put).not.toHaveBeenCalled();
  });

  it("a tie on event time with other data: the last writer wins", async () => {
    const store = new MemoryStore([[KEY, sealed(10, { n: 1 })]]);
    await expect(writeIfNewer(store, KEY, sealed(10, { n: 2 }))).resolves.toMatchObject({ outcome: "written" });
    expect(inspectSealed(((await store.get(KEY)) as { body: Buffer }).body)!.fingerprint).toBe(inspectSealed(sealed(10, { n: 2 }))!.fingerprint);
  });

  it("an untrusted current object (trustCurrent false) is replaced even if it claims a newer event time", async () => {
    const forged = sealed(9_999_999);
    const store = new MemoryStore([[KEY, forged]]);
    const r = await writeIfNewer(store, KEY, sealed(10), { trustCurrent: (bytes) => !bytes.equals(forged) });
    expect(r.outcome).toBe("written");
    // Without the check the forged claim is taken at face value.
    const store2 = new MemoryStore([[KEY, forged]]);
    await expect(writeIfNewer(store2, KEY, sealed(10))).resolves.toMatchObject({ outcome: "skipped_older" });
  });

  it("an unreadable current object is replaced with If-Match", async () => {
    const store = new MemoryStore([[KEY, Buffer.from("garbage")]]);
    await expect(writeIfNewer(store, KEY, sealed(10))).resolves.toMatchObject({ outcome: "written" });
  });

  it("refuses to store bytes that are not a sealed v2 object", async () => {
    await expect(writeIfNewer(new MemoryStore(), KEY, Buffer.from("x"))).rejects.toThrow(/not a sealed v2 object/);
  });

  it("refuses a store that answers without an ETag (conditional writes impossible)", async () => {
    const store = new MemoryStore();
    jest.spyOn(store, "get").mockResolvedValue({ found: true, body: sealed(1) });
    await expect(writeIfNewer(store, KEY, sealed(10))).rejects.toMatchObject({ code: "bad_response" });
  });

  it("decides again on fresh state after a conflict (412): a newer object written meanwhile wins", async () => {
    const store = new MemoryStore();
    const realPut = store.put.bind(store);
    let first = true;
    jest.spyOn(store, "put").mockImplementation(async (key, body, opts) => {
      if (first) {
        first = false;
        await realPut(key, sealed(50)); // another writer got in between our GET and PUT
      }
      return realPut(key, body, opts);
    });
    await expect(writeIfNewer(store, KEY, sealed(10))).resolves.toMatchObject({ outcome: "skipped_older", storedEventTime: 50, attempts: 2 });
  });

  it.each([404, 409])("retries a %d on PUT", async (status) => {
    const store = new MemoryStore();
    const realPut = store.put.bind(store);
    jest
      .spyOn(store, "put")
      .mockRejectedValueOnce(new StoreError("unavailable", "conflict", status))
      .mockImplementation(realPut);
    await expect(writeIfNewer(store, KEY, sealed(10))).resolves.toMatchObject({ outcome: "written", attempts: 2 });
  });

  it("gives up with write_conflict after maxAttempts conflicts", async () => {
    const store = new MemoryStore();
    jest.spyOn(store, "put").mockRejectedValue(new StoreError("precondition_failed", "412", 412));
    const err = await writeIfNewer(store, KEY, sealed(10), { maxAttempts: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WriteConflictError);
    expect(err).toMatchObject({ code: "write_conflict" });
    expect(store.put).toHaveBeenCalledTimes(3);
  });

  it("does not retry other store errors", async () => {
    const store = new MemoryStore();
    jest.spyOn(store, "put").mockRejectedValue(new StoreError("denied", "no", 403));
    await expect(writeIfNewer(store, KEY, sealed(10))).rejects.toMatchObject({ code: "denied" });
    expect(store.put).toHaveBeenCalledTimes(1);
  });
});
