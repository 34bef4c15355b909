import { RegistryState, RegistryStateError } from "../../enclave/registry-state";
import { Signer } from "../../enclave/signer";
import { generateSealKey, SealKeyring } from "../../enclave/seal";
import { DEFAULT_REGISTRY, DEFAULT_REGISTRY_REF } from "../../registry/views";
import { decodeProvisionRegistryResponse, encodeFrame, FrameKind, decodePayload, type ErrorReply } from "../../wire/frames";
import { testAdmin } from "../helpers/key-directory";
import { signedRegistry, smallView } from "../helpers/registry-document";

const NOW = 1_800_000_000_000;
const admin = testAdmin("admin-r");
const trust = { lane: "test-lane", adminKeys: [admin.entry] };
const fresh = () => new RegistryState(trust, { registry: DEFAULT_REGISTRY, ref: DEFAULT_REGISTRY_REF }, () => NOW);

function refusal(fn: () => unknown): RegistryStateError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RegistryStateError);
    return err as RegistryStateError;
  }
  throw new Error("not refused");
}

describe("enclave/registry-state", () => {
  it("starts with the image default (version 0)", () => {
    const s = fresh();
    expect(s.current.ref).toEqual(DEFAULT_REGISTRY_REF);
    expect(s.current.registry.get("user_profile")).toBeDefined();
    expect(s.current.signed).toBeNull();
  });

  it("accepts a newer admin-signed document for its lane and serves its views", async () => {
    const s = fresh();
    const held = s.accept(await signedRegistry(admin, { version: 1 }, NOW));
    expect(held.ref.version).toBe(1);
    expect(s.current.registry.names).toEqual(["clicks"]);
    const next = s.accept(await signedRegistry(admin, { version: 5, views: [smallView("clicks"), smallView("orders")] }, NOW));
    expect(next.ref.version).toBe(5);
    expect(s.current.registry.names).toEqual(["clicks", "orders"]);
  });

  it("is idempotent for the same version and digest, refuses another document with that version", async () => {
    const s = fresh();
    const doc = await signedRegistry(admin, { version: 2 }, NOW);
    const first = s.accept(doc);
    expect(s.accept(doc)).toBe(first);
    const other = await signedRegistry(admin, { version: 2, views: [smallView("other")] }, NOW);
    const err = refusal(() => s.accept(other));
    expect(err.code).toBe("registry_rollback");
    expect(err.status).toBe(409);
    expect(s.current.registry.names).toEqual(["clicks"]);
  });

  it("never goes back: an older version is refused and nothing changes", async () => {
    const s = fresh();
    s.accept(await signedRegistry(admin, { version: 3 }, NOW));
    const before = s.current;
    const err = refusal(() => s.accept(Buffer.alloc(0)));
    expect(err.code).toBe("bad_registry_document");
    const older = await signedRegistry(admin, { version: 2, views: [smallView("old")] }, NOW);
    expect(refusal(() => s.accept(older)).code).toBe("registry_rollback");
    expect(s.current).toBe(before);
  });

  it("refuses another lane's document, a foreign signer, and one issued in the future", async () => {
    const s = fresh();
    expect(refusal(() => s.accept(Buffer.alloc(1))).code).toBe("bad_registry_document");
    const otherLane = await signedRegistry(admin, { version: 1, lane: "other-lane" }, NOW);
    expect(refusal(() => s.accept(otherLane)).message).toMatch(/lane other-lane/);
    const host = await signedRegistry(testAdmin("admin-r"), { version: 1 }, NOW);
    expect(refusal(() => s.accept(host)).message).toMatch(/signature does not verify/);
    const future = await signedRegistry(admin, { version: 1, issued_at: NOW + 3_600_000 }, NOW);
    expect(refusal(() => s.accept(future)).message).toMatch(/future/);
    expect(s.current.ref).toEqual(DEFAULT_REGISTRY_REF);
  });
});

