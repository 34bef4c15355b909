// Shared by the NSM, verifier, KMS and CLI tests: a LocalNsm over a throwaway bundle and dev CA,
// and tools to take documents apart and re-sign them (to forge what an attacker could forge).
import { createPrivateKey, KeyObject, sign } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cborDecoder, cborEncoder, Tag } from "../../../enclave/nsm/codec";
import { LocalNsm, measureLocalBundle, type LocalNsmOptions } from "../../../enclave/nsm/local-nsm";
import { loadPinnedRoot, parseMeasurements } from "../../../verifier/attestation";

export function tempDir(prefix = "lane-nsm-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function localSetup(bundleText = "console.log('signer v1');\n", options: Partial<LocalNsmOptions> = {}) {
  const dir = tempDir();
  const bundlePath = join(dir, "signer.js");
  writeFileSync(bundlePath, bundleText);
  const devCaDir = join(dir, "dev-ca");
  const nsm = new LocalNsm({ bundlePath, devCaDir, ...options });
  return {
    dir,
    bundlePath,
    devCaDir,
    nsm,
    root: () => loadPinnedRoot("local", devCaDir),
    measurements: () => parseMeasurements(measureLocalBundle(bundlePath)),
  };
}

export interface DecodedDocument {
  readonly tagged: boolean;
  readonly protectedHeader: Buffer;
  readonly unprotected: unknown;
  readonly payload: Map<string, unknown>;
  readonly payloadBytes: Buffer;
  readonly signature: Buffer;
}

export function decodeDocument(doc: Buffer): DecodedDocument {
  let value = cborDecoder.decode(doc);
  const tagged = value instanceof Tag;
  if (value instanceof Tag) value = value.value;
  const [protectedHeader, unprotected, payloadBytes, signature] = value as [Uint8Array, unknown, Uint8Array, Uint8Array];
  return {
    tagged,
    protectedHeader: Buffer.from(protectedHeader),
    unprotected,
    payload: cborDecoder.decode(payloadBytes) as Map<string, unknown>,
    payloadBytes: Buffer.from(payloadBytes),
    signature: Buffer.from(signature),
  };
}

/** The dev CA's current leaf key — what a forger who stole a leaf key (or another CA's) holds. */
export function leafKey(devCaDir: string): KeyObject {
  const text = readFileSync(join(devCaDir, "leaf.pem"), "utf8");
  return createPrivateKey(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(text)![0]);
}

/** Re-encodes a document after `mutate` edits its payload, signed ES384 with `key`. */
export function resignDocument(
  doc: Buffer,
  key: KeyObject,
  mutate: (payload: Map<string, unknown>) => void,
  protectedHeader: Buffer = cborEncoder.encode(new Map([[1, -35]])),
): Buffer {
  const { payload } = decodeDocument(doc);
  mutate(payload);
  const payloadBytes = cborEncoder.encode(payload);
  const toBeSigned = cborEncoder.encode(["Signature1", protectedHeader, Buffer.alloc(0), payloadBytes]);
  const signature = sign("sha384", toBeSigned, { key, dsaEncoding: "ieee-p1363" });
  return cborEncoder.encode(new Tag([protectedHeader, new Map(), payloadBytes, signature], 18));
}
