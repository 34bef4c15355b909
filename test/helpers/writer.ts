// Pushes as a writer does them: signed with a dev writer key file (wire/writer-auth.ts signPush via
// cli/push.ts), so the enclave's writer check is exercised on every test push. The e2e tests use
// it for every POST to /v1/features/{view} and /_push; an unsigned push is refused by the signer.
import { readWriterKeyFile, type WriterKey } from "../../dev/key-files";
import { pushNonce } from "../../cli/push";
import { PUSH_BATCH_SEGMENT } from "../../wire/write";
import { signPush } from "../../wire/writer-auth";

export interface PushAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly json: any;
  /** What was sent: verify the answer against it (verifyResponse with the body). */
  readonly request: { readonly method: "POST"; readonly path: string; readonly query: ""; readonly body: Buffer };
  /** The nonce asked for in Accept-Signature. */
  readonly answerNonce: string;
}

export interface SignedPushOptions {
  /** Push to /_push (default: when the body is an object with a `rows` array). */
  readonly batch?: boolean;
  /** Extra headers (x-api-key, …); they may override the signed ones (tamper tests). */
  readonly headers?: Record<string, string>;
  readonly nonce?: string;
  readonly nowSeconds?: number;
  /** Nonce for the answer's signature (Accept-Signature). @default random */
  readonly answerNonce?: string;
  readonly contentType?: string;
}

const keys = new Map<string, WriterKey>();

function keyOf(keyFile: string | WriterKey): WriterKey {
  if (typeof keyFile !== "string") return keyFile;
  let key = keys.get(keyFile);
  if (!key) keys.set(keyFile, (key = readWriterKeyFile(keyFile)));
  return key;
}

/**
 * POST `body` (an object, JSON-encoded; or a string / bytes sent as they are) to the push API of
 * `view` on `url`, signed with the writer key in `keyFile` (e.g. lane.writerKeyFile).
 */
export async function signedPush(url: string, view: string, body: unknown, keyFile: string | WriterKey, o: SignedPushOptions = {}): Promise<PushAnswer> {
  const key = keyOf(keyFile);
  const batch = o.batch ?? (typeof body === "object" && body !== null && !Buffer.isBuffer(body) && Array.isArray((body as { rows?: unknown }).rows));
  const path = `/v1/features/${encodeURIComponent(view)}${batch ? `/${PUSH_BATCH_SEGMENT}` : ""}`;
  const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body), "utf8");
  const contentType = o.contentType ?? "application/json";
  const sig = signPush({ method: "POST", path, query: "", contentType, body: bytes }, key, { nonce: o.nonce ?? pushNonce(), nowSeconds: o.nowSeconds });
  const answerNonce = o.answerNonce ?? pushNonce();
  const res = await fetch(`${url}${path}`, {
    method: "POST",
    body: bytes,
    headers: {
      "content-type": contentType,
      "content-digest": sig.contentDigest,
      "signature-input": sig.signatureInput,
      signature: sig.signature,
      "accept-signature": `sig1=("@status" "content-digest");nonce="${answerNonce}"`,
      ...o.headers,
    },
  });
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = v));
  const answer = Buffer.from(await res.arrayBuffer());
  let json: unknown;
  try {
    json = JSON.parse(answer.toString("utf8"));
  } catch {
    json = undefined;
  }
  return { status: res.status, headers, body: answer, json, request: { method: "POST", path, query: "", body: bytes }, answerNonce };
}
