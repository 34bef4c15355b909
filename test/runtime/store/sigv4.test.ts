/**
 * Proof of signing: our SigV4 must produce the same Authorization (and signed headers) as the AWS
 * SDK for the same inputs. Two references:
 *  1. @smithy/signature-v4 (the SDK's signer) driven directly, over a matrix of keys/modes;
 *  2. a real S3Client GetObject/PutObject on an S3 Express bucket, captured before it hits the
 *     network (the SDK does CreateSession, adds x-amz-s3session-token, signs with "s3express").
 */
import { SignatureV4 } from "@smithy/signature-v4";
import { HttpRequest, HttpResponse } from "@smithy/core/protocols";
import { createHash, createHmac, type Hash, type Hmac } from "node:crypto";
import { S3Client, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { Readable } from "node:stream";
import {
  SigV4Signer,
  encodeS3KeyPath,
  canonicalQueryString,
  sha256Hex,
  EMPTY_PAYLOAD_SHA256,
  UNSIGNED_PAYLOAD,
  type AwsCredentials,
  type SigningService,
} from "../../../runtime/store/sigv4";

/** The smithy Checksum interface over node:crypto (the SDK's own @smithy/hash-node does the same). */
class Sha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    const key =
      secret === undefined || typeof secret === "string"
        ? secret
        : Buffer.from(ArrayBuffer.isView(secret) ? secret.buffer.slice(secret.byteOffset, secret.byteOffset + secret.byteLength) : secret);
    this.hash = key === undefined ? createHash("sha256") : createHmac("sha256", key);
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
  reset(): void {}
}

const FIXED_DATE = new Date("2025-03-04T05:06:07.891Z");
const LONG_TERM: AwsCredentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
const WITH_TOKEN: AwsCredentials = { ...LONG_TERM, sessionToken: "FQoGZXIvYXdzE//token+with/odd=chars" };

const KEYS = [
  "plain",
  "views/user/42.mp",
  "with space/and  two",
  "unicode/ünïcödé/日本語/😀",
  "plus+sign",
  "percent%20literal%",
  "tilde~ok",
  "slashes//double/",
  "/leading-slash",
  "reserved!'()*&$@=;:,?#[]",
];

async function smithySign(opts: {
  service: SigningService;
  region: string;
  method: "GET" | "HEAD" | "PUT";
  host: string;
  path: string;
  headers: Record<string, string>;
  payloadHash: string;
  credentials: AwsCredentials;
}): Promise<Record<string, string>> {
  const signer = new SignatureV4({
    service: opts.service,
    region: opts.region,
    sha256: Sha256,
    // The S3 client passes uriEscapePath:false: the path is already encoded once and S3 does not
    // double-encode it.
    uriEscapePath: false,
    credentials: opts.credentials,
  });
  const [hostname, port] = opts.host.split(":");
  const request = new HttpRequest({
    method: opts.method,
    protocol: "https:",
    hostname: hostname!,
    port: port ? Number(port) : undefined,
    path: opts.path,
    headers: { host: opts.host, "x-amz-content-sha256": opts.payloadHash, ...opts.headers },
  });
  const signed = await signer.sign(request, { signingDate: FIXED_DATE });
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers)) lower[k.toLowerCase()] = v as string;
  return lower;
}

describe("encodeS3KeyPath", () => {
  it("encodes each segment with RFC 3986 unreserved rules and keeps '/'", () => {
    expect(encodeS3KeyPath("a b/c+d/e%f/g~h/ü")).toBe("a%20b/c%2Bd/e%25f/g~h/%C3%BC");
    expect(encodeS3KeyPath("x!'()*")).toBe("x%21%27%28%29%2A");
    expect(encodeS3KeyPath("a//b/")).toBe("a//b/");
    expect(encodeS3KeyPath("simple/key-1_2.mp")).toBe("simple/key-1_2.mp");
  });
});

