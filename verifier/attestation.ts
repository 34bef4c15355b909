/**
 * Verifying a Nitro attestation document: is this key an enclave's key, and which enclave's?
 *
 * The whole trust decision lives in `verifyAttestation`, in this order:
 *   1. parse the COSE_Sign1 envelope (ES384 only);
 *   2. the certificate chain: cabundle[0] must be byte-equal to the pinned root, every certificate
 *      must be signed by the one before it, issuers must be CAs, all valid at `now`;
 *   3. the COSE signature by the leaf's P-384 key over the payload;
 *   — only now is anything in the payload believed —
 *   4. debug-mode (all-zero) PCRs, the PCR allowlist, the nonce, the document's age, the bound key.
 *
 * Documents are produced by the NSM (enclave/nsm/): real ones are signed under AWS Nitro Enclaves
 * Root-G1, local ones under a dev CA in .lane/dev-ca/ (which proves nothing about hardware).
 * docs/trust.md says what a verified document does and does not prove.
 */
import { verify as verifySignature, X509Certificate } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type * as CborX from "cbor-x" with { "resolution-mode": "import" };
import "reflect-metadata"; // @peculiar/x509 (tsyringe) needs a Reflect polyfill loaded first
import * as x509 from "@peculiar/x509";
import { AWS_NITRO_ROOT_G1_PEM } from "./roots/aws-nitro-enclaves-root-g1";
import { keyidForRawKey } from "../wire/keys";

// cbor-x runs as CommonJS (dist/node.cjs) but ships only ESM typings, which TypeScript refuses to
// `import` from a CommonJS module; load the CJS build and borrow the ESM types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Decoder, Encoder, Tag } = require("cbor-x") as typeof CborX;

/** One reason a document was refused; tests and callers branch on `code`, never on the message. */
export type AttestationErrorCode =
  | "MALFORMED" // not a COSE_Sign1 Nitro document, or a field has the wrong type
  | "UNSUPPORTED_ALGORITHM" // protected header is not ES384, or digest is not SHA384
  | "UNTRUSTED_ROOT" // cabundle[0] is not the pinned root
  | "BAD_CHAIN" // a certificate is not signed by its issuer, or the issuer is no CA
  | "CERT_NOT_YET_VALID"
  | "CERT_EXPIRED"
  | "BAD_SIGNATURE" // COSE signature does not verify under the leaf key
  | "DEBUG_MODE" // PCR0..2 all zero: a debug-mode enclave, whose memory the host can read
  | "PCR_MISMATCH" // measurements not in the allowlist
  | "INCOMPLETE_ALLOWLIST" // an allowlist entry does not pin PCR0, PCR1 and PCR2 (it would admit other images)
  | "NONCE_MISMATCH"
  | "STALE_DOCUMENT" // older than maxAgeMs
  | "FUTURE_DOCUMENT" // timestamp ahead of `now` by more than the allowed clock skew
  | "PUBLIC_KEY_MISMATCH"; // public_key is not the expected key / keyid

export class AttestationError extends Error {
  constructor(
    readonly code: AttestationErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = "AttestationError";
  }
}

/** PCR index → 48-byte SHA-384 register value. */
export type Pcrs = ReadonlyMap<number, Buffer>;
/**
 * One allowed measurement set: every PCR it names must match. It must name PCR0, PCR1 and PCR2
 * (image, kernel + boot ramfs, application): those are what identify the code. PCR3/4/8 (parent
 * role, instance, signing cert) may be added to narrow it further, never used instead.
 */
export type MeasurementSet = ReadonlyMap<number, Buffer>;

/** The PCRs every allowlist entry must pin: together they identify the enclave's code. */
export const REQUIRED_PCRS = [0, 1, 2] as const;

/** The required PCRs a set does not pin, e.g. [0, 1] for a set naming only PCR2 and PCR4. */
export function missingRequiredPcrs(set: MeasurementSet): number[] {
  return REQUIRED_PCRS.filter((index) => !set.has(index));
}

