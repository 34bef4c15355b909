import { KeyState, KeyStateError } from "../../enclave/key-state";
import { directoryOf, listed, testAdmin, testWriterKey } from "../helpers/key-directory";

const NOW = 1_800_000_000_000;
const admin = testAdmin("admin-1");
const alice = testWriterKey("alice", "alice-1");
const bob = testWriterKey("bob", "bob-1");
const state = (now = () => NOW) => new KeyState({ lane: "lane-a", adminKeys: [admin.entry] }, now);

function codeOf(f: () => unknown): string {
  try {
    f();
    return "accepted";
  } catch (err) {
    expect(err).toBeInstanceOf(KeyStateError);
    return (err as KeyStateError).code;
  }
}

describe("KeyState", () => {
  it("refuses an image that pins no admin key or a bad lane", () => {
    expect(() => new KeyState({ lane: "lane-a", adminKeys: [] })).toThrow(/pins no admin key/);
    expect(() => new KeyState({ lane: "Lane", adminKeys: [admin.entry] })).toThrow(/lane must match/);
  });

  it("has no keyring before a directory: everything is refused", () => {
    const s = state();
    s.offerKeys([{ kid: alice.kid, key: alice.key }]);
    expect(s.keyring).toBeNull();
    expect(s.epoch).toBe(0);
  });

  it("the keyring is exactly directory ∩ held material, whichever arrives first", async () => {
    const s = state();
    s.offerKeys([{ kid: alice.kid, key: alice.key }]); // before the directory: waits
    s.acceptDirectory(await admin.sign(directoryOf("lane-a", 1, NOW, [listed(alice), listed(bob, "verify")])));
    expect(s.keyring!.kids).toEqual([alice.kid]);
    expect(s.missing).toEqual([bob.kid]);
    s.offerKeys([{ kid: bob.kid, key: bob.key }]);
    expect(s.keyring!.kids.sort()).toEqual([alice.kid, bob.kid]);
    expect(s.keyring!.writeKey(bob.kid)).toBeUndefined(); // verify-only
    expect(s.writerOf(alice.kid)).toBe("alice");
    expect(s.holds(alice.kid)).toBe(true);
    expect(s.keyring!.expiresAt).toBe(s.expiresAt);
  });

  it("maySequence: only a write key the current directory names for the view (P8)", async () => {
    const s = state();
    expect(s.maySequence(alice.kid, "users")).toBe(false); // no directory yet
    s.acceptDirectory(await admin.sign(directoryOf("lane-a", 1, NOW, [listed(alice, "write", ["users"]), listed(bob, "write", null)])));
    expect(s.maySequence(alice.kid, "users")).toBe(true);
    expect(s.maySequence(alice.kid, "items")).toBe(false);
    expect(s.maySequence(bob.kid, "users")).toBe(false);
    expect(s.maySequence("unlisted", "users")).toBe(false);
    // The next directory takes the designation away: it goes at once.
    s.acceptDirectory(await admin.sign(directoryOf("lane-a", 2, NOW, [listed(alice, "write", ["items"])])));
    expect(s.maySequence(alice.kid, "users")).toBe(false);
    expect(s.maySequence(alice.kid, "items")).toBe(true);
  });

  it("material for a kid the directory does not list is dropped, not kept", async () => {
    const s = state();
    s.acceptDirectory(await admin.sign(directoryOf("lane-a", 1, NOW, [listed(alice)])));
    s.offerKeys([{ kid: bob.kid, key: bob.key }]);
    expect(s.holds(bob.kid)).toBe(false);
    // A later directory that lists bob does not resurrect material it never kept.
    s.acceptDirectory(await admin.sign(directoryOf("lane-a", 2, NOW, [listed(alice), listed(bob)])));
    expect(s.missing).toEqual([alice.kid, bob.kid]);
  });

  it("refuses material that does not match the directory's commitment (a host's own key under a listed kid)", async () => {
    const s = state();
    s.acceptDirectory(await admin.sign(directoryOf("lane-a", 1, NOW, [listed(alice)])));
    expect(codeOf(() => s.offerKeys([{ kid: alice.kid, key: testWriterKey("alice").key }]))).toBe("key_commitment_mismatch");
    expect(codeOf(() => s.offerKeys([{ kid: alice.kid, key: Buffer.alloc(16) }]))).toBe("key_commitment_mismatch");
    expect(s.keyring!.kids).toEqual([]);
  });

  it("revocation: a kid the next directory no longer lists is dropped with its material", async () => {
    const s = state();
    s.acceptDirectory(await admin.sign(directoryOf("lane-a", 1, NOW, [listed(alice), listed(bob)])));
    s.offerKeys([
      { kid: alice.kid, key: alice.key },
      { kid: bob.kid, key: bob.key },
    ]);
    s.acceptDirectory(await admin.sign(directoryOf("lane-a", 2, NOW, [listed(alice)])));
    expect(s.keyring!.kids).toEqual([alice.kid]);
    expect(s.holds(bob.kid)).toBe(false);
    // Re-listing bob later needs the material again: the host cannot bring the old one back silently.
    s.acceptDirectory(await admin.sign(directoryOf("lane-a", 3, NOW, [listed(alice), listed(bob)])));
    expect(s.missing).toEqual([bob.kid]);
  });

  it("a kid re-issued under another commitment drops the old material", async () => {
    const s = state();
    s.acceptDirectory(await admin.sign(directoryOf("lane-a", 1, NOW, [listed(alice)])));
    s.offerKeys([{ kid: alice.kid, key: alice.key }]);
    const reissued = { ...alice, key: testWriterKey("alice").key };
    s.acceptDirectory(await admin.sign(directoryOf("lane-a", 2, NOW, [listed(reissued)])));
    expect(s.holds(alice.kid)).toBe(false);
    expect(s.keyring!.kids).toEqual([]);
  });

  it("epochs only move forward; the same epoch is accepted again only with identical content", async () => {
    const s = state();
    const two = await admin.sign(directoryOf("lane-a", 2, NOW, [listed(alice)]));
    s.acceptDirectory(two);
    expect(codeOf(() => s.acceptDirectory(two))).toBe("accepted"); // idempotent re-send
    const one = await admin.sign(directoryOf("lane-a", 1, NOW, [listed(alice), listed(bob)]));
    expect(codeOf(() => s.acceptDirectory(one))).toBe("key_directory_rollback");
    const otherTwo = await admin.sign(directoryOf("lane-a", 2, NOW, [listed(alice), listed(bob)]));
    expect(codeOf(() => s.acceptDirectory(otherTwo))).toBe("key_directory_rollback");
    expect(s.epoch).toBe(2);
  });

  it.each<[string, () => Promise<Buffer>]>([
    ["signed by an admin the image does not pin", () => testAdmin("admin-1").sign(directoryOf("lane-a", 1, NOW, []))],
    ["for another lane", () => admin.sign(directoryOf("lane-b", 1, NOW, []))],
    ["issued in the future (beyond the clock skew)", () => admin.sign({ ...directoryOf("lane-a", 1, NOW, []), issued_at: NOW + 10 * 60_000, expires_at: NOW + 3600_000 })],
    ["expired", () => admin.sign({ ...directoryOf("lane-a", 1, NOW, []), issued_at: NOW - 7200_000, expires_at: NOW })],
    ["not a directory at all", async () => Buffer.from("{}")],
  ])("refuses a directory %s as bad_key_directory, keeping the held one", async (_what, make) => {
    const s = state();
    s.acceptDirectory(await admin.sign(directoryOf("lane-a", 1, NOW, [listed(alice)])));
    const bytes = await make();
    expect(codeOf(() => s.acceptDirectory(bytes))).toBe("bad_key_directory");
    expect(s.epoch).toBe(1);
    expect(s.writerOf(alice.kid)).toBe("alice");
  });
});
