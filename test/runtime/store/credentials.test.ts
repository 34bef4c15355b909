import { RefreshingCredentials, StaticCredentials } from "../../../runtime/store/credentials";
import type { AwsCredentials } from "../../../runtime/store/sigv4";
import { StoreError } from "../../../runtime/store/types";

const creds = (id: string, expiration?: Date): AwsCredentials => ({ accessKeyId: id, secretAccessKey: "s", expiration });
const settle = () => new Promise((r) => setImmediate(r));

describe("StaticCredentials", () => {
  it("hands out the same keys, synchronously and from resolve()", async () => {
    const c = new StaticCredentials(creds("A"));
    expect(c.current().accessKeyId).toBe("A");
    await expect(c.resolve()).resolves.toMatchObject({ accessKeyId: "A" });
  });
});

describe("RefreshingCredentials", () => {
  it("has nothing before the first resolve, then serves the cached credentials without calling the provider", async () => {
    const provider = jest.fn(async () => creds("A"));
    const c = new RefreshingCredentials({ provider });
    expect(c.current()).toBeUndefined();
    await c.resolve();
    expect(c.current()!.accessKeyId).toBe("A");
    c.current();
    expect(provider).toHaveBeenCalledTimes(1);
  });

  it("is single-flight: concurrent resolves share one provider call", async () => {
    let finish!: (v: AwsCredentials) => void;
    const provider = jest.fn(() => new Promise<AwsCredentials>((r) => (finish = r)));
    const c = new RefreshingCredentials({ provider });
    const a = c.resolve();
    const b = c.resolve();
    expect(a).toBe(b);
    finish(creds("A"));
    await expect(a).resolves.toMatchObject({ accessKeyId: "A" });
    expect(provider).toHaveBeenCalledTimes(1);
  });

  it("inside the refresh window: serves the still-valid keys and refreshes in the background", async () => {
    let now = 0;
    const provider = jest
      .fn()
      .mockResolvedValueOnce(creds("OLD", new Date(10_000)))
      .mockResolvedValueOnce(creds("NEW", new Date(100_000)));
    const c = new RefreshingCredentials({ provider, refreshBeforeExpiryMs: 2_000, now: () => now });
    await c.resolve();
    now = 7_000; // outside the window: no refresh
    expect(c.current()!.accessKeyId).toBe("OLD");
    expect(provider).toHaveBeenCalledTimes(1);
    now = 9_000; // inside it
    expect(c.current()!.accessKeyId).toBe("OLD");
    await settle();
    expect(provider).toHaveBeenCalledTimes(2);
    expect(c.current()!.accessKeyId).toBe("NEW");
  });

  it("never hands out expired credentials", async () => {
    let now = 0;
    const c = new RefreshingCredentials({ provider: async () => creds("A", new Date(1_000)), now: () => now });
    await c.resolve();
    now = 1_000;
    expect(c.current()).toBeUndefined();
  });

  it("keys without an expiration never expire", async () => {
    let now = 0;
    const c = new RefreshingCredentials({ provider: async () => creds("A"), now: () => now });
    await c.resolve();
    now = 1e15;
    expect(c.current()!.accessKeyId).toBe("A");
  });

  it("a provider failure is a StoreError denied, and the next resolve tries again", async () => {
    const provider = jest.fn().mockRejectedValueOnce(new Error("IMDS unreachable")).mockResolvedValueOnce(creds("A"));
    const c = new RefreshingCredentials({ provider });
    const err = await c.resolve().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ code: "denied", message: expect.stringContaining("IMDS unreachable") });
    await expect(c.resolve()).resolves.toMatchObject({ accessKeyId: "A" });
  });

  it("a background refresh that fails keeps the still-valid keys", async () => {
    let now = 0;
    const provider = jest
      .fn()
      .mockResolvedValueOnce(creds("OLD", new Date(10_000)))
      .mockRejectedValue(new Error("down"));
    const c = new RefreshingCredentials({ provider, refreshBeforeExpiryMs: 5_000, now: () => now });
    await c.resolve();
    now = 6_000;
    expect(c.current()!.accessKeyId).toBe("OLD");
    await settle();
    expect(c.current()!.accessKeyId).toBe("OLD");
  });

  it("after close() it no longer refreshes in the background", async () => {
    let now = 0;
    const provider = jest.fn(async () => creds("A", new Date(10_000)));
    const c = new RefreshingCredentials({ provider, refreshBeforeExpiryMs: 5_000, now: () => now });
    await c.resolve();
    c.close();
    now = 6_000;
    expect(c.current()!.accessKeyId).toBe("A");
    await settle();
    expect(provider).toHaveBeenCalledTimes(1);
  });
});
