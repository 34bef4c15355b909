/**
 * S3 conditional writes for the local store. s3rver 3.x ignores If-Match / If-None-Match on PUT;
 * S3 (and S3 Express One Zone) honour them, and the lane's "newer event time wins" rule
 * (runtime/store/conditional-write.ts) depends on them. This Koa middleware, prepended to s3rver's
 * own stack (dev/lane/local-store.ts), gives the local twin the documented behaviour:
 *
 *  - Amazon S3 API Reference, PutObject, `If-None-Match`: "Uploads the object only if the object
 *    key name does not already exist in the bucket specified. Otherwise, Amazon S3 returns a 412
 *    Precondition Failed error. ... Expects the '*' (asterisk) character."
 *  - PutObject, `If-Match`: "Uploads the object only if the ETag (entity tag) value provided during
 *    the WRITE operation matches the ETag of the object in S3 bucket. If the ETag values do not
 *    match, the operation returns a 412 Precondition Failed error."
 *  - Amazon S3 User Guide, "How to prevent object overwrites with conditional writes": with
 *    If-Match, "If no object with the key name exists, the request fails with a 404 NoSuchKey
 *    error" (brief's reading of the guide; AWS shows NoSuchKey for If-Match on a missing key).
 *  - Errors are S3 XML (`<Error><Code>PreconditionFailed</Code>...<Condition>If-Match</Condition>`),
 *    rendered by s3rver's own error handler from an S3Error.
 *
 * Concurrency: S3 evaluates the condition atomically with the write (a racing conditional write
 * gets 412, or 409 ConditionalRequestConflict). Here every PUT/DELETE on a key runs under a per-key
 * lock, condition check and write together, so two conditional writers can never both win.
 * Scope: path-style requests (what the lane's store client sends); plain PUTs keep s3rver's
 * behaviour apart from being serialized per key.
 */
// s3rver's own error class: its error handler renders it as S3 XML with the S3 status for the code.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3Error = require("s3rver/lib/models/error") as new (code: string, message: string, detail?: Record<string, string>) => Error;

interface KoaContext {
  method: string;
  path: string;
  querystring: string;
  headers: Record<string, string | string[] | undefined>;
  req: NodeJS.ReadableStream;
  app: { store: { existsObject(bucket: string, key: string): Promise<boolean>; getMetadata(bucket: string, key: string): Promise<{ etag: string }> } };
}

type Next = () => Promise<void>;

/** ETag comparison per RFC 9110 strong comparison, tolerant of quoting: `"abc"` == `abc`. */
export function sameEtag(a: string, b: string): boolean {
  const norm = (s: string) =>
    s
      .trim()
      .replace(/^W\//, "")
      .replace(/^"(.*)"$/, "$1");
  return norm(a) === norm(b);
}

function headerValue(ctx: KoaContext, name: string): string | undefined {
  const v = ctx.headers[name];
  return Array.isArray(v) ? v.join(", ") : v;
}

async function drain(stream: NodeJS.ReadableStream): Promise<void> {
  // Refusing before reading the body: consume it so the keep-alive connection stays usable.
  for await (const chunk of stream) void chunk;
}

/** Run `fn` after every earlier call for the same key has finished (a per-key FIFO lock). */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  get held(): number {
    return this.tails.size;
  }
}

export function conditionalWritesMiddleware(lock = new KeyedLock()) {
  return async function conditionalWrites(ctx: KoaContext, next: Next): Promise<void> {
    if (ctx.method !== "PUT" && ctx.method !== "DELETE") return next();
    const segments = ctx.path.split("/");
    // "/bucket/key..." → ["", bucket, ...key]; bucket-level requests have no key.
    if (segments.length < 3 || segments[2] === "" || ctx.querystring !== "") return next();
    const bucket = decodeURIComponent(segments[1]);
    const key = decodeURIComponent(segments.slice(2).join("/"));
    const ifMatch = headerValue(ctx, "if-match");
    const ifNoneMatch = headerValue(ctx, "if-none-match");
    return lock.run(`${bucket}/${key}`, async () => {
      if (ctx.method === "PUT" && (ifMatch !== undefined || ifNoneMatch !== undefined)) {
        if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== "*") {
          await drain(ctx.req);
          throw new S3Error("NotImplemented", "If-None-Match on PUT only supports '*'", { Header: "If-None-Match" });
        }
        const store = ctx.app.store;
        const exists = await store.existsObject(bucket, key);
        if (ifNoneMatch !== undefined && exists) {
          await drain(ctx.req);
          throw new S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", { Condition: "If-None-Match" });
        }
        if (ifMatch !== undefined) {
          if (!exists) {
            await drain(ctx.req);
            throw new S3Error("NoSuchKey", "The specified key does not exist.", { Key: key });
          }
          const { etag } = await store.getMetadata(bucket, key);
          if (ifMatch.trim() !== "*" && !sameEtag(ifMatch, etag)) {
            await drain(ctx.req);
            throw new S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", { Condition: "If-Match" });
          }
        }
      }
      await next();
    });
  };
}
