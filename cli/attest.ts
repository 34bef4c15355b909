/**
 * `express-lane attest`: is the key signing this lane's responses an enclave key, and which
 * enclave's? Fetches a fresh attestation document (GET /v1/attestation?nonce=<random>) or reads a
 * saved one, verifies it (verifier/attestation.ts), checks the server's claimed keyid against the
 * key inside the document, and prints what was proven. Exit 0 only when everything verified.
 *
 * The printed keyid is what `express-lane verify --key <keyid>` should then pin (or let
 * `express-lane verify --attest` do both steps at once).
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import {
  AttestationError,
  attestedLaneKids,
  DEFAULT_DEV_CA_DIR,
  loadMeasurementsFile,
  loadPinnedRoot,
  parseMeasurements,
  type MeasurementSet,
  verifyAttestation,
  type VerifiedAttestation,
} from "../verifier/attestation";
import { AWS_NITRO_ROOT_G1_SHA256 } from "../verifier/roots/aws-nitro-enclaves-root-g1";
import { measureLocalBundle } from "../enclave/nsm/local-nsm";

/** The body of GET /v1/attestation. */
export interface AttestationResponse {
  readonly document: string; // base64 COSE_Sign1
  readonly keyid?: string;
  readonly public_key_jwk?: { readonly kty: string; readonly crv: string; readonly x: string };
}

interface AttestOptions {
  document?: string;
  root: string;
  devCa: string;
  measurements?: string;
  localBundle?: string;
  anyPcrs?: boolean;
  maxAge: string;
  allowDebug?: boolean;
  expectKeyid?: string;
  nonce?: string;
  json?: boolean;
}

/** Why the network said no, with the cause undici hides behind "fetch failed" (issue #13). */
export function networkCause(err: unknown): string {
  // Duck-typed, not instanceof Error: fetch's errors may come from another realm (test runners).
  type ErrorLike = { message?: unknown; cause?: unknown; errors?: unknown };
  const isErrorLike = (value: unknown): value is ErrorLike => typeof value === "object" && value !== null && "message" in value;
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; isErrorLike(current) && depth < 4; depth++) {
    if (Array.isArray(current.errors) && current.errors.length > 0) {
      // AggregateError: one failure per address tried (e.g. ::1 and 127.0.0.1 for localhost).
      parts.push(current.errors.map((e: unknown) => (isErrorLike(e) ? String(e.message) : String(e))).join("; "));
      break;
    }
    const message = String(current.message);
    if (message && !parts.includes(message)) parts.push(message);
    current = current.cause;
  }
  return parts.join(": ") || String(err);
}

/** fetch() whose failure names the destination and the real cause. */
export async function fetchOrExplain(url: URL, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    throw new Error(`cannot reach ${url.origin}${url.pathname}: ${networkCause(err)}`, { cause: err });
  }
}

