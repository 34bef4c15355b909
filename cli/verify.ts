/**
 * `express-lane verify`: fetch a read (or read a saved `curl -si` response) and check digest,
 * signature, request binding, created/expires and nonce — docs/envelope.md, executable.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { verifyResponse, VerificationError, ReceivedResponse } from "../verifier/response";
import { jwkThumbprint, type Ed25519Jwk } from "../wire/keys";
import { splitTarget } from "../wire/request";

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

async function fetchResponse(url: URL, method: string, body: string | undefined, nonce: string): Promise<ReceivedResponse> {
  const res = await fetch(url, {
    method,
    body,
    headers: { "accept-signature": `sig1=("@status" "content-digest");nonce="${nonce}"`, ...(body ? { "content-type": "application/json" } : {}) },
  });
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = v));
  return { status: res.status, headers, body: Buffer.from(await res.arrayBuffer()) };
}

async function loadKey(opts: { jwk?: string }, base: URL): Promise<{ jwk: Ed25519Jwk; source: string }> {
  if (opts.jwk) return { jwk: JSON.parse(readFileSync(opts.jwk, "utf8")) as Ed25519Jwk, source: opts.jwk };
  const res = await fetch(new URL("/v1/signer", base));
  if (!res.ok) throw new Error(`GET /v1/signer answered ${res.status}`);
  return { jwk: ((await res.json()) as { jwk: Ed25519Jwk }).jwk, source: `${base.origin}/v1/signer (unpinned: pin with --keyid, or check it with 'express-lane attest')` };
}

export function registerVerifyCommand(program: Command): void {
  program
    .command("verify")
    .description("verify a signed Express Lane response")
    .argument("<url>", "URL of the read (with --response: only its path and query are used)")
    .option("--response <file>", "verify a saved `curl -si` response instead of fetching")
    .option("-X, --method <method>", "request method", "GET")
    .option("-d, --data <json>", "request body (batch reads)")
    .option("--nonce <nonce>", "nonce to send and require (default: random when fetching)")
    .option("--jwk <file>", "signer public key as a JWK file (default: fetch /v1/signer)")
    .option("--keyid <keyid>", "require this key id (JWK thumbprint)")
    .addOption(new Option("--skew <seconds>", "allowed clock skew").default("5"))
    .option("--show-body", "print the verified body")
    .action(async (target: string, opts: { response?: string; method: string; data?: string; nonce?: string; jwk?: string; keyid?: string; skew: string; showBody?: boolean }) => {
      const url = new URL(target);
      const { path, query } = splitTarget(url.pathname + url.search);
      const nonce = opts.response ? opts.nonce : (opts.nonce ?? randomBytes(12).toString("base64url"));
      const response = opts.response ? parseRawResponse(readFileSync(opts.response)) : await fetchResponse(url, opts.method.toUpperCase(), opts.data, nonce!);
      const key = await loadKey(opts, url);
      const keyid = jwkThumbprint(key.jwk);
      if (opts.keyid && keyid !== opts.keyid) {
        process.stderr.write(`FAIL wrong_keyid: key from ${key.source} is ${keyid}, expected ${opts.keyid}\n`);
        process.exitCode = 1;
        return;
      }
      try {
        const v = verifyResponse(response, { method: opts.method.toUpperCase(), path, query }, { key: key.jwk, nonce, skewSeconds: Number(opts.skew) });
        process.stdout.write(
          `OK status=${response.status} label=${v.label} keyid=${v.keyid} created=${new Date(v.created * 1000).toISOString()} ` +
            `expires=${new Date(v.expires * 1000).toISOString()}${v.nonce ? ` nonce=${v.nonce}` : ""}\nkey from ${key.source}\n`,
        );
        if (opts.showBody) process.stdout.write(`${Buffer.from(response.body).toString("utf8")}\n`);
      } catch (err) {
        if (!(err instanceof VerificationError)) throw err;
        process.stderr.write(`FAIL ${err.code}: ${err.message}\n`);
        process.exitCode = 1;
      }
    });
}
