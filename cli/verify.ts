/**
 * `express-lane verify`: fetch a read or push answer (or read a saved `curl -si` response) and
 * check digest, signature, request binding (method, path, query and, for POST, the body), created,
 * expires and nonce — docs/envelope.md, executable.
 *
 * Fail closed (issue #11 P5): it reports OK only against a trust anchor the user pinned —
 *   --key <jwk file | keyid>  (repeatable: a key set), or
 *   --attest + --root + --measurements/--local-bundle  (verify a fresh attestation document, then
 *                                                      the answer with the key inside it).
 * With neither it refuses. `--trust-on-first-use` takes the key from the lane's own /v1/signer, for
 * development only, and says so: a host that forges answers serves its own key there too.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { Unpackr } from "msgpackr";
import { verifyResponse, VerificationError, ReceivedResponse, requestHasBody } from "../verifier/response";
import { AttestationError, attestedLaneKids, DEFAULT_DEV_CA_DIR, loadPinnedRoot, verifyAttestation } from "../verifier/attestation";
import { contentDigest } from "../wire/envelope";
import { ed25519Jwk, jwkThumbprint, type Ed25519Jwk } from "../wire/keys";
import { parseMaxAge } from "../wire/views-file";
import { splitTarget } from "../wire/request";
import { describeRoot, fetchAttestation, fetchOrExplain, measurementAllowlist } from "./attest";

/** Parse a raw HTTP/1.1 response as saved by `curl -si` (headers, blank line, body bytes). */
export function parseRawResponse(raw: Buffer): ReceivedResponse {
  const sep = raw.indexOf("\r\n\r\n");
  const headEnd = sep >= 0 ? sep : raw.indexOf("\n\n");
  if (headEnd < 0) throw new Error("not an HTTP response: no blank line after the headers");
  const head = raw.subarray(0, headEnd).toString("latin1").split(/\r?\n/);
  const body = raw.subarray(headEnd + (sep >= 0 ? 4 : 2));
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(head[0] ?? "")?.[1]);
  if (!Number.isInteger(status)) throw new Error("not an HTTP response: bad status line");
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers, body };
}

export interface VerifyCommandOptions {
  response?: string;
  method?: string;
  data?: string;
  dataFile?: string;
  nonce?: string;
  /** --key, repeatable: JWK files or keyids. */
  key?: string[];
  /** Old spellings of --key <file> and --key <keyid>. */
  jwk?: string;
  keyid?: string;
  attest?: boolean;
  root: string;
  devCa: string;
  measurements?: string;
  localBundle?: string;
  allowDebug?: boolean;
  maxAge: string;
  trustOnFirstUse?: boolean;
  skew: string;
  /** P8: a duration ("60s", "5m", integer seconds) replacing the answer's max_staleness, or "off". */
  maxStaleness?: string;
  showBody?: boolean;
  /** The answer format to ask for (Accept): application/json or application/msgpack. */
  accept?: string;
}

/** Formats `--accept` can ask for (wire/request CONTENT_TYPES). */
export const ACCEPT_TYPES = ["application/json", "application/msgpack"] as const;

/** A verified body for the terminal: JSON as is; MessagePack decoded to JSON (times as ISO 8601, bytes as base64). */
export function showableBody(contentType: string | undefined, body: Uint8Array): string {
  if (!/^application\/msgpack\b/.test(contentType ?? "")) return Buffer.from(body).toString("utf8");
  const value: unknown = new Unpackr({ useRecords: false }).unpack(Buffer.from(body));
  return JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString("base64") : v));
}

export interface VerifyIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const KEYID = /^[A-Za-z0-9_-]{43}$/;

/** A short, terminal-safe view of a body the host chose (control characters escaped). */
export function bodyPreview(body: Uint8Array, max = 400): string {
  const text = Buffer.from(body.subarray(0, max)).toString("utf8");
  return `${JSON.stringify(text)}${body.length > max ? ` … (${body.length} bytes)` : ""}`;
}

