/**
 * Hand-written AWS Signature Version 4 for S3 object requests (GET / HEAD / PUT).
 *
 * Why not @smithy/signature-v4: it is async, allocates an HttpRequest clone per call and walks
 * generic header logic; on the reader's hot path we only ever sign a handful of known headers.
 * Correctness is proven by test/runtime/store/sigv4.test.ts, which compares our Authorization
 * header byte for byte with @smithy/signature-v4 (and with a real S3Client request) for the same
 * inputs.
 *
 * Payload hash choice:
 * - GET / HEAD carry no body: we sign the SHA-256 of the empty string (what the AWS SDK sends),
 *   accepted by S3 and S3 Express alike over HTTP and HTTPS.
 * - PUT signs the real SHA-256 of the body. UNSIGNED-PAYLOAD is also accepted by S3 and S3 Express,
 *   but only makes sense over TLS (the SDK itself only uses it on HTTPS); writes are off the hot
 *   path, objects are small (≤ 1 MiB, ~2 ms of hashing at worst), and a signed hash makes the
 *   signature cover the bytes on any transport, including plain-HTTP S3-compatible stores.
 */
import { createHash, createHmac } from "node:crypto";

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /**
   * Temporary-credential token. Sent as `x-amz-security-token` for service "s3", and as
   * `x-amz-s3session-token` for service "s3express" (S3 Express session credentials).
   */
  readonly sessionToken?: string;
  /** When temporary credentials stop being valid; absent for long-lived keys. */
  readonly expiration?: Date;
}

export type SigningService = "s3" | "s3express";

/** SHA-256 of the empty string: the payload hash of a bodiless request. */
export const EMPTY_PAYLOAD_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
export const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";

export function sha256Hex(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * RFC 3986 encoding as SigV4 defines it: every byte except A-Z a-z 0-9 - . _ ~ is %XX (upper hex).
 * encodeURIComponent leaves ! ' ( ) * alone, so those are fixed up; it also encodes "~" as-is
 * (unreserved), matching AWS.
 */
export function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

/**
 * The URI path of an S3 object key, as sent on the wire and as signed: each "/"-separated segment
 * encoded with uriEncode, "/" kept. S3 signs the path encoded once (no double encoding, no
 * dot-segment normalisation), so the same string is both the request path and the canonical URI.
 */
export function encodeS3KeyPath(key: string): string {
  // Fast path: keys made only of unreserved characters and "/" need no work (the common case:
  // the runtime builds keys from already-encoded entity ids).
  if (/^[A-Za-z0-9\-._~/]*$/.test(key)) return key;
  let encoded = "";
  let segmentStart = 0;
  for (let i = 0; i <= key.length; i++) {
    if (i === key.length || key.charCodeAt(i) === 0x2f /* "/" */) {
      encoded += uriEncode(key.slice(segmentStart, i));
      if (i < key.length) encoded += "/";
      segmentStart = i + 1;
    }
  }
  return encoded;
}

/** SigV4 canonical query string from name/value pairs (sorted by encoded name, then value). */
export function canonicalQueryString(params: Readonly<Record<string, string>>): string {
  const pairs = Object.keys(params).map((name) => [uriEncode(name), uriEncode(params[name]!)] as const);
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([n, v]) => `${n}=${v}`).join("&");
}

export interface SignableRequest {
  readonly method: "GET" | "HEAD" | "PUT" | "DELETE";
  /** Host header value exactly as sent (with ":port" when not the scheme's default). */
  readonly host: string;
  /** Request path exactly as sent, already encoded (see encodeS3KeyPath). */
  readonly path: string;
  /** Canonical query string (see canonicalQueryString); "" or absent for none. */
  readonly query?: string;
  /**
   * Extra headers to sign and send, names in lower case (e.g. content-type, if-match).
   * host, x-amz-date, x-amz-content-sha256 and the token header are added by the signer.
   */
  readonly headers?: Readonly<Record<string, string>>;
  /** Hex SHA-256 of the body, EMPTY_PAYLOAD_SHA256, or UNSIGNED_PAYLOAD. */
  readonly payloadHash: string;
}

