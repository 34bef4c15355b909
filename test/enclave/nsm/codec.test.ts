import { cborDecoder, cborEncoder, checkAttestationRequest, decodeAttestationResponse, encodeAttestationRequest, NSM_LIMITS, NsmError } from "../../../enclave/nsm/codec";

const codeOf = (f: () => unknown): string => {
  try {
    f();
    return "accepted";
  } catch (err) {
    expect(err).toBeInstanceOf(NsmError);
    return (err as NsmError).code;
  }
};

describe("NSM request encoding", () => {
  it("is {Attestation: {user_data, nonce, public_key}} with absent fields as null, as nsm-api's serde_cbor expects", () => {
    const decoded = cborDecoder.decode(encodeAttestationRequest({ nonce: Buffer.from("n") })) as Map<string, Map<string, unknown>>;
    expect([...decoded.keys()]).toEqual(["Attestation"]);
    const fields = decoded.get("Attestation")!;
    expect([...fields.keys()]).toEqual(["user_data", "nonce", "public_key"]);
    expect(fields.get("user_data")).toBeNull();
    expect(Buffer.from(fields.get("nonce") as Uint8Array).toString()).toBe("n");
    expect(fields.get("public_key")).toBeNull();
  });

  it("encodes byte strings untagged (CBOR major type 2), never as typed arrays", () => {
    const bytes = encodeAttestationRequest({ userData: Buffer.from([1, 2, 3]) });
    // 0x43 = byte string of length 3; a tagged Uint8Array would carry tag 64 (0xd8 0x40) in front.
    expect(bytes.includes(Buffer.from([0x43, 1, 2, 3]))).toBe(true);
    expect(bytes.includes(Buffer.from([0xd8, 0x40]))).toBe(false);
  });

  it.each<[string, object]>([
    ["user_data", { userData: Buffer.alloc(NSM_LIMITS.userData + 1) }],
    ["nonce", { nonce: Buffer.alloc(NSM_LIMITS.nonce + 1) }],
    ["public_key", { publicKey: Buffer.alloc(NSM_LIMITS.publicKey + 1) }],
  ])("refuses an oversized %s with the NSM's own code, InputTooLarge", (_field, request) => {
    expect(codeOf(() => checkAttestationRequest(request))).toBe("InputTooLarge");
    expect(codeOf(() => encodeAttestationRequest(request))).toBe("InputTooLarge");
  });

  it("accepts every field at its limit", () => {
    expect(codeOf(() => encodeAttestationRequest({ userData: Buffer.alloc(512), nonce: Buffer.alloc(512), publicKey: Buffer.alloc(1024) }))).toBe("accepted");
  });
});

describe("NSM response decoding", () => {
  const encode = (v: unknown) => Buffer.from(cborEncoder.encode(v));

  it("returns Attestation.document", () => {
    const document = Buffer.from([0xd2, 0x84, 1, 2]);
    expect(decodeAttestationResponse(encode(new Map([["Attestation", new Map([["document", document]])]])))).toEqual(document);
  });

  it.each<[string, unknown, string]>([
    ["an Error map", new Map([["Error", "InvalidArgument"]]), "InvalidArgument"],
    ["an Error that is not a string", new Map([["Error", 7]]), "InvalidResponse"],
    ["a bare unit string", "InternalError", "InternalError"],
    ["a map without Attestation", new Map([["Other", 1]]), "InvalidResponse"],
    ["an empty document", new Map([["Attestation", new Map([["document", Buffer.alloc(0)]])]]), "InvalidResponse"],
    ["a document that is text", new Map([["Attestation", new Map([["document", "doc"]])]]), "InvalidResponse"],
    ["a number", 42, "InvalidResponse"],
  ])("refuses %s with code %s", (_what, value, code) => {
    expect(codeOf(() => decodeAttestationResponse(encode(value)))).toBe(code);
  });

  it("refuses bytes that are not CBOR", () => {
    expect(codeOf(() => decodeAttestationResponse(Buffer.from([0xff, 0xff])))).toBe("InvalidResponse");
  });

  it("NsmError messages carry the code", () => {
    expect(new NsmError("InputTooLarge", "x").message).toBe("NSM InputTooLarge: x");
  });
});
