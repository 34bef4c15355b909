import { createPrivateKey, sign as edSign } from "node:crypto";
import {
  canonicalJson,
  checkRegistryDocument,
  defaultRegistryRef,
  parseSignedRegistryDocument,
  registryDigest,
  registrySigningInput,
  RegistryDocumentError,
  signRegistryDocument,
  verifySignedRegistryDocument,
} from "../../wire/registry-document";
import { adminPublicKey, localAdminSigner } from "../../wire/key-directory";
import { DEFAULT_REGISTRY_REF, DEFAULT_VIEWS } from "../../registry/views";
import { testAdmin } from "../helpers/key-directory";
import { signedRegistry, smallView } from "../helpers/registry-document";

const admin = testAdmin("admin-a");
const admins = new Map([[admin.entry.kid, adminPublicKey(admin.entry)]]);

function envelope(bytes: Buffer): { v: number; payload: string; signer: string; signature: string } {
  return JSON.parse(bytes.toString("utf8")) as { v: number; payload: string; signer: string; signature: string };
}

/** Sign an arbitrary payload with the admin key (what a buggy admin tool could make). */
function resign(payload: Buffer): Buffer {
  const signature = edSign(null, registrySigningInput(payload), createPrivateKey(admin.pem));
  return Buffer.from(JSON.stringify({ v: 1, payload: payload.toString("base64"), signer: admin.entry.kid, signature: signature.toString("base64") }));
}