/**
 * A pinned key file: a bare JWK, the /v1/signer document ({keyid, alg, jwk}) saved as is, or a JWKS
 * ({keys: [...]}, e.g. `express-lane lane-key jwks`: the lane keys, each with nbf/exp, which the
 * verifier enforces).
 */
function readJwkFile(path: string): Ed25519Jwk[] {
  let jwk: unknown;
  try {
    jwk = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(`--key ${path}: not a JSON file: ${(err as Error).message}`, { cause: err });
  }
  const list = typeof jwk === "object" && jwk !== null && Array.isArray((jwk as { keys?: unknown }).keys) ? ((jwk as { keys: unknown[] }).keys as unknown[]) : [jwk];
  if (list.length === 0) throw new Error(`--key ${path}: the key set is empty`);
  return list.map((entry) => {
    const candidate = (typeof entry === "object" && entry !== null && "jwk" in entry ? (entry as { jwk: unknown }).jwk : entry) as Record<string, unknown>;
    if (candidate?.kty !== "OKP" || candidate.crv !== "Ed25519" || typeof candidate.x !== "string" || Buffer.from(candidate.x, "base64url").length !== 32) {
      throw new Error(`--key ${path}: not an Ed25519 public JWK ({"kty":"OKP","crv":"Ed25519","x":…}) or a set of them ({"keys":[…]})`);
    }
    const validity =
      typeof candidate.nbf === "number" || typeof candidate.exp === "number"
        ? { ...(typeof candidate.nbf === "number" ? { nbf: candidate.nbf } : {}), ...(typeof candidate.exp === "number" ? { exp: candidate.exp } : {}) }
        : {};
    return { kty: "OKP", crv: "Ed25519", x: candidate.x, ...validity } as Ed25519Jwk;
  });
}