export interface VerifyAttestationOptions {
  /** The pinned trust anchor: `loadPinnedRoot("aws" | "local" | path)`. */
  readonly root: X509Certificate;
  /**
   * Allowed PCR sets (any one must match), e.g. from `loadMeasurementsFile`. Skipping the check
   * must be said out loud: "unchecked" accepts any enclave image signed under `root`.
   */
  readonly measurements: readonly MeasurementSet[] | "unchecked";
  /** When given, the document's nonce must equal it byte for byte. */
  readonly nonce?: Buffer;
  /** Maximum age of the document (its `timestamp`) at `now`. Default 5 minutes. */
  readonly maxAgeMs?: number;
  /** Accept all-zero PCR0..2 (debug-mode enclaves). Never in production. */
  readonly allowDebug?: boolean;
  /** The document's public_key must equal these bytes. */
  readonly expectedPublicKey?: Buffer;
  /** The document's public_key must be a raw Ed25519 key whose JWK thumbprint is this keyid. */
  readonly expectedKeyId?: string;
  /** Verification time. Default: the current time. */
  readonly now?: Date;
}

export interface VerifiedAttestation {
  readonly moduleId: string;
  /** Milliseconds since the epoch, as stamped by the NSM. */
  readonly timestamp: number;
  readonly pcrs: Pcrs;
  /** The leaf certificate that signed the document. */
  readonly certificate: X509Certificate;
  readonly publicKey: Buffer | null;
  readonly userData: Buffer | null;
  readonly nonce: Buffer | null;
  /** JWK thumbprint of `publicKey` when it is a 32-byte Ed25519 key (the signer's), else null. */
  readonly keyId: string | null;
  /** True when PCR0..2 are all zero and `allowDebug` let it through. */
  readonly debug: boolean;
}

export const DEFAULT_MAX_AGE_MS = 5 * 60_000;
/** NSM and verifier clocks differ; a document this far "in the future" is still accepted. */
export const CLOCK_SKEW_MS = 60_000;
const COSE_ALG_ES384 = -35;

// Maps stay Maps (PCR keys are integers) and 64-bit integers come back as bigint.
const cbor = new Decoder({ mapsAsObjects: false, useRecords: false });
const cborEncoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false });

export function verifyAttestation(document: Buffer, options: VerifyAttestationOptions): VerifiedAttestation {
  const now = options.now ?? new Date();
  const envelope = parseCoseSign1(document);
  const payload = parsePayload(envelope.payload);

  const leaf = verifyChain(payload.certificate, payload.cabundle, options.root, now);
  const signed = sigStructure(envelope.protectedHeader, envelope.payload);
  const signatureOk = envelope.signature.length === 96 && verifySignature("sha384", signed, { key: leaf.publicKey, dsaEncoding: "ieee-p1363" }, envelope.signature);
  if (!signatureOk) throw new AttestationError("BAD_SIGNATURE", "COSE_Sign1 signature does not verify under the leaf key");

  // From here on the payload is AWS's (or the dev CA's) word.
  const debug = isDebugMode(payload.pcrs);
  if (debug && !options.allowDebug) {
    throw new AttestationError("DEBUG_MODE", "PCR0..2 are all zero: a debug-mode enclave (host can read its memory)");
  }
  checkMeasurements(payload.pcrs, options.measurements);
  if (options.nonce !== undefined && !(payload.nonce !== null && payload.nonce.equals(options.nonce))) {
    throw new AttestationError("NONCE_MISMATCH", "document nonce differs from the one we sent");
  }
  const ageMs = now.getTime() - payload.timestamp;
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  if (ageMs > maxAgeMs) throw new AttestationError("STALE_DOCUMENT", `document is ${ageMs} ms old (max ${maxAgeMs})`);
  if (ageMs < -CLOCK_SKEW_MS) throw new AttestationError("FUTURE_DOCUMENT", `document is ${-ageMs} ms in the future`);

  const keyId = payload.publicKey?.length === 32 ? jwkThumbprintEd25519(payload.publicKey) : null;
  if (options.expectedPublicKey !== undefined && !(payload.publicKey?.equals(options.expectedPublicKey) ?? false)) {
    throw new AttestationError("PUBLIC_KEY_MISMATCH", "public_key differs from the expected key");
  }
  if (options.expectedKeyId !== undefined && keyId !== options.expectedKeyId) {
    throw new AttestationError("PUBLIC_KEY_MISMATCH", `public_key has keyid ${keyId ?? "(not an Ed25519 key)"}, expected ${options.expectedKeyId}`);
  }

  return {
    moduleId: payload.moduleId,
    timestamp: payload.timestamp,
    pcrs: payload.pcrs,
    certificate: leaf,
    publicKey: payload.publicKey,
    userData: payload.userData,
    nonce: payload.nonce,
    keyId,
    debug,
  };
}