describe("wire/registry-document", () => {
  it("signs canonical bytes, verifies with the pinned admin key, digest = sha256 of the payload", async () => {
    const bytes = await signedRegistry(admin, { version: 3 });
    const parsed = verifySignedRegistryDocument(bytes, admins);
    expect(parsed.document.version).toBe(3);
    expect(parsed.document.lane).toBe("test-lane");
    expect(parsed.registry.names).toEqual(["clicks"]);
    expect(parsed.payload.equals(canonicalJson(parsed.document))).toBe(true);
    expect(parsed.digest).toBe(registryDigest(parsed.payload));
    expect(parsed.digest).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("canonical JSON sorts keys at every level and keeps array order", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } }).toString()).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  });

  it("the same views in another key order sign to the same digest", async () => {
    const a = await signRegistryDocument({ lane: "l", version: 1, issued_at: 5, views: [smallView("v")] }, admin.entry.kid, localAdminSigner(admin.pem));
    const reordered = {
      views: [
        { features: [{ type: "float" as const, name: "score" }], owner: "tests@example.com", description: "test view v", max_age_seconds: 3600, entity_key: "id", name: "v" },
      ],
      issued_at: 5,
      version: 1,
      lane: "l",
    };
    const b = await signRegistryDocument(reordered, admin.entry.kid, localAdminSigner(admin.pem));
    expect(parseSignedRegistryDocument(Buffer.from(a)).digest).toBe(parseSignedRegistryDocument(Buffer.from(b)).digest);
  });

  it("refuses a document signed by a key that is not pinned", async () => {
    const other = testAdmin("admin-a"); // same kid, different key: the host's own
    const bytes = await signedRegistry(other, { version: 2 });
    expect(() => verifySignedRegistryDocument(bytes, admins)).toThrow(/signature does not verify/);
    const unknown = await signedRegistry(testAdmin("admin-x"), { version: 2 });
    expect(() => verifySignedRegistryDocument(unknown, admins)).toThrow(/not an admin key pinned/);
  });

  it("refuses a tampered payload (a view added after signing)", async () => {
    const bytes = await signedRegistry(admin, { version: 2 });
    const env = envelope(bytes);
    const doc = JSON.parse(Buffer.from(env.payload, "base64").toString()) as { views: unknown[] };
    doc.views.push(smallView("injected"));
    const tampered = Buffer.from(JSON.stringify({ ...env, payload: canonicalJson(doc).toString("base64") }));
    expect(() => verifySignedRegistryDocument(tampered, admins)).toThrow(/signature does not verify/);
  });

  it("refuses a payload that is not canonical, even when signed (one registry, one digest)", () => {
    const doc = { lane: "test-lane", version: 2, issued_at: 1, views: [smallView("v")] };
    const pretty = Buffer.from(JSON.stringify(doc, null, 2));
    expect(() => verifySignedRegistryDocument(resign(pretty), admins)).toThrow(/not canonical/);
    expect(verifySignedRegistryDocument(resign(canonicalJson(doc)), admins).document.version).toBe(2);
  });

  it.each([
    ["version 0", { version: 0 }, /version must be an integer ≥ 1/],
    ["a fractional version", { version: 1.5 }, /version/],
    ["a bad lane", { lane: "Not A Lane" }, /lane must match/],
    ["an unknown field", { extra: 1 }, /unknown field "extra"/],
    ["a view with a bad type", { views: [smallView("v", [{ name: "x", type: "decimal" as never }])] }, /type must be one of/],
    ["a feature colliding with the entity key", { views: [smallView("v", [{ name: "id", type: "int" }])] }, /collides/],
    ["a view defined twice", { views: [smallView("v"), smallView("v")] }, /defined twice/],
    ["a zero max age", { views: [smallView("v", undefined, 0)] }, /ttlSeconds/],
  ])("refuses %s", (_what, change, message) => {
    const doc = { lane: "test-lane", version: 2, issued_at: 1, views: [smallView("v")], ...change };
    expect(() => checkRegistryDocument(doc)).toThrow(RegistryDocumentError);
    expect(() => checkRegistryDocument(doc)).toThrow(message);
    expect(() => verifySignedRegistryDocument(resign(canonicalJson(doc)), admins)).toThrow(message);
  });

  it("will not sign what an enclave would refuse", async () => {
    await expect(signRegistryDocument({ lane: "l", version: 0, issued_at: 1, views: [] }, admin.entry.kid, localAdminSigner(admin.pem))).rejects.toThrow(/version/);
  });

  it("refuses malformed envelopes", async () => {
    const bytes = await signedRegistry(admin, { version: 2 });
    const env = envelope(bytes);
    expect(() => parseSignedRegistryDocument(Buffer.from("not json"))).toThrow(/not JSON/);
    expect(() => parseSignedRegistryDocument(Buffer.from(JSON.stringify({ ...env, v: 2 })))).toThrow(/v must be 1/);
    expect(() => parseSignedRegistryDocument(Buffer.from(JSON.stringify({ ...env, signature: "AAAA" })))).toThrow(/64 bytes/);
    expect(() => parseSignedRegistryDocument(Buffer.from(JSON.stringify({ ...env, more: 1 })))).toThrow(/unknown field/);
    expect(() => parseSignedRegistryDocument(Buffer.alloc(0))).toThrow(/bytes/);
  });

  it("the signing input is the domain and the payload's SHA-256 (fits KMS Sign's 4096-byte RAW limit)", async () => {
    const bytes = await signRegistryDocument({ lane: "l", version: 1, issued_at: 1, views: DEFAULT_VIEWS }, admin.entry.kid, (input) => {
      expect(input.length).toBeLessThan(100);
      return edSign(null, input, createPrivateKey(admin.pem));
    });
    expect(Buffer.from(envelope(Buffer.from(bytes)).payload, "base64").length).toBeGreaterThan(4096);
  });

  it("the image default is version 0 with a digest over exactly its views", () => {
    expect(DEFAULT_REGISTRY_REF).toEqual(defaultRegistryRef(DEFAULT_VIEWS));
    expect(DEFAULT_REGISTRY_REF.version).toBe(0);
    expect(defaultRegistryRef(DEFAULT_VIEWS.slice(1)).digest).not.toBe(DEFAULT_REGISTRY_REF.digest);
  });
});