async function signerKeyOfLane(base: URL): Promise<Ed25519Jwk> {
  const res = await fetchOrExplain(new URL("/v1/signer", base));
  if (!res.ok) throw new Error(`GET /v1/signer answered ${res.status}: ${bodyPreview(Buffer.from(await res.arrayBuffer()), 200)}`);
  const jwk = ((await res.json()) as { jwk?: Ed25519Jwk }).jwk;
  if (!jwk || jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string") throw new Error("GET /v1/signer: no Ed25519 jwk in the answer");
  return { kty: "OKP", crv: "Ed25519", x: jwk.x };
}

/** The lane keys /v1/signer publishes (not trusted by themselves: callers match them to attested kids). */
async function laneKeysOfLane(base: URL): Promise<Ed25519Jwk[]> {
  const res = await fetchOrExplain(new URL("/v1/signer", base));
  if (!res.ok) return [];
  const body = (await res.json()) as { lane_keys?: { jwk?: Ed25519Jwk }[] };
  return (body.lane_keys ?? []).flatMap((k) =>
    k.jwk && k.jwk.kty === "OKP" && k.jwk.crv === "Ed25519" && typeof k.jwk.x === "string" ? [{ kty: "OKP" as const, crv: "Ed25519" as const, x: k.jwk.x }] : [],
  );
}

/** The keys an answer may be signed by, and how we came to trust them. */
export interface TrustAnchor {
  readonly keys: readonly Ed25519Jwk[];
  /** Printed next to OK: where the key came from (says UNPINNED for --trust-on-first-use). */
  readonly source: string;
}

/**
 * The one place `verify` decides which keys it trusts. Throws (exit 2) when nothing is pinned, so
 * no code path below can report OK with a key the lane chose.
 */
export async function resolveTrustAnchor(opts: VerifyCommandOptions, base: URL, io: VerifyIo): Promise<TrustAnchor> {
  const keySpecs = [...(opts.key ?? []), ...(opts.jwk ? [opts.jwk] : []), ...(opts.keyid ? [opts.keyid] : [])];
  const chosen = [keySpecs.length > 0 && "--key", opts.attest && "--attest", opts.trustOnFirstUse && "--trust-on-first-use"].filter(Boolean);
  if (chosen.length === 0) {
    throw new Error(
      "no trust anchor: refusing to verify against a key the lane itself hands out. Pin one: " +
        "--key <jwk file|keyid> (e.g. the keyid `express-lane attest` printed), or --attest --root <aws|local|file> --measurements <file>; " +
        "for development only, --trust-on-first-use",
    );
  }
  if (chosen.length > 1) throw new Error(`choose one trust anchor, not ${chosen.join(" and ")}`);

  if (keySpecs.length > 0) {
    const files: Ed25519Jwk[] = [];
    const keyids: string[] = [];
    for (const spec of keySpecs) {
      if (existsSync(spec)) files.push(...readJwkFile(spec));
      else if (KEYID.test(spec)) keyids.push(spec);
      else throw new Error(`--key ${spec}: neither a JWK file nor a keyid (43 base64url characters, a JWK thumbprint)`);
    }
    const keys = [...files];
    const sources = files.length > 0 ? [`pinned JWK ${keySpecs.filter((s) => existsSync(s)).join(", ")}`] : [];
    if (keyids.length > 0) {
      // A pinned keyid is the SHA-256 of the key: the lane may hand us the key, it cannot choose it.
      const offered = await signerKeyOfLane(base);
      const offeredId = jwkThumbprint(offered);
      if (keyids.includes(offeredId)) {
        keys.push(offered);
        sources.push(`pinned keyid ${offeredId} (key from ${base.origin}/v1/signer, checked against it)`);
      } else if (files.length === 0) {
        throw new VerificationError("wrong_keyid", `the lane's signer key is ${offeredId}, pinned: ${keyids.join(", ")}`);
      }
    }
    return { keys, source: sources.join("; ") };
  }

  if (opts.attest) {
    if ((opts.measurements === undefined) === (opts.localBundle === undefined)) {
      throw new Error("--attest needs exactly one of --measurements <file> or --local-bundle <file>: without an allowlist any enclave image under the root would be trusted");
    }
    const root = loadPinnedRoot(opts.root, opts.devCa);
    const { sets, source: measurementsSource } = measurementAllowlist(opts);
    const maxAgeSeconds = Number(opts.maxAge);
    if (!(maxAgeSeconds > 0)) throw new Error("--max-age must be a positive number of seconds");
    const nonce = randomBytes(24).toString("base64url");
    const response = await fetchAttestation(base.href, nonce);
    const verified = verifyAttestation(Buffer.from(response.document, "base64"), {
      root,
      measurements: sets,
      nonce: Buffer.from(nonce, "utf8"),
      maxAgeMs: maxAgeSeconds * 1000,
      allowDebug: opts.allowDebug === true,
    });
    if (verified.publicKey === null || verified.publicKey.length !== 32) {
      throw new AttestationError("PUBLIC_KEY_MISMATCH", "the attestation document carries no Ed25519 signing key");
    }
    // The document's user_data names the lane keys this enclave signs with (docs/trust.md, "One
    // trust anchor per lane"): KMS releases them only to measured images, so they are as trusted as
    // the attested key. Their JWKs may come from the host: each is accepted only if its thumbprint
    // is one of the attested kids.
    const laneKids = attestedLaneKids(verified.userData);
    const laneKeys = laneKids.length > 0 ? (await laneKeysOfLane(base)).filter((k) => laneKids.includes(jwkThumbprint(k))) : [];
    return {
      keys: [ed25519Jwk(verified.publicKey), ...laneKeys],
      source: `attested key ${verified.keyId}${laneKeys.length > 0 ? ` and lane key ${laneKeys.map((k) => jwkThumbprint(k)).join(", ")}` : ""} (root: ${describeRoot(opts.root)}; measurements: ${measurementsSource}; module ${verified.moduleId}${verified.debug ? "; DEBUG MODE" : ""})`,
    };
  }

  const jwk = await signerKeyOfLane(base);
  io.stderr(
    `WARNING --trust-on-first-use: nothing was pinned. The key came from ${base.origin}/v1/signer, the same host that sent the answer; ` +
      "OK below proves only that the answer is consistent with a key that host chose, not that an enclave made it. " +
      `Pin it for real with --attest, or --key ${jwkThumbprint(jwk)} after checking that keyid with 'express-lane attest'.\n`,
  );
  return { keys: [jwk], source: `${base.origin}/v1/signer (UNPINNED: trust on first use)` };
}

function requestBodyOf(opts: VerifyCommandOptions): Buffer | undefined {
  if (opts.data !== undefined && opts.dataFile !== undefined) throw new Error("give the request body once: --data or --data-file");
  if (opts.data !== undefined) return Buffer.from(opts.data, "utf8");
  if (opts.dataFile !== undefined) return readFileSync(opts.dataFile);
  return undefined;
}

async function fetchAnswer(url: URL, method: string, body: Buffer | undefined, nonce: string, accept?: string): Promise<ReceivedResponse> {
  const headers: Record<string, string> = { "accept-signature": `sig1=("@status" "content-digest");nonce="${nonce}"`, ...(accept ? { accept } : {}) };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-digest"] = contentDigest(body);
  }
  const res = await fetchOrExplain(url, { method, body, headers });
  const received: Record<string, string> = {};
  res.headers.forEach((v, k) => (received[k] = v));
  return { status: res.status, headers: received, body: Buffer.from(await res.arrayBuffer()) };
}

