import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { cborEncoder, Tag } from "../../enclave/nsm/codec";
import { measureLocalBundle } from "../../enclave/nsm/local-nsm";
import { keyidForRawKey, rawFromPublicKey } from "../../wire/keys";
import {
  unverifiedPcr0,
  AttestationError,
  type AttestationErrorCode,
  DEFAULT_MAX_AGE_MS,
  jwkThumbprintEd25519,
  loadPinnedRoot,
  parseMeasurements,
  verifyAttestation,
  type VerifyAttestationOptions,
} from "../../verifier/attestation";
import { decodeDocument, leafKey, localSetup, resignDocument } from "../enclave/nsm/fixtures";

function ed25519Raw(): Buffer {
  return rawFromPublicKey(generateKeyPairSync("ed25519").publicKey);
}

function expectRefused(run: () => unknown, code: AttestationErrorCode): void {
  let caught: unknown;
  try {
    run();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(AttestationError);
  expect((caught as AttestationError).code).toBe(code);
}

describe("verifyAttestation", () => {
  const lane = localSetup();
  const signerKey = ed25519Raw();
  const nonce = Buffer.from("a fresh nonce from the verifier");
  let doc: Buffer;
  let options: VerifyAttestationOptions;

  beforeAll(async () => {
    doc = await lane.nsm.attest({ publicKey: signerKey, nonce, userData: Buffer.from("hello") });
    options = { root: lane.root(), measurements: lane.measurements(), nonce, expectedKeyId: keyidForRawKey(signerKey) };
  });

  test("a LocalNsm document verifies end to end and yields its facts", () => {
    const verified = verifyAttestation(doc, options);
    expect(verified.publicKey).toEqual(signerKey);
    expect(verified.keyId).toBe(keyidForRawKey(signerKey));
    expect(verified.nonce).toEqual(nonce);
    expect(verified.userData).toEqual(Buffer.from("hello"));
    expect(verified.moduleId).toBe(lane.nsm.moduleId);
    expect(verified.debug).toBe(false);
    expect(Math.abs(verified.timestamp - Date.now())).toBeLessThan(10_000);
    expect([...verified.pcrs.keys()]).toEqual([...Array(16).keys()]);
    expect(verified.pcrs.get(0)!.toString("hex")).toBe(measureLocalBundle(lane.bundlePath).Measurements.PCR0);
    expect(verified.certificate.subject).toContain("CN=express-lane.local-nsm");
  });

  test("the document has the exact Nitro shape", () => {
    const d = decodeDocument(doc);
    expect(d.tagged).toBe(true);
    expect(d.protectedHeader.toString("hex")).toBe("a1013822"); // {1: -35}
    expect(d.unprotected).toEqual(new Map());
    expect(d.signature).toHaveLength(96);
    expect([...d.payload.keys()]).toEqual(["module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle", "public_key", "user_data", "nonce"]);
    expect(d.payload.get("digest")).toBe("SHA384");
    expect(typeof d.payload.get("timestamp")).toBe("bigint"); // uint64, not a float
    const pcrs = d.payload.get("pcrs") as Map<number, Buffer>;
    expect([...pcrs.values()].every((v) => v.length === 48)).toBe(true);
    const cabundle = d.payload.get("cabundle") as Buffer[];
    expect(cabundle).toHaveLength(2);
    expect(Buffer.from(cabundle[0]!).equals(lane.root().raw)).toBe(true);
    const leaf = new X509Certificate(d.payload.get("certificate") as Buffer);
    expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe("secp384r1");
    expect(leaf.ca).toBe(false);
  });

  test("absent request fields are null, like the NSM's", async () => {
    const d = decodeDocument(await lane.nsm.attest({}));
    expect(d.payload.get("public_key")).toBeNull();
    expect(d.payload.get("user_data")).toBeNull();
    expect(d.payload.get("nonce")).toBeNull();
  });

  test("an untagged COSE_Sign1 (as /dev/nsm returns it) verifies too", () => {
    const d = decodeDocument(doc);
    const untagged = cborEncoder.encode([d.protectedHeader, new Map(), d.payloadBytes, d.signature]);
    expect(verifyAttestation(untagged, options).publicKey).toEqual(signerKey);
  });

  // --- one test per failure class -------------------------------------------------------------

  test("flipped payload byte → BAD_SIGNATURE", () => {
    const at = doc.indexOf(Buffer.from("hello")); // inside user_data: still valid CBOR
    const tampered = Buffer.from(doc);
    tampered[at] ^= 0x01;
    expectRefused(() => verifyAttestation(tampered, options), "BAD_SIGNATURE");
  });

  test("no single flipped byte anywhere in the document is accepted", () => {
    for (let i = 0; i < doc.length; i += 3) {
      const tampered = Buffer.from(doc);
      tampered[i] ^= 0x80;
      expect(() => verifyAttestation(tampered, options)).toThrow(AttestationError);
    }
  });

  test("wrong root → UNTRUSTED_ROOT (AWS root pinned, or another dev CA)", async () => {
    expectRefused(() => verifyAttestation(doc, { ...options, root: loadPinnedRoot("aws") }), "UNTRUSTED_ROOT");
    const other = localSetup();
    await other.nsm.attest({});
    expectRefused(() => verifyAttestation(doc, { ...options, root: other.root() }), "UNTRUSTED_ROOT");
  });

  test("a leaf from another CA under our cabundle → BAD_CHAIN", async () => {
    const other = localSetup();
    const otherDoc = await other.nsm.attest({ publicKey: signerKey, nonce });
    const ourCabundle = decodeDocument(doc).payload.get("cabundle");
    const forged = resignDocument(otherDoc, leafKey(other.devCaDir), (p) => p.set("cabundle", ourCabundle));
    expectRefused(() => verifyAttestation(forged, { ...options, measurements: "unchecked" }), "BAD_CHAIN");
  });

  test("the leaf key cannot act as a CA → BAD_CHAIN", () => {
    // A forger holding the leaf key appends the leaf to cabundle and signs with... the leaf: the
    // chain then has a non-CA issuer.
    const d = decodeDocument(doc);
    const forged = resignDocument(doc, leafKey(lane.devCaDir), (p) => p.set("cabundle", [...(d.payload.get("cabundle") as Buffer[]), d.payload.get("certificate")]));
    expectRefused(() => verifyAttestation(forged, options), "BAD_CHAIN");
  });

  test("expired leaf → CERT_EXPIRED; not yet valid → CERT_NOT_YET_VALID", () => {
    const leaf = new X509Certificate(decodeDocument(doc).payload.get("certificate") as Buffer);
    const afterExpiry = new Date(new Date(leaf.validTo).getTime() + 1000);
    expectRefused(() => verifyAttestation(doc, { ...options, now: afterExpiry, maxAgeMs: 10 * 3600_000 }), "CERT_EXPIRED");
    const beforeIssue = new Date(new Date(leaf.validFrom).getTime() - 1000);
    expectRefused(() => verifyAttestation(doc, { ...options, now: beforeIssue }), "CERT_NOT_YET_VALID");
  });

  test("PCR not in the allowlist → PCR_MISMATCH; any matching set in a list passes", () => {
    const other = localSetup("console.log('signer v2, one line changed');\n");
    const v2 = other.measurements();
    expectRefused(() => verifyAttestation(doc, { ...options, measurements: v2 }), "PCR_MISMATCH");
    expectRefused(() => verifyAttestation(doc, { ...options, measurements: [] }), "PCR_MISMATCH");
    expect(() => verifyAttestation(doc, { ...options, measurements: [...v2, ...lane.measurements()] })).not.toThrow();
    // Extra PCRs narrow a set further: PCR0..2 plus the (local: zero) PCR4 still matches.
    const withPcr4 = parseMeasurements({ ...measureLocalBundle(lane.bundlePath).Measurements, PCR4: "00".repeat(48) });
    expect(() => verifyAttestation(doc, { ...options, measurements: withPcr4 })).not.toThrow();
  });

  test("an allowlist entry without PCR0, PCR1 and PCR2 is refused: one naming only PCR4 used to accept any image", async () => {
    // The attack: PCR4 is the parent instance, the same for every image on it (zero locally), so an
    // entry pinning only PCR4 matched a document from another signer bundle.
    const otherImage = localSetup("console.log('a signer nobody reviewed');\n");
    const otherDoc = await otherImage.nsm.attest({ publicKey: signerKey, nonce });
    const pcr4Only = new Map([[4, Buffer.alloc(48)]]);
    expectRefused(() => verifyAttestation(otherDoc, { ...options, root: otherImage.root(), measurements: [pcr4Only] }), "INCOMPLETE_ALLOWLIST");
    // Refused at load time, with the reason, whichever required PCR is missing.
    expect(() => parseMeasurements({ PCR4: "00".repeat(48) })).toThrow(/measurements\[0\]: does not pin PCR0, PCR1, PCR2 \(has PCR4\).*must pin PCR0, PCR1 and PCR2/);
    const full = measureLocalBundle(lane.bundlePath).Measurements;
    for (const dropped of ["PCR0", "PCR1", "PCR2"] as const) {
      const { [dropped]: _gone, ...partial } = full;
      expect(() => parseMeasurements([{ Measurements: full }, { Measurements: partial }])).toThrow(new RegExp(`measurements\\[1\\]: does not pin ${dropped} `));
    }
    // One incomplete entry in a list poisons the list: a rollout list is refused whole.
    const good = lane.measurements()[0]!;
    expectRefused(() => verifyAttestation(doc, { ...options, measurements: [good, new Map([[0, good.get(0)!]])] }), "INCOMPLETE_ALLOWLIST");
  });

  test("wrong nonce → NONCE_MISMATCH (and a document without one)", async () => {
    expectRefused(() => verifyAttestation(doc, { ...options, nonce: Buffer.from("another nonce") }), "NONCE_MISMATCH");
    const noNonce = await lane.nsm.attest({ publicKey: signerKey });
    expectRefused(() => verifyAttestation(noNonce, options), "NONCE_MISMATCH");
  });

  test("stale document → STALE_DOCUMENT; far-future timestamp → FUTURE_DOCUMENT", () => {
    const timestamp = Number(decodeDocument(doc).payload.get("timestamp"));
    expectRefused(() => verifyAttestation(doc, { ...options, now: new Date(timestamp + DEFAULT_MAX_AGE_MS + 1) }), "STALE_DOCUMENT");
    expectRefused(() => verifyAttestation(doc, { ...options, maxAgeMs: 1000, now: new Date(timestamp + 1001) }), "STALE_DOCUMENT");
    expect(() => verifyAttestation(doc, { ...options, maxAgeMs: 1000, now: new Date(timestamp + 999) })).not.toThrow();
    const forged = resignDocument(doc, leafKey(lane.devCaDir), (p) => p.set("timestamp", BigInt(Date.now() + 10 * 60_000)));
    expectRefused(() => verifyAttestation(forged, options), "FUTURE_DOCUMENT");
  });

  test("debug-mode PCRs → DEBUG_MODE unless allowDebug", async () => {
    const debugLane = localSetup(undefined, { debug: true });
    const debugDoc = await debugLane.nsm.attest({ publicKey: signerKey, nonce });
    const debugOptions = { ...options, root: debugLane.root() };
    expectRefused(() => verifyAttestation(debugDoc, debugOptions), "DEBUG_MODE");
    // Even an allowlist that lists the zeros does not let debug through without allowDebug.
    const zeros = parseMeasurements({ PCR0: "00".repeat(48), PCR1: "00".repeat(48), PCR2: "00".repeat(48) });
    expectRefused(() => verifyAttestation(debugDoc, { ...debugOptions, measurements: zeros }), "DEBUG_MODE");
    const verified = verifyAttestation(debugDoc, { ...debugOptions, measurements: zeros, allowDebug: true });
    expect(verified.debug).toBe(true);
  });

  test("key mismatch with the expected keyid → PUBLIC_KEY_MISMATCH", async () => {
    const someoneElse = ed25519Raw();
    expectRefused(() => verifyAttestation(doc, { ...options, expectedKeyId: keyidForRawKey(someoneElse) }), "PUBLIC_KEY_MISMATCH");
    expectRefused(() => verifyAttestation(doc, { ...options, expectedKeyId: undefined, expectedPublicKey: someoneElse }), "PUBLIC_KEY_MISMATCH");
    const rsaLike = await lane.nsm.attest({ publicKey: Buffer.alloc(294, 1), nonce });
    expectRefused(() => verifyAttestation(rsaLike, options), "PUBLIC_KEY_MISMATCH");
  });

  test("algorithm downgrades → UNSUPPORTED_ALGORITHM", () => {
    const es256Header = cborEncoder.encode(new Map([[1, -7]]));
    const forged = resignDocument(doc, leafKey(lane.devCaDir), () => undefined, es256Header);
    expectRefused(() => verifyAttestation(forged, options), "UNSUPPORTED_ALGORITHM");
    const sha256Digest = resignDocument(doc, leafKey(lane.devCaDir), (p) => p.set("digest", "SHA256"));
    expectRefused(() => verifyAttestation(sha256Digest, options), "UNSUPPORTED_ALGORITHM");
  });

  test("garbage and wrong shapes → MALFORMED", () => {
    expectRefused(() => verifyAttestation(Buffer.from("not cbor at all \xff"), options), "MALFORMED");
    expectRefused(() => verifyAttestation(cborEncoder.encode(new Tag([1, 2, 3, 4], 18)), options), "MALFORMED");
    expectRefused(() => verifyAttestation(cborEncoder.encode(new Tag(decodeDocument(doc), 98)), options), "MALFORMED");
    const noPcrs = resignDocument(doc, leafKey(lane.devCaDir), (p) => p.set("pcrs", new Map()));
    expectRefused(() => verifyAttestation(noPcrs, options), "MALFORMED");
  });

  test("measurements: 'unchecked' must be chosen explicitly", () => {
    expect(() => verifyAttestation(doc, { ...options, measurements: "unchecked" })).not.toThrow();
  });
});

describe("parseMeasurements", () => {
  const pcr = (c: string) => c.repeat(96);

  test("reads nitro-cli's output, a bare object, and lists of either", () => {
    const nitro = { Measurements: { HashAlgorithm: "Sha384 { ... }", PCR0: pcr("a"), PCR1: pcr("b"), PCR2: pcr("c") } };
    const [set] = parseMeasurements(nitro);
    expect([...set!.keys()]).toEqual([0, 1, 2]);
    expect(set!.get(2)!.toString("hex")).toBe(pcr("c"));
    expect(parseMeasurements([nitro, { PCR0: pcr("d"), PCR1: pcr("e"), PCR2: pcr("f"), PCR8: pcr("0") }])).toHaveLength(2);
  });

  test("refuses what it cannot trust", () => {
    expect(() => parseMeasurements({ Measurements: { HashAlgorithm: "Sha256", PCR0: pcr("a") } })).toThrow(/Sha384/);
    expect(() => parseMeasurements({ PCR0: pcr("a") })).toThrow(/does not pin PCR1, PCR2/);
    expect(() => parseMeasurements({ PCR0: "abc" })).toThrow(/96 hex/);
    expect(() => parseMeasurements({ HashAlgorithm: "Sha384 { ... }" })).toThrow(/no PCRn/);
    expect(() => parseMeasurements([])).toThrow(/empty/);
  });
});

describe("jwkThumbprintEd25519", () => {
  test("matches RFC 8037 appendix A.3", () => {
    const x = Buffer.from("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "base64url");
    expect(jwkThumbprintEd25519(x)).toBe("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
  });
});

describe("unverifiedPcr0 (a label for lane_build_info, never a trust decision)", () => {
  it("reads PCR0 of a document without verifying it, and null for what is not one", async () => {
    const lane = localSetup();
    const document = await lane.nsm.attest({});
    const expected = measureLocalBundle(lane.bundlePath).Measurements.PCR0.toLowerCase();
    expect(unverifiedPcr0(document)).toBe(expected);
    expect(unverifiedPcr0(Buffer.from("not a document"))).toBeNull();
  });
});