describe("schema changes (docs/views.md) in the signer's render and validate path", () => {
  const writerKey = { ...generateSealKey("k1"), writer: "loader" };
  const seals = new SealKeyring([writerKey]);
  const v1 = [
    smallView("orders", [
      { name: "amount", type: "float" },
      { name: "items", type: "int" },
      { name: "note", type: "string" },
    ]),
  ];
  const stored = seals.seal({ view: "orders", entity: "o1", event_time: NOW - 1000, written_time: NOW - 500, features: { amount: 9.5, items: 3, note: "x" } });

  async function signerWith(views: ReturnType<typeof smallView>[]) {
    const state = fresh();
    state.accept(await signedRegistry(admin, { version: 1, views: v1 }, NOW));
    if (views !== v1) state.accept(await signedRegistry(admin, { version: 2, views }, NOW));
    return { signer: new Signer({ now: () => NOW, registryState: state, keys: { keyring: seals } }), state };
  }
  const read = (signer: Signer, query = "") => {
    const signed = signer.signRead({ method: "GET", path: "/v1/features/orders/o1", query, objects: [stored] });
    return { status: signed.status, body: JSON.parse(Buffer.from(signed.body).toString()) as Record<string, unknown> };
  };

  it("answers name the registry they were built with", async () => {
    const { signer, state } = await signerWith(v1);
    const { body } = read(signer);
    expect(body.registry_version).toBe(1);
    expect(body.registry_digest).toBe(state.current.ref.digest);
    expect(body.status).toEqual({ amount: "PRESENT", items: "PRESENT", note: "PRESENT" });
  });

  it("add a feature: old objects read it NOT_FOUND, nothing else changes", async () => {
    const { signer } = await signerWith([smallView("orders", [...v1[0]!.features, { name: "coupon", type: "string" }])]);
    const { body } = read(signer);
    expect(body.status).toEqual({ amount: "PRESENT", items: "PRESENT", note: "PRESENT", coupon: "NOT_FOUND" });
  });

  it("remove a feature: full reads leave it out, a projection of it is unknown_feature", async () => {
    const { signer } = await signerWith([
      smallView(
        "orders",
        v1[0]!.features.filter((f) => f.name !== "note"),
      ),
    ]);
    expect(read(signer).body.features).toEqual({ amount: 9.5, items: 3 });
    expect(() => read(signer, "?features=note")).toThrow(/no feature "note"/);
  });

  it("change a type: stored values of the old type read TYPE_MISMATCH with a null value, never mis-typed", async () => {
    const changed = v1[0]!.features.map((f) => (f.name === "note" ? { name: "note", type: "int" as const } : f.name === "amount" ? { name: "amount", type: "int" as const } : f));
    const { signer } = await signerWith([smallView("orders", changed)]);
    const { body } = read(signer);
    expect(body.features).toEqual({ amount: null, items: 3, note: null });
    expect(body.status).toEqual({ amount: "TYPE_MISMATCH", items: "PRESENT", note: "TYPE_MISMATCH" });
  });

  it("delete a view: reads are 404 unknown_view (the object stays in the store)", async () => {
    const { signer } = await signerWith([smallView("clicks")]);
    expect(() => read(signer)).toThrow(expect.objectContaining({ code: "unknown_view", status: 404 }));
  });

  it("the provision frame accepts a document and reports version+digest; refusals keep the registry", async () => {
    const { signer, state } = await signerWith(v1);
    const reply = signer.handle({ id: 1, kind: FrameKind.ProvisionRegistry, payload: encodeFrame(0, FrameKind.Reply, {}).subarray(9) }, "provision") as Buffer;
    const held = decodeProvisionRegistryResponse(reply.subarray(9));
    expect(held).toMatchObject({ version: 1, digest: state.current.ref.digest });
    const older = await signedRegistry(admin, { version: 1, views: [smallView("x")] }, NOW);
    const refused = signer.handle({ id: 2, kind: FrameKind.ProvisionRegistry, payload: encodeFrame(0, FrameKind.Reply, { document: older }).subarray(9) }, "provision") as Buffer;
    expect(refused.readUInt8(8)).toBe(FrameKind.Error);
    expect(decodePayload<ErrorReply>({ id: 2, kind: FrameKind.Error, payload: refused.subarray(9) })).toMatchObject({ code: "registry_rollback", status: 409 });
    const onRead = signer.handle({ id: 3, kind: FrameKind.ProvisionRegistry, payload: encodeFrame(0, FrameKind.Reply, {}).subarray(9) }, "read") as Buffer;
    expect(decodePayload<ErrorReply>({ id: 3, kind: FrameKind.Error, payload: onRead.subarray(9) }).code).toBe("frame_not_allowed");
    expect(read(signer).body.registry_version).toBe(1);
  });
});