/** `--max-staleness`: undefined = the answer's own bound; "off" = Infinity (no check); else a duration in seconds. */
export function maxStalenessOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (text.trim().toLowerCase() === "off") return Number.POSITIVE_INFINITY;
  const seconds = parseMaxAge(/^\d+$/.test(text.trim()) ? Number(text.trim()) : text);
  if (seconds === null) throw new Error(`--max-staleness ${text}: a duration like 60s, 5m, 1h or integer seconds, or off`);
  return seconds;
}

/** Runs `verify`; returns the exit code (0 OK, 1 verification failed). Usage errors throw. */
export async function runVerify(target: string, opts: VerifyCommandOptions, io: VerifyIo): Promise<number> {
  const url = new URL(target);
  const { path, query } = splitTarget(url.pathname + url.search);
  const body = requestBodyOf(opts);
  const method = (opts.method ?? (body !== undefined ? "POST" : "GET")).toUpperCase();
  const request = { method, path, query, body };
  if (requestHasBody(request) && body === undefined) {
    throw new Error(`a ${method} answer is bound to its request body: give the body as sent with --data <json> or --data-file <file>`);
  }

  let trust: TrustAnchor;
  try {
    trust = await resolveTrustAnchor(opts, url, io);
  } catch (err) {
    if (err instanceof AttestationError) {
      io.stderr(`FAIL attestation ${err.message}\n`);
      return 1;
    }
    if (err instanceof VerificationError) {
      io.stderr(`FAIL ${err.code}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }

  const maxStaleness = maxStalenessOf(opts.maxStaleness);
  if (maxStaleness === Number.POSITIVE_INFINITY)
    io.stderr("WARNING: --max-staleness off: freshness is NOT checked (docs/trust.md P8); a host can serve an old version of any entity and this will still say OK\n");
  const nonce = opts.response ? opts.nonce : (opts.nonce ?? randomBytes(12).toString("base64url"));
  const response = opts.response ? parseRawResponse(readFileSync(opts.response)) : await fetchAnswer(url, method, body, nonce!, opts.accept);
  try {
    const v = verifyResponse(response, request, { key: trust.keys, nonce, skewSeconds: Number(opts.skew), ...(maxStaleness !== undefined ? { maxStaleness } : {}) });
    // Signed, but not what was asked for: say so rather than print OK for another format.
    const gotType = (response.headers["content-type"] ?? "").split(";")[0]!.trim();
    if (opts.accept && !opts.response && response.status < 300 && gotType !== opts.accept) {
      io.stderr(`FAIL content_type: asked for ${opts.accept}, the signed answer is ${gotType || "(none)"}\n`);
      return 1;
    }
    io.stdout(
      `OK status=${response.status} label=${v.label} keyid=${v.keyid} created=${new Date(v.created * 1000).toISOString()} ` +
        `expires=${new Date(v.expires * 1000).toISOString()}${v.nonce ? ` nonce=${v.nonce}` : ""}${body !== undefined ? " request-body=bound" : ""}` +
        `${v.oldestFreshAsOf !== undefined ? ` fresh_as_of=${new Date(v.oldestFreshAsOf).toISOString()}` : maxStaleness === Number.POSITIVE_INFINITY ? " freshness=UNCHECKED" : ""}\n` +
        `key from ${trust.source}\n`,
    );
    if (opts.showBody) io.stdout(`${showableBody(response.headers["content-type"], response.body)}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof VerificationError)) throw err;
    io.stderr(`FAIL ${err.code}: ${err.message}\n`);
    const unsigned = response.headers["signature"] === undefined && response.headers["signature-input"] === undefined;
    io.stderr(
      `  answer: HTTP ${response.status}${unsigned ? " (unsigned: runtime errors carry no signature and no data)" : ""}, ` +
        `content-type ${response.headers["content-type"] ?? "(none)"}, body ${bodyPreview(response.body)}\n`,
    );
    return 1;
  }
}

