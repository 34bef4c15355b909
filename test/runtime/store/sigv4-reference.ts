/**
 * Test helper: recompute a received request's SigV4 Authorization with the AWS SDK's signer
 * (@smithy/signature-v4), the way S3 would check it. Used by the wire tests.
 */
import { SignatureV4 } from "@smithy/signature-v4";
import { HttpRequest } from "@smithy/core/protocols";
import { createHash, createHmac, type Hash, type Hmac } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

/** The smithy Checksum interface over node:crypto (what @smithy/hash-node does). */
export class Sha256 {
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

export async function referenceAuthorization(opts: {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  region: string;
  service: "s3" | "s3express";
  accessKeyId: string;
  secretAccessKey: string;
}): Promise<string> {
  const authorization = String(opts.headers.authorization);
  const signedNames = /SignedHeaders=([^,]+)/.exec(authorization)![1]!.split(";");
  const headers: Record<string, string> = {};
  for (const name of signedNames) headers[name] = String(opts.headers[name]);
  const amzDate = headers["x-amz-date"]!;
  const signingDate = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
  const [path, rawQuery] = opts.url.split("?", 2) as [string, string | undefined];
  const query: Record<string, string> = {};
  if (rawQuery) for (const [k, v] of new URLSearchParams(rawQuery)) query[k] = v;
  const [hostname, port] = headers.host!.split(":");
  const signer = new SignatureV4({
    service: opts.service,
    region: opts.region,
    sha256: Sha256,
    uriEscapePath: false,
    credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey },
  });
  const signed = await signer.sign(new HttpRequest({ method: opts.method, protocol: "http:", hostname: hostname!, port: port ? Number(port) : undefined, path, query, headers }), {
    signingDate,
  });
  return String(signed.headers.authorization ?? signed.headers.Authorization);
}
