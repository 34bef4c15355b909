import { Signer } from "../../enclave/signer";
import { RegistryState } from "../../enclave/registry-state";
import { DEFAULT_REGISTRY, DEFAULT_REGISTRY_REF } from "../../registry/views";
import { receivedFromSigned, verifyResponse, VerificationError } from "../../verifier/response";
import { testAdmin } from "../helpers/key-directory";
import { signedRegistry } from "../helpers/registry-document";

const NOW = 1_800_000_000_000;

describe("verifier: the registry an answer names", () => {
  it("exposes registry_version/digest and enforces expectRegistry", async () => {
    const admin = testAdmin();
    const state = new RegistryState({ lane: "test-lane", adminKeys: [admin.entry] }, { registry: DEFAULT_REGISTRY, ref: DEFAULT_REGISTRY_REF }, () => NOW);
    const held = state.accept(await signedRegistry(admin, { version: 4 }, NOW));
    const signer = new Signer({ now: () => NOW, registryState: state, keys: { keyring: null } });
    const request = { method: "GET", path: "/v1/features/clicks/c1", query: "" };
    for (const accept of [undefined, "application/msgpack"]) {
      const signed = signer.signRead({ ...request, accept, objects: [null] });
      // This signer holds no checkpoints (fresh_as_of null): freshness is test/verifier/freshness.test.ts's subject.
      const options = { key: signer.key.info.jwk, now: NOW / 1000, maxStaleness: Number.POSITIVE_INFINITY };
      expect(verifyResponse(receivedFromSigned(signed), request, options).registry).toEqual({ version: 4, digest: held.ref.digest });
      expect(verifyResponse(receivedFromSigned(signed), request, { ...options, expectRegistry: { version: 4, digest: held.ref.digest } }).registry?.version).toBe(4);
      expect(verifyResponse(receivedFromSigned(signed), request, { ...options, expectRegistry: { minVersion: 3 } }).registry?.version).toBe(4);
      for (const expectRegistry of [{ version: 3 }, { minVersion: 5 }, { digest: DEFAULT_REGISTRY_REF.digest }]) {
        expect(() => verifyResponse(receivedFromSigned(signed), request, { ...options, expectRegistry })).toThrow(expect.objectContaining({ code: "registry_mismatch" }));
        expect(() => verifyResponse(receivedFromSigned(signed), request, { ...options, expectRegistry })).toThrow(VerificationError);
      }
    }
  });
});