export function registerVerifyCommand(program: Command): void {
  program
    .command("verify")
    .description("verify a signed Express Lane answer against a pinned key or a verified attestation")
    .argument("<url>", "URL of the read or push (with --response: only its path and query are used)")
    .option("--response <file>", "verify a saved `curl -si` response instead of fetching")
    .option("-X, --method <method>", "request method (default: GET, or POST with --data/--data-file)")
    .option("-d, --data <json>", "request body (batch reads, pushes), sent as is with Content-Digest")
    .option("--data-file <file>", "request body from a file, sent byte for byte")
    .option("--nonce <nonce>", "nonce to send and require (default: random when fetching)")
    .option("--key <jwk file|keyid>", "pin the signer key: a JWK file or a keyid (repeat for a key set)", (v: string, all: string[] = []) => [...all, v])
    .addOption(new Option("--jwk <file>", "same as --key <file>").hideHelp())
    .addOption(new Option("--keyid <keyid>", "same as --key <keyid>").hideHelp())
    .option("--attest", "pin the key of a freshly attested enclave (GET /v1/attestation with a nonce); needs --measurements or --local-bundle")
    .addOption(new Option("--root <root>", "with --attest: trust anchor aws, local (the dev CA), or a PEM/DER file").default("aws"))
    .addOption(new Option("--dev-ca <dir>", "with --attest --root local: the dev CA folder").default(DEFAULT_DEV_CA_DIR))
    .option("--measurements <file>", "with --attest: allowed PCRs (nitro-cli measurements JSON)")
    .option("--local-bundle <file>", "with --attest: allowed PCRs are those LocalNsm derives from this signer bundle")
    .option("--allow-debug", "with --attest: accept a debug-mode enclave")
    .addOption(new Option("--max-age <seconds>", "with --attest: maximum document age").default("300"))
    .option("--trust-on-first-use", "DEVELOPMENT: take the key from the lane's /v1/signer (pins nothing)")
    .addOption(new Option("--skew <seconds>", "allowed clock skew").default("5"))
    .option(
      "--max-staleness <duration|off>",
      "P8: reject an entity whose signed fresh_as_of is null or older than this (default: the answer's max_staleness, the view's); off = do not check (loud)",
    )
    .option("--show-body", "print the verified body (MessagePack shown as JSON)")
    .addOption(new Option("--accept <type>", "answer format to ask for and verify").choices([...ACCEPT_TYPES]))
    .action(async (target: string, opts: VerifyCommandOptions) => {
      process.exitCode = await runVerify(target, opts, {
        stdout: (text) => process.stdout.write(text),
        stderr: (text) => process.stderr.write(text),
      });
    });
}