describe("SigV4Signer vs @smithy/signature-v4", () => {
  const cases: Array<{ service: SigningService; addressing: "path" | "virtual"; credentials: AwsCredentials }> = [
    { service: "s3", addressing: "path", credentials: LONG_TERM },
    { service: "s3", addressing: "path", credentials: WITH_TOKEN },
    { service: "s3", addressing: "virtual", credentials: WITH_TOKEN },
    { service: "s3express", addressing: "virtual", credentials: WITH_TOKEN },
    { service: "s3express", addressing: "virtual", credentials: LONG_TERM },
  ];
  for (const c of cases) {
    for (const key of KEYS) {
      it(`${c.service} ${c.addressing} token=${c.credentials.sessionToken !== undefined} GET ${JSON.stringify(key)}`, async () => {
        const region = c.service === "s3express" ? "ap-south-1" : "eu-west-1";
        const host =
          c.addressing === "path"
            ? "127.0.0.1:4569"
            : c.service === "s3express"
              ? "lane--aps1-az1--x-s3.s3express-aps1-az1.ap-south-1.amazonaws.com"
              : "lane.s3.eu-west-1.amazonaws.com";
        const path = c.addressing === "path" ? `/lane/${encodeS3KeyPath(key)}` : `/${encodeS3KeyPath(key)}`;
        const ours = new SigV4Signer({ region, service: c.service }).sign({ method: "GET", host, path, payloadHash: EMPTY_PAYLOAD_SHA256 }, c.credentials, FIXED_DATE);
        // How the SDK does S3 Express (SignatureV4SignWithCredentials): the token goes into
        // x-amz-s3session-token before signing and the creds are signed without a security token.
        const tokenHeaders: Record<string, string> = {};
        let smithyCreds = c.credentials;
        if (c.service === "s3express" && c.credentials.sessionToken) {
          tokenHeaders["x-amz-s3session-token"] = c.credentials.sessionToken;
          smithyCreds = { accessKeyId: c.credentials.accessKeyId, secretAccessKey: c.credentials.secretAccessKey };
        }
        const reference = await smithySign({
          service: c.service,
          region,
          method: "GET",
          host,
          path,
          headers: tokenHeaders,
          payloadHash: EMPTY_PAYLOAD_SHA256,
          credentials: smithyCreds,
        });
        expect(ours.authorization).toBe(reference.authorization);
        expect(ours["x-amz-date"]).toBe(reference["x-amz-date"]);
        expect(ours["x-amz-date"]).toBe("20250304T050607Z");
        if (c.credentials.sessionToken) {
          const tokenHeader = c.service === "s3express" ? "x-amz-s3session-token" : "x-amz-security-token";
          expect(ours[tokenHeader]).toBe(c.credentials.sessionToken);
          expect(ours[c.service === "s3express" ? "x-amz-security-token" : "x-amz-s3session-token"]).toBeUndefined();
        }
      });
    }
  }

  it.each(["HEAD", "PUT"] as const)("%s with conditional and content-type headers, real payload hash and UNSIGNED-PAYLOAD", async (method) => {
    const body = Buffer.from("hello  world");
    for (const payloadHash of [method === "PUT" ? sha256Hex(body) : EMPTY_PAYLOAD_SHA256, UNSIGNED_PAYLOAD]) {
      const headers = { "content-type": "application/msgpack", "if-match": '"abc  def"', "if-none-match": "*" };
      const ours = new SigV4Signer({ region: "us-east-1", service: "s3" }).sign(
        { method, host: "localhost:9000", path: "/lane/" + encodeS3KeyPath("k ey+1"), headers, payloadHash },
        WITH_TOKEN,
        FIXED_DATE,
      );
      const reference = await smithySign({
        service: "s3",
        region: "us-east-1",
        method,
        host: "localhost:9000",
        path: "/lane/k%20ey%2B1",
        headers,
        payloadHash,
        credentials: WITH_TOKEN,
      });
      expect(ours.authorization).toBe(reference.authorization);
      expect(ours.authorization).toContain("SignedHeaders=content-type;host;if-match;if-none-match;x-amz-content-sha256;x-amz-date;x-amz-security-token,");
    }
  });

  it("a different secret, date, region or key changes the signature (the test can fail)", () => {
    const base = { method: "GET" as const, host: "h", path: "/b/k", payloadHash: EMPTY_PAYLOAD_SHA256 };
    const sig = (s: SigV4Signer, creds: AwsCredentials, req = base, date = FIXED_DATE) => s.sign(req, creds, date).authorization;
    const s3 = new SigV4Signer({ region: "us-east-1", service: "s3" });
    const reference = sig(s3, LONG_TERM);
    expect(sig(s3, { ...LONG_TERM, secretAccessKey: "other" })).not.toBe(reference);
    expect(sig(s3, LONG_TERM, base, new Date(FIXED_DATE.getTime() + 1000))).not.toBe(reference);
    expect(sig(new SigV4Signer({ region: "us-east-2", service: "s3" }), LONG_TERM)).not.toBe(reference);
    expect(sig(new SigV4Signer({ region: "us-east-1", service: "s3express" }), LONG_TERM)).not.toBe(reference);
    expect(sig(s3, LONG_TERM, { ...base, path: "/b/k2" })).not.toBe(reference);
    // the signing-key cache must not leak a key across secrets or dates
    expect(sig(s3, LONG_TERM)).toBe(reference);
  });
});

