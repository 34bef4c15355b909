/**
 * Trust anchors: what the client believes signs genuine answers. There is deliberately no default:
 * a key the lane hands out over the same channel as its answers proves nothing (the host that
 * could forge answers serves that key too), so the client refuses to start without one of
 *
 *   - pinnedKeys(...)   a key set: Ed25519 JWKs, or keyids (RFC 7638 thumbprints) whose key the
 *                       client may fetch from /v1/signer because the thumbprint binds it;
 *   - attested({...})   an attestation root + a PCR0/1/2 allowlist: the client fetches
 *                       /v1/attestation with a fresh nonce, verifies the document
 *                       (verifier/attestation.ts) and trusts the key inside it; a signer restart
 *                       (new key) is handled by attesting again;
 *   - laneKey(jwks)     the lane's published signing key(s) (issue #14, wire/lane-key.ts): a pinned
 *                       key set whose JWKs carry nbf/exp, which the verifier enforces.
 *
 * and, for development only, `trustOnFirstUse: true` in the client options.
 *
 * New anchor kinds are new members of the TrustAnchor union; the client's `resolveKeys` switch is
 * exhaustive, so the compiler points at every place that must handle one.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { loadPinnedRoot, parseMeasurements, type MeasurementSet } from "../../../verifier/attestation";
import type { Ed25519Jwk } from "../../../wire/keys";

/** 43 base64url characters: a SHA-256 JWK thumbprint. */
export const KEYID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * A pinned Ed25519 public key. `nbf`/`exp` (seconds since epoch) are the validity window of a
 * published lane key (wire/lane-key.ts): verifier/response.ts accepts the key only for answers
 * created inside it (`key_not_valid`), so a retired lane key stops verifying when its window ends.
 */
export type PinnedJwk = Ed25519Jwk & { readonly nbf?: number; readonly exp?: number };

export interface PinnedKeysAnchor {
  readonly kind: "pinned-keys";
  readonly jwks: readonly PinnedJwk[];
  readonly keyids: readonly string[];
}

export interface AttestationAnchor {
  readonly kind: "attestation";
  /** The pinned root certificate (AWS Nitro Enclaves Root-G1 in production). */
  readonly root: X509Certificate;
  /** Allowed measurement sets; each pins PCR0, PCR1 and PCR2 (parseMeasurements refuses less). */
  readonly measurements: readonly MeasurementSet[];
  /** Maximum age of an attestation document. @default 300000 (5 minutes) */
  readonly maxAgeMs?: number;
  /** Accept debug-mode enclaves (all-zero PCRs). Never in production. @default false */
  readonly allowDebug?: boolean;
}

export type TrustAnchor = PinnedKeysAnchor | AttestationAnchor;

function isJwk(value: unknown): value is PinnedJwk {
  const v = value as Partial<PinnedJwk> | null;
  return typeof v === "object" && v !== null && v.kty === "OKP" && v.crv === "Ed25519" && typeof v.x === "string" && Buffer.from(v.x, "base64url").length === 32;
}

/** The public members we keep: the key and, for a lane key, its validity window. */
function pinnedJwk(jwk: PinnedJwk): PinnedJwk {
  for (const name of ["nbf", "exp"] as const) {
    if (jwk[name] !== undefined && typeof jwk[name] !== "number") throw new TypeError(`JWK ${name} must be a number of seconds`);
  }
  return { kty: "OKP", crv: "Ed25519", x: jwk.x, ...(jwk.nbf !== undefined ? { nbf: jwk.nbf } : {}), ...(jwk.exp !== undefined ? { exp: jwk.exp } : {}) };
}

/**
 * A pinned key set: each entry an Ed25519 JWK (`{kty:"OKP",crv:"Ed25519",x}`), a JWKS
 * (`{keys:[…]}`), or a keyid string. Throws on anything else, and on an empty set.
 */
export function pinnedKeys(...entries: ReadonlyArray<PinnedJwk | { keys: readonly unknown[] } | string>): PinnedKeysAnchor {
  const jwks: PinnedJwk[] = [];
  const keyids: string[] = [];
  for (const entry of entries) {
    if (typeof entry === "string") {
      if (!KEYID_PATTERN.test(entry)) throw new TypeError(`pinned key ${JSON.stringify(entry.slice(0, 60))} is not a keyid (43 base64url characters)`);
      keyids.push(entry);
    } else if (isJwk(entry)) {
      jwks.push(pinnedJwk(entry));
    } else if (typeof entry === "object" && entry !== null && Array.isArray((entry as { keys?: unknown }).keys)) {
      for (const k of (entry as { keys: unknown[] }).keys) {
        if (!isJwk(k)) throw new TypeError("JWKS member is not an Ed25519 public JWK");
        jwks.push(pinnedJwk(k));
      }
    } else {
      throw new TypeError("a pinned key is an Ed25519 JWK, a JWKS or a keyid");
    }
  }
  if (jwks.length + keyids.length === 0) throw new TypeError("pinnedKeys() needs at least one key");
  return { kind: "pinned-keys", jwks, keyids };
}

/** One published Ed25519 key for a whole lane: a pinned key set of one (or two during rotation). */
export function laneKey(...keys: ReadonlyArray<PinnedJwk | { keys: readonly unknown[] } | string>): PinnedKeysAnchor {
  return pinnedKeys(...keys);
}

export interface AttestedOptions {
  /** "aws" (AWS Nitro Enclaves Root-G1), a PEM string, a PEM/DER file path, or a certificate. */
  readonly root: "aws" | string | X509Certificate;
  /** nitro-cli's measurements JSON (object, array, or a file path), or parsed sets. */
  readonly measurements: unknown;
  readonly maxAgeMs?: number;
  readonly allowDebug?: boolean;
}

/** Attestation root + measurements allowlist. */
export function attested(options: AttestedOptions): AttestationAnchor {
  let root: X509Certificate;
  if (options.root instanceof X509Certificate) root = options.root;
  else if (options.root.includes("-----BEGIN CERTIFICATE-----")) root = new X509Certificate(options.root);
  else root = loadPinnedRoot(options.root);
  const m = options.measurements;
  const measurements =
    Array.isArray(m) && m.every((s) => s instanceof Map) ? (m as MeasurementSet[]) : parseMeasurements(typeof m === "string" ? JSON.parse(readFileSync(m, "utf8")) : m);
  if (measurements.length === 0) throw new TypeError("attested() needs a non-empty measurements allowlist");
  return { kind: "attestation", root, measurements, maxAgeMs: options.maxAgeMs, allowDebug: options.allowDebug };
}