export interface SigV4SignerOptions {
  readonly region: string;
  readonly service: SigningService;
}

/** Header name → value, lower-case names: everything to put on the wire, including host. */
export type SignedHeaders = Record<string, string>;

const SIGNING_KEY_CACHE_LIMIT = 8;

export class SigV4Signer {
  readonly region: string;
  readonly service: SigningService;
  private readonly sessionTokenHeader: "x-amz-security-token" | "x-amz-s3session-token";
  /** Derived signing keys by "secret\ndate": 4 HMACs saved per request. */
  private readonly signingKeys = new Map<string, Buffer>();
  /** x-amz-date is second-granular: format it once per second, not once per request. */
  private cachedDateSecond = -1;
  private cachedAmzDate = "";

  constructor(options: SigV4SignerOptions) {
    this.region = options.region;
    this.service = options.service;
    this.sessionTokenHeader = options.service === "s3express" ? "x-amz-s3session-token" : "x-amz-security-token";
  }

  /** Returns every header to send (signed ones plus authorization). */
  sign(request: SignableRequest, credentials: AwsCredentials, now: Date = new Date()): SignedHeaders {
    const amzDate = this.amzDate(now);
    const shortDate = amzDate.slice(0, 8);

    const headers: SignedHeaders = {
      host: request.host,
      "x-amz-content-sha256": request.payloadHash,
      "x-amz-date": amzDate,
    };
    if (credentials.sessionToken !== undefined) headers[this.sessionTokenHeader] = credentials.sessionToken;
    if (request.headers) {
      for (const name in request.headers) headers[name] = request.headers[name]!;
    }

    const names = Object.keys(headers).sort();
    let canonicalHeaders = "";
    for (const name of names) canonicalHeaders += name + ":" + canonicalHeaderValue(headers[name]!) + "\n";
    const signedHeaderNames = names.join(";");

    const canonicalRequest = request.method + "\n" + request.path + "\n" + (request.query ?? "") + "\n" + canonicalHeaders + "\n" + signedHeaderNames + "\n" + request.payloadHash;

    const scope = `${shortDate}/${this.region}/${this.service}/aws4_request`;
    const stringToSign = "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + sha256Hex(canonicalRequest);
    const signature = createHmac("sha256", this.signingKey(credentials.secretAccessKey, shortDate)).update(stringToSign).digest("hex");

    headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaderNames}, Signature=${signature}`;
    return headers;
  }

  private amzDate(now: Date): string {
    const epochSecond = Math.floor(now.getTime() / 1000);
    if (epochSecond !== this.cachedDateSecond) {
      this.cachedDateSecond = epochSecond;
      // "2024-01-02T03:04:05.000Z" → "20240102T030405Z"
      this.cachedAmzDate = now
        .toISOString()
        .replace(/[-:]/g, "")
        .replace(/\.\d{3}/, "");
    }
    return this.cachedAmzDate;
  }

  private signingKey(secretAccessKey: string, shortDate: string): Buffer {
    const cacheKey = secretAccessKey + "\n" + shortDate;
    let key = this.signingKeys.get(cacheKey);
    if (key === undefined) {
      const kDate = createHmac("sha256", "AWS4" + secretAccessKey)
        .update(shortDate)
        .digest();
      const kRegion = createHmac("sha256", kDate).update(this.region).digest();
      const kService = createHmac("sha256", kRegion).update(this.service).digest();
      key = createHmac("sha256", kService).update("aws4_request").digest();
      // Session credentials rotate every few minutes: keep the cache from growing without bound.
      if (this.signingKeys.size >= SIGNING_KEY_CACHE_LIMIT) this.signingKeys.clear();
      this.signingKeys.set(cacheKey, key);
    }
    return key;
  }
}

/** SigV4 canonical header value: trimmed, inner whitespace runs collapsed to one space. */
function canonicalHeaderValue(value: string): string {
  return /^\S(?:.*\S)?$/.test(value) && !/\s\s/.test(value) ? value : value.trim().replace(/\s+/g, " ");
}