/**
 * PCR0 (hex) of a document, NOT verified: for labels only (the runtime's `lane_build_info`, which
 * describes the host's own enclave to its operator). Never a trust decision: use verifyAttestation.
 * null when the document does not parse or has no PCR0.
 */
export function unverifiedPcr0(document: Buffer): string | null {
  try {
    return parsePayload(parseCoseSign1(document).payload).pcrs.get(0)?.toString("hex") ?? null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Envelope and payload

interface CoseSign1 {
  readonly protectedHeader: Buffer;
  readonly payload: Buffer;
  readonly signature: Buffer;
}

function decodeCbor(bytes: Buffer, what: string): unknown {
  try {
    return cbor.decode(bytes);
  } catch (err) {
    throw new AttestationError("MALFORMED", `${what} is not CBOR: ${(err as Error).message}`);
  }
}

/** COSE_Sign1 = [protected bstr, unprotected map, payload bstr, signature bstr], tag 18 optional
 *  (the NSM emits it untagged; RFC 8152 allows both). */
function parseCoseSign1(document: Buffer): CoseSign1 {
  let value = decodeCbor(document, "document");
  if (value instanceof Tag) {
    if (value.tag !== 18) throw new AttestationError("MALFORMED", `CBOR tag ${value.tag}, expected 18 (COSE_Sign1)`);
    value = value.value;
  }
  if (!Array.isArray(value) || value.length !== 4) throw new AttestationError("MALFORMED", "COSE_Sign1 must be a 4-element array");
  const [protectedHeader, , payload, signature] = value as unknown[];
  if (!isBytes(protectedHeader) || !isBytes(payload) || !isBytes(signature)) {
    throw new AttestationError("MALFORMED", "COSE_Sign1 protected header, payload and signature must be byte strings");
  }
  const header = decodeCbor(Buffer.from(protectedHeader), "protected header");
  if (!(header instanceof Map) || header.get(1) !== COSE_ALG_ES384) {
    throw new AttestationError("UNSUPPORTED_ALGORITHM", "protected header alg must be ES384 (-35)");
  }
  return { protectedHeader: Buffer.from(protectedHeader), payload: Buffer.from(payload), signature: Buffer.from(signature) };
}

/** RFC 8152 §4.4 Sig_structure for COSE_Sign1 with empty external_aad. */
function sigStructure(protectedHeader: Buffer, payload: Buffer): Buffer {
  return cborEncoder.encode(["Signature1", protectedHeader, Buffer.alloc(0), payload]);
}

interface Payload {
  readonly moduleId: string;
  readonly timestamp: number;
  readonly pcrs: Pcrs;
  readonly certificate: Buffer;
  readonly cabundle: readonly Buffer[];
  readonly publicKey: Buffer | null;
  readonly userData: Buffer | null;
  readonly nonce: Buffer | null;
}

function parsePayload(bytes: Buffer): Payload {
  const map = decodeCbor(bytes, "payload");
  if (!(map instanceof Map)) throw new AttestationError("MALFORMED", "payload must be a CBOR map");
  const field = (name: string): unknown => map.get(name);
  const malformed = (name: string, want: string) => new AttestationError("MALFORMED", `payload field ${name} must be ${want}`);

  const moduleId = field("module_id");
  if (typeof moduleId !== "string" || moduleId.length === 0) throw malformed("module_id", "a non-empty text string");
  if (field("digest") !== "SHA384") throw new AttestationError("UNSUPPORTED_ALGORITHM", "payload digest must be SHA384");
  const timestamp = field("timestamp");
  if (!(typeof timestamp === "number" || typeof timestamp === "bigint") || timestamp < 0) throw malformed("timestamp", "an unsigned integer");

  const rawPcrs = field("pcrs");
  if (!(rawPcrs instanceof Map) || rawPcrs.size === 0 || rawPcrs.size > 32) throw malformed("pcrs", "a map of 1..32 entries");
  const pcrs = new Map<number, Buffer>();
  for (const [index, value] of rawPcrs) {
    if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= 32) throw malformed("pcrs", "keyed by indices 0..31");
    if (!isBytes(value) || ![32, 48, 64].includes(value.length)) throw malformed("pcrs", "values of 32, 48 or 64 bytes");
    pcrs.set(index, Buffer.from(value));
  }

  const certificate = field("certificate");
  if (!isBytes(certificate)) throw malformed("certificate", "a byte string");
  const cabundle = field("cabundle");
  if (!Array.isArray(cabundle) || cabundle.length === 0 || !cabundle.every(isBytes)) throw malformed("cabundle", "a non-empty array of byte strings");

  const optionalBytes = (name: string, max: number): Buffer | null => {
    const value = field(name);
    if (value === null || value === undefined) return null;
    if (!isBytes(value) || value.length > max) throw malformed(name, `null or a byte string of at most ${max} bytes`);
    return Buffer.from(value);
  };

  return {
    moduleId,
    timestamp: Number(timestamp),
    pcrs,
    certificate: Buffer.from(certificate),
    cabundle: (cabundle as Uint8Array[]).map((der) => Buffer.from(der)),
    publicKey: optionalBytes("public_key", 1024),
    userData: optionalBytes("user_data", 512),
    nonce: optionalBytes("nonce", 512),
  };
}

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Certificate chain

function parseCertificate(der: Buffer, what: string): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch (err) {
    throw new AttestationError("MALFORMED", `${what} is not an X.509 certificate: ${(err as Error).message}`);
  }
}