/** Fetches a document bound to `nonce`; the server puts the nonce's UTF-8 bytes in the document. */
export async function fetchAttestation(baseUrl: string, nonce: string): Promise<AttestationResponse> {
  const url = new URL("/v1/attestation", baseUrl);
  url.searchParams.set("nonce", nonce);
  const res = await fetchOrExplain(url, { headers: { accept: "application/json" } });
  if (!res.ok) throw new Error(`GET ${url.pathname} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  const body = (await res.json()) as AttestationResponse;
  if (typeof body.document !== "string") throw new Error(`GET ${url.pathname}: no "document" in the response`);
  return body;
}

/** A saved document: raw CBOR bytes, base64 text, or the JSON body of /v1/attestation. */
export function readDocumentFile(path: string): AttestationResponse | { document: Buffer } {
  const bytes = readFileSync(path);
  if (bytes[0] === 0xd2 || bytes[0] === 0x84) return { document: bytes }; // tag 18 / 4-array
  const text = bytes.toString("utf8").trim();
  if (text.startsWith("{")) return JSON.parse(text) as AttestationResponse;
  return { document: Buffer.from(text, "base64") };
}

/** The allowlist from --measurements <file> or --local-bundle <file> (`verify --attest` shares it). */
export function measurementAllowlist(opts: { measurements?: string; localBundle?: string }): { sets: MeasurementSet[]; source: string } {
  if (opts.measurements) return { sets: loadMeasurementsFile(opts.measurements), source: opts.measurements };
  if (opts.localBundle) return { sets: parseMeasurements(measureLocalBundle(opts.localBundle)), source: `local PCRs of ${opts.localBundle}` };
  throw new Error("no measurement allowlist: give --measurements <file> or --local-bundle <file>");
}

function allowedMeasurements(opts: AttestOptions): { sets: readonly MeasurementSet[] | "unchecked"; source: string } {
  const chosen = [opts.measurements, opts.localBundle, opts.anyPcrs].filter((x) => x !== undefined && x !== false);
  if (chosen.length !== 1) throw new Error("choose exactly one of --measurements <file>, --local-bundle <file>, --any-pcrs");
  if (opts.anyPcrs) return { sets: "unchecked", source: "NOT CHECKED (--any-pcrs): any enclave image under this root is accepted" };
  return measurementAllowlist(opts);
}

export function describeRoot(spec: string): string {
  if (spec === "aws") return `AWS Nitro Enclaves Root-G1 (${AWS_NITRO_ROOT_G1_SHA256})`;
  if (spec === "local") return "local dev root: proves the format and binding only, nothing about hardware";
  return `pinned root from ${spec}`;
}

function report(v: VerifiedAttestation, facts: { root: string; measurements: string; nonce: string; source: string }): string {
  const lines = [
    "OK attestation verified",
    `  source        ${facts.source}`,
    `  root          ${facts.root}`,
    `  module_id     ${v.moduleId}`,
    `  timestamp     ${new Date(v.timestamp).toISOString()} (${Math.round((Date.now() - v.timestamp) / 1000)} s ago)`,
  ];
  for (const [index, value] of v.pcrs) {
    if (index <= 2 || value.some((b) => b !== 0)) lines.push(`  PCR${index}${index < 10 ? " " : ""}         ${value.toString("hex")}`);
  }
  lines.push(
    `  measurements  ${facts.measurements}`,
    `  debug mode    ${v.debug ? "YES (allowed by --allow-debug): the host can read this enclave's memory" : "no"}`,
    `  nonce         ${facts.nonce}`,
    `  keyid         ${v.keyId ?? "(public_key is not an Ed25519 key)"}`,
  );
  // The lane keys this enclave signs with (user_data; docs/trust.md "One trust anchor per lane").
  const lane = attestedLaneKids(v.userData);
  if (lane.length > 0) lines.push(`  lane keys     ${lane.join(", ")} (answers are signed with these; pin the lane's JWKS)`);
  return lines.join("\n") + "\n";
}

export function registerAttestCommand(program: Command): void {
  program
    .command("attest")
    .description("verify the signer's attestation document: enclave measurements, AWS root, and the signing keyid")
    .argument("[url]", "base URL of the lane (fetches /v1/attestation with a fresh nonce)")
    .option("--document <file>", "verify a saved document (CBOR, base64, or the /v1/attestation JSON) instead of fetching")
    .addOption(new Option("--root <root>", "trust anchor: aws, local (the dev CA), or a PEM/DER file").default("aws"))
    .addOption(new Option("--dev-ca <dir>", "dev CA folder for --root local").default(DEFAULT_DEV_CA_DIR))
    .option("--measurements <file>", "allowed PCRs: nitro-cli measurements JSON (one set or a list)")
    .option("--local-bundle <file>", "allowed PCRs: those LocalNsm derives from this signer bundle")
    .option("--any-pcrs", "do not check PCRs (accepts any enclave image under the root)")
    .addOption(new Option("--max-age <seconds>", "maximum document age").default("300"))
    .option("--allow-debug", "accept debug-mode (all-zero PCR) enclaves")
    .option("--expect-keyid <keyid>", "require the document's key to have this keyid (JWK thumbprint)")
    .option("--nonce <text>", "with --document: require this nonce (as sent in ?nonce=)")
    .option("--json", "print the verified facts as JSON")
    .action(async (url: string | undefined, opts: AttestOptions) => {
      if ((url === undefined) === (opts.document === undefined)) throw new Error("give a lane URL or --document <file>, not both");
      const root = loadPinnedRoot(opts.root, opts.devCa);
      const { sets, source: measurementsSource } = allowedMeasurements(opts);
      const maxAgeSeconds = Number(opts.maxAge);
      if (!(maxAgeSeconds > 0)) throw new Error("--max-age must be a positive number of seconds");

      const nonceText = url !== undefined ? randomBytes(24).toString("base64url") : opts.nonce;
      const response = url !== undefined ? await fetchAttestation(url, nonceText!) : readDocumentFile(opts.document!);
      const document = typeof response.document === "string" ? Buffer.from(response.document, "base64") : response.document;

      let verified: VerifiedAttestation;
      try {
        verified = verifyAttestation(document, {
          root,
          measurements: sets,
          nonce: nonceText === undefined ? undefined : Buffer.from(nonceText, "utf8"),
          maxAgeMs: maxAgeSeconds * 1000,
          allowDebug: opts.allowDebug === true,
          expectedKeyId: opts.expectKeyid,
        });
        // The server's claims next to the document must agree with the document.
        const claimed = "keyid" in response ? response.keyid : undefined;
        if (claimed !== undefined && claimed !== verified.keyId) {
          throw new AttestationError("PUBLIC_KEY_MISMATCH", `server says keyid ${claimed}, the document's key is ${verified.keyId ?? "(none)"}`);
        }
        const jwk = "public_key_jwk" in response ? response.public_key_jwk : undefined;
        if (jwk !== undefined && !(jwk.kty === "OKP" && jwk.crv === "Ed25519" && verified.publicKey !== null && jwk.x === verified.publicKey.toString("base64url"))) {
          throw new AttestationError("PUBLIC_KEY_MISMATCH", "server's public_key_jwk is not the document's key");
        }
      } catch (err) {
        if (!(err instanceof AttestationError)) throw err;
        process.stderr.write(`FAIL ${err.message}\n`);
        process.exitCode = 1;
        return;
      }

      const facts = {
        source: url !== undefined ? `${new URL("/v1/attestation", url).href}` : opts.document!,
        root: describeRoot(opts.root),
        measurements: measurementsSource,
        nonce: nonceText === undefined ? "not checked (no --nonce): the document may be replayed" : `matched (${nonceText})`,
      };
      if (opts.json) {
        process.stdout.write(
          JSON.stringify(
            {
              ok: true,
              ...facts,
              moduleId: verified.moduleId,
              timestamp: new Date(verified.timestamp).toISOString(),
              pcrs: Object.fromEntries([...verified.pcrs].map(([i, v]) => [`PCR${i}`, v.toString("hex")])),
              debug: verified.debug,
              keyid: verified.keyId,
              publicKey: verified.publicKey?.toString("base64url") ?? null,
              userData: verified.userData?.toString("base64") ?? null,
            },
            null,
            2,
          ) + "\n",
        );
      } else {
        process.stdout.write(report(verified, facts));
      }
    });
}