/**
 * The end-to-end reference: the real S3Client, S3 Express bucket, requests captured by a fake
 * request handler. We feed our signer the SDK's own extra signed headers (user agent, checksum
 * mode, invocation id …) and must reproduce its Authorization exactly.
 */
describe("SigV4Signer vs a real S3Client on an S3 Express bucket", () => {
  const bucket = "lane--aps1-az1--x-s3";
  const region = "ap-south-1";
  const session = { AccessKeyId: "ASIASESSIONKEY", SecretAccessKey: "session/secret+key", SessionToken: "session-token-value==" };

  function captureClient() {
    const captured: HttpRequest[] = [];
    const requestHandler = {
      handle: async (request: HttpRequest) => {
        captured.push(request);
        if (request.query && "session" in request.query) {
          const xml =
            `<?xml version="1.0" encoding="UTF-8"?><CreateSessionResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Credentials>` +
            `<SessionToken>${session.SessionToken}</SessionToken><SecretAccessKey>${session.SecretAccessKey}</SecretAccessKey>` +
            `<AccessKeyId>${session.AccessKeyId}</AccessKeyId><Expiration>${new Date(Date.now() + 300_000).toISOString()}</Expiration>` +
            `</Credentials></CreateSessionResult>`;
          return { response: new HttpResponse({ statusCode: 200, headers: { "content-type": "application/xml" }, body: Readable.from([Buffer.from(xml)]) }) };
        }
        return { response: new HttpResponse({ statusCode: 200, headers: { etag: '"e"' }, body: Readable.from([Buffer.from("x")]) }) };
      },
    };
    const client = new S3Client({ region, credentials: LONG_TERM, requestHandler: requestHandler as never });
    return { client, captured };
  }

  function replay(sdkRequest: HttpRequest, payloadHash: string): { ours: Record<string, string>; sdk: Record<string, string> } {
    const sdk: Record<string, string> = {};
    for (const [k, v] of Object.entries(sdkRequest.headers)) sdk[k.toLowerCase()] = v;
    const signedNames = /SignedHeaders=([^,]+)/.exec(sdk.authorization!)![1]!.split(";");
    const extra: Record<string, string> = {};
    for (const name of signedNames) {
      if (!["host", "x-amz-date", "x-amz-content-sha256", "x-amz-s3session-token"].includes(name)) extra[name] = sdk[name]!;
    }
    const amzDate = sdk["x-amz-date"]!;
    const date = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
    const ours = new SigV4Signer({ region, service: "s3express" }).sign(
      {
        method: sdkRequest.method as "GET" | "PUT",
        host: sdk.host ?? sdkRequest.hostname,
        path: sdkRequest.path,
        // the SDK adds ?x-id=GetObject / PutObject, which is part of what it signs
        query: canonicalQueryString(sdkRequest.query as Record<string, string>),
        headers: extra,
        payloadHash,
      },
      { accessKeyId: session.AccessKeyId, secretAccessKey: session.SecretAccessKey, sessionToken: session.SessionToken },
      date,
    );
    return { ours, sdk };
  }

  it.each(["views/user/ü b+c%~.mp", "k"])("GetObject %j: same host, path, session token and Authorization", async (key) => {
    const { client, captured } = captureClient();
    await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const get = captured.find((r) => r.method === "GET" && !(r.query && "session" in r.query))!;
    expect(get.hostname).toBe(`${bucket}.s3express-aps1-az1.${region}.amazonaws.com`);
    expect(get.path).toBe("/" + encodeS3KeyPath(key));
    const { ours, sdk } = replay(get, sdk_payload(get));
    expect(sdk["x-amz-s3session-token"]).toBe(session.SessionToken);
    expect(sdk["x-amz-security-token"]).toBeUndefined();
    expect(ours["x-amz-s3session-token"]).toBe(session.SessionToken);
    expect(ours.authorization).toBe(sdk.authorization);
    expect(ours.authorization).toContain(`Credential=${session.AccessKeyId}/`);
    expect(ours.authorization).toContain(`/${region}/s3express/aws4_request`);
    client.destroy();
  });

  it("PutObject with If-None-Match: same Authorization", async () => {
    const { client, captured } = captureClient();
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: "a b", Body: Buffer.from("payload"), IfNoneMatch: "*", ContentType: "application/msgpack" }));
    const put = captured.find((r) => r.method === "PUT")!;
    const { ours, sdk } = replay(put, sdk_payload(put));
    expect(sdk.authorization).toContain("if-none-match");
    expect(ours.authorization).toBe(sdk.authorization);
    client.destroy();
  });

  function sdk_payload(request: HttpRequest): string {
    const h = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v]));
    return h["x-amz-content-sha256"]!;
  }
});