/** root = cabundle[0] → cabundle[1..] → leaf. Returns the leaf, whose key signs the document. */
function verifyChain(leafDer: Buffer, cabundle: readonly Buffer[], root: X509Certificate, now: Date): X509Certificate {
  if (!cabundle[0]!.equals(root.raw)) {
    throw new AttestationError("UNTRUSTED_ROOT", `cabundle[0] is not the pinned root (${root.fingerprint256})`);
  }
  const chain = [...cabundle.map((der, i) => parseCertificate(der, `cabundle[${i}]`)), parseCertificate(leafDer, "certificate")];

  // RFC 5280 §6.1.4 (k)/(l)/(m): CAs below the root each spend one unit of path length.
  let remainingCas = Number.POSITIVE_INFINITY;
  for (let i = 1; i < chain.length; i++) {
    const issuer = chain[i - 1]!;
    const subject = chain[i]!;
    const name = i === chain.length - 1 ? "leaf" : `cabundle[${i}]`;
    const constraints = issuerConstraints(issuer);
    if (!constraints.ca) throw new AttestationError("BAD_CHAIN", `issuer of ${name} is not a CA`);
    if (!constraints.mayCertSign) throw new AttestationError("BAD_CHAIN", `issuer of ${name} may not sign certificates`);
    if (constraints.pathLength !== undefined) remainingCas = Math.min(remainingCas, constraints.pathLength);
    if (!subject.checkIssued(issuer) || !subject.verify(issuer.publicKey)) {
      throw new AttestationError("BAD_CHAIN", `${name} is not signed by its issuer ${issuer.subject.replace(/\n/g, ", ")}`);
    }
    if (i < chain.length - 1) {
      if (remainingCas <= 0) throw new AttestationError("BAD_CHAIN", "path length constraint exceeded");
      remainingCas -= 1;
    }
  }

  for (const [i, cert] of chain.entries()) {
    const name = i === chain.length - 1 ? "leaf" : `cabundle[${i}]`;
    if (now < new Date(cert.validFrom)) throw new AttestationError("CERT_NOT_YET_VALID", `${name} is valid from ${cert.validFrom}`);
    if (now > new Date(cert.validTo)) throw new AttestationError("CERT_EXPIRED", `${name} expired ${cert.validTo}`);
  }

  const leaf = chain[chain.length - 1]!;
  if (leaf.ca) throw new AttestationError("BAD_CHAIN", "the signing certificate is a CA certificate");
  if (leaf.publicKey.asymmetricKeyDetails?.namedCurve !== "secp384r1") {
    throw new AttestationError("BAD_CHAIN", "the signing certificate's key is not P-384");
  }
  return leaf;
}

