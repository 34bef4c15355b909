/**
 * LocalNsm: the NSM's twin for a laptop or CI. It answers `attest` with documents in the exact
 * Nitro format — same envelope, same fields, same algorithms — so everything above the NSM
 * (signer, /v1/attestation, verifyAttestation, `express-lane attest`) runs unchanged. Only the
 * trust anchor differs: the local dev CA (dev-ca.ts) instead of AWS Nitro Enclaves Root-G1.
 *
 * Document = COSE_Sign1, CBOR tag 18:
 *   [ bstr(CBOR {1: -35}),            protected header: alg ES384
 *     {},                             unprotected header
 *     bstr(CBOR payload),
 *     bstr(r ‖ s, 96 bytes) ]         ECDSA P-384 / SHA-384 over Sig_structure (RFC 8152 §4.4)
 * payload = { module_id, digest: "SHA384", timestamp (uint ms), pcrs {0..15 → 48 bytes},
 *             certificate (leaf DER), cabundle [root DER, intermediate DER],
 *             public_key, user_data, nonce (bstr or null) }
 *
 * Local PCRs, derived from the signer bundle so that a code change changes them (the real
 * registers are extended the same way: extend(r, m) = SHA-384(r ‖ m), starting from 48 zero bytes):
 *   PCR2 "application"         = extend(0, SHA-384(bundle file bytes))
 *   PCR1 "kernel + boot ramfs" = extend(0, SHA-384("express-lane/local-runtime\0" ‖ runtime)),
 *                                runtime = "node <version> <platform>/<arch>" (the local "kernel")
 *   PCR0 "enclave image"       = extend(extend(0, PCR1), PCR2)
 *   PCR3 (parent IAM role), PCR4 (parent instance), PCR8 (EIF signing cert) and the rest: zero.
 * `debug: true` zeroes every PCR, as a debug-mode enclave reports.
 */
import { createHash, randomBytes, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { checkAttestationRequest, cborEncoder, Tag } from "./codec";
import { DevCertificateAuthority } from "./dev-ca";
import type { AttestationRequest, Nsm } from "./types";

export const DEFAULT_DEV_CA_DIR = ".lane/dev-ca";
const PCR_COUNT = 16;
const ZERO_PCR = Buffer.alloc(48);
/** COSE protected header {1: -35}: alg = ES384. */
const PROTECTED_HEADER = cborEncoder.encode(new Map([[1, -35]]));

export interface LocalNsmOptions {
  /** The signer bundle whose bytes the local PCRs measure (e.g. dist/signer.js). */
  readonly bundlePath: string;
  /** Where the dev CA lives (created on first use). Default .lane/dev-ca. */
  readonly devCaDir?: string;
  /** Mimic a debug-mode enclave: all PCRs zero. */
  readonly debug?: boolean;
  /** Clock, for tests of expiry and leaf renewal. Default Date.now. */
  readonly clock?: () => number;
}

export class LocalNsm implements Nsm {
  readonly kind = "local" as const;
  /** Like a real module id (i-…-enc…): fresh per process, as a new enclave gets a new id. */
  readonly moduleId = `local-enc${randomBytes(8).toString("hex")}`;
  readonly pcrs: ReadonlyMap<number, Buffer>;
  private readonly devCaDir: string;
  private readonly clock: () => number;
  private ca?: Promise<DevCertificateAuthority>;

  constructor(options: LocalNsmOptions) {
    this.devCaDir = options.devCaDir ?? DEFAULT_DEV_CA_DIR;
    this.clock = options.clock ?? Date.now;
    const measured = localPcrs(readFileSync(options.bundlePath));
    this.pcrs = options.debug ? new Map([...measured.keys()].map((i) => [i, ZERO_PCR])) : measured;
  }

  async attest(request: AttestationRequest): Promise<Buffer> {
    checkAttestationRequest(request);
    const now = this.clock();
    this.ca ??= DevCertificateAuthority.open(this.devCaDir, new Date(now));
    const ca = await this.ca;
    const leaf = await ca.currentLeaf(new Date(now));

    const payload = cborEncoder.encode(
      new Map<string, unknown>([
        ["module_id", this.moduleId],
        ["digest", "SHA384"],
        ["timestamp", BigInt(now)], // bigint: cbor-x would write a large number as a float
        ["pcrs", this.pcrs],
        ["certificate", leaf.certificate],
        ["cabundle", ca.cabundle],
        ["public_key", request.publicKey ?? null],
        ["user_data", request.userData ?? null],
        ["nonce", request.nonce ?? null],
      ]),
    );
    const toBeSigned = cborEncoder.encode(["Signature1", PROTECTED_HEADER, Buffer.alloc(0), payload]);
    const signature = sign("sha384", toBeSigned, { key: leaf.privateKey, dsaEncoding: "ieee-p1363" });
    return cborEncoder.encode(new Tag([PROTECTED_HEADER, new Map(), payload, signature], 18));
  }
}

/** extend(r, m) = SHA-384(r ‖ m), the PCR extend operation. */
function extend(register: Buffer, measurement: Buffer): Buffer {
  return createHash("sha384").update(register).update(measurement).digest();
}

function sha384(...parts: (Buffer | string)[]): Buffer {
  const hash = createHash("sha384");
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** The local PCRs for a bundle (see the file comment for the derivation). */
export function localPcrs(bundle: Buffer, runtime = `node ${process.version} ${process.platform}/${process.arch}`): Map<number, Buffer> {
  const pcrs = new Map<number, Buffer>();
  for (let i = 0; i < PCR_COUNT; i++) pcrs.set(i, ZERO_PCR);
  const pcr1 = extend(ZERO_PCR, sha384("express-lane/local-runtime\0", runtime));
  const pcr2 = extend(ZERO_PCR, sha384(bundle));
  pcrs.set(0, extend(extend(ZERO_PCR, pcr1), pcr2));
  pcrs.set(1, pcr1);
  pcrs.set(2, pcr2);
  return pcrs;
}

/** nitro-cli-shaped measurements of a bundle run under LocalNsm: the local allowlist. */
export function measureLocalBundle(bundlePath: string): { Measurements: Record<string, string> } {
  const pcrs = localPcrs(readFileSync(bundlePath));
  return {
    Measurements: {
      HashAlgorithm: "Sha384 { ... }",
      PCR0: pcrs.get(0)!.toString("hex"),
      PCR1: pcrs.get(1)!.toString("hex"),
      PCR2: pcrs.get(2)!.toString("hex"),
    },
  };
}