function issuerConstraints(cert: X509Certificate): { ca: boolean; mayCertSign: boolean; pathLength?: number } {
  const parsed = new x509.X509Certificate(cert.raw);
  const basic = parsed.getExtension(x509.BasicConstraintsExtension);
  const usage = parsed.getExtension(x509.KeyUsagesExtension);
  return {
    ca: basic?.ca === true,
    mayCertSign: usage === null || (usage.usages & x509.KeyUsageFlags.keyCertSign) !== 0,
    pathLength: basic?.pathLength,
  };
}

// ---------------------------------------------------------------------------------------------
// Measurements

/** A debug-mode enclave reports all-zero PCRs; so does one whose image measurements are missing. */
function isDebugMode(pcrs: Pcrs): boolean {
  return [0, 1, 2].some((index) => {
    const value = pcrs.get(index);
    return value === undefined || value.every((byte) => byte === 0);
  });
}

function checkMeasurements(pcrs: Pcrs, allowed: readonly MeasurementSet[] | "unchecked"): void {
  if (allowed === "unchecked") return;
  if (allowed.length === 0) throw new AttestationError("PCR_MISMATCH", "the measurement allowlist is empty");
  // parseMeasurements refuses such entries at load time; this catches sets built in code. An entry
  // naming only, say, PCR4 would match every image on that instance.
  for (const [n, set] of allowed.entries()) {
    const missing = missingRequiredPcrs(set);
    if (missing.length > 0) {
      throw new AttestationError("INCOMPLETE_ALLOWLIST", `allowlist entry ${n} does not pin ${missing.map((i) => `PCR${i}`).join(", ")}: it would accept other enclave images`);
    }
  }
  const matches = (set: MeasurementSet) => [...set].every(([index, value]) => pcrs.get(index)?.equals(value) ?? false);
  if (!allowed.some(matches)) {
    const shown = [0, 1, 2].map((i) => `PCR${i}=${pcrs.get(i)?.toString("hex").slice(0, 16) ?? "?"}…`).join(" ");
    throw new AttestationError("PCR_MISMATCH", `measurements not in the allowlist (${shown})`);
  }
}

/**
 * Reads nitro-cli's measurements output — `{"Measurements": {"HashAlgorithm": "Sha384 { ... }",
 * "PCR0": hex, "PCR1": hex, "PCR2": hex}}` — or the bare inner object, or an array of either
 * (several allowed images, e.g. during a rollout). Every entry must pin PCR0, PCR1 and PCR2 (more
 * PCRs are allowed); an entry without them is refused here, at load time, not at first use.
 */
export function parseMeasurements(json: unknown): MeasurementSet[] {
  const entries = Array.isArray(json) ? json : [json];
  if (entries.length === 0) throw new Error("measurements: empty list");
  return entries.map((entry, n) => {
    const inner = isRecord(entry) && isRecord(entry.Measurements) ? entry.Measurements : entry;
    if (!isRecord(inner)) throw new Error(`measurements[${n}]: expected an object`);
    const algorithm = inner.HashAlgorithm;
    if (algorithm !== undefined && !(typeof algorithm === "string" && algorithm.startsWith("Sha384"))) {
      throw new Error(`measurements[${n}]: HashAlgorithm ${String(algorithm)} is not Sha384`);
    }
    const set = new Map<number, Buffer>();
    for (const [key, value] of Object.entries(inner)) {
      const match = /^PCR(\d+)$/.exec(key);
      if (!match) continue;
      if (typeof value !== "string" || !/^[0-9a-fA-F]{96}$/.test(value)) throw new Error(`measurements[${n}].${key}: expected 96 hex digits`);
      set.set(Number(match[1]), Buffer.from(value, "hex"));
    }
    if (set.size === 0) throw new Error(`measurements[${n}]: no PCRn entries`);
    const missing = missingRequiredPcrs(set);
    if (missing.length > 0) {
      throw new Error(
        `measurements[${n}]: does not pin ${missing.map((i) => `PCR${i}`).join(", ")} (has ${[...set.keys()].map((i) => `PCR${i}`).join(", ")}); ` +
          "every entry must pin PCR0, PCR1 and PCR2, which identify the enclave's code — without them it would accept any image",
      );
    }
    return set;
  });
}

export function loadMeasurementsFile(path: string): MeasurementSet[] {
  return parseMeasurements(JSON.parse(readFileSync(path, "utf8")));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------------------------
// Roots and key ids

/** Default location of the local dev CA (LocalNsm creates it; it is gitignored via .lane/). */
export const DEFAULT_DEV_CA_DIR = join(".lane", "dev-ca");

/**
 * The trust anchor to pin: "aws" = AWS Nitro Enclaves Root-G1 (checked into verifier/roots/),
 * "local" = the local dev root `<devCaDir>/root.pem`, anything else = a PEM or DER file path.
 */
export function loadPinnedRoot(spec: "aws" | "local" | string, devCaDir: string = DEFAULT_DEV_CA_DIR): X509Certificate {
  if (spec === "aws") return new X509Certificate(AWS_NITRO_ROOT_G1_PEM);
  const path = spec === "local" ? join(devCaDir, "root.pem") : spec;
  if (spec === "local" && !existsSync(path)) {
    throw new Error(`no local dev root at ${path}: it is created when a LocalNsm first attests (start the local lane)`);
  }
  return new X509Certificate(readFileSync(path));
}

/**
 * RFC 7638 JWK thumbprint of a raw Ed25519 public key (RFC 8037 OKP JWK): SHA-256 over
 * `{"crv":"Ed25519","kty":"OKP","x":"<base64url>"}`, base64url — the RFC 9421 `keyid` of the
 * signer's key. The one definition lives in wire/keys.ts, shared with the signer.
 */
export function jwkThumbprintEd25519(raw32: Buffer): string {
  return keyidForRawKey(raw32);
}

/**
 * Lane key ids an attestation document's user_data names (`{"lane_keys": [kid, …]}`, written by the
 * signer): the keys that enclave signs with (docs/trust.md, "One trust anchor per lane"). Empty when
 * absent or malformed; a caller accepts a lane key's JWK only if its thumbprint is one of these.
 */
export function attestedLaneKids(userData: Buffer | null): string[] {
  if (!userData) return [];
  try {
    const parsed = JSON.parse(userData.toString("utf8")) as { lane_keys?: unknown };
    return Array.isArray(parsed.lane_keys) ? parsed.lane_keys.filter((k): k is string => typeof k === "string" && /^[A-Za-z0-9_-]{43}$/.test(k)) : [];
  } catch {
    return [];
  }
}
