/**
 * S3 Express session auth against a local HTTP server speaking the CreateSession wire format,
 * through the real AWS SDK (S3Client + CreateSessionCommand), with an injected clock and
 * scheduler: proves caching, background refresh before expiry, single-flight, keep-using-on-
 * failure with backoff; then that S3Store in express mode signs with the session (service
 * "s3express", x-amz-s3session-token), checked by re-signing on the server with the SDK's signer.
 */
import { createServer, Agent, type IncomingMessage, type ServerResponse, type Server } from "node:http";
import type { AddressInfo, LookupFunction } from "node:net";
import { S3Client } from "@aws-sdk/client-s3";
import { ExpressSessionCache, createSessionWithSdk, type Scheduler } from "../../../runtime/store/express-session";
import { S3Store } from "../../../runtime/store/s3-store";
import { StoreError } from "../../../runtime/store/types";
import { referenceAuthorization } from "./sigv4-reference";

const REGION = "ap-south-1";
const BUCKET = "lane--aps1-az1--x-s3";
const OTHER_BUCKET = "other--aps1-az1--x-s3";
const SESSION_LIFETIME_MS = 300_000;

/** Manual clock + timers: time only moves when the test says so. */
class ManualClock implements Scheduler {
  nowMs = Date.parse("2025-06-01T00:00:00Z");
  private timers: Array<{ due: number; callback: () => void; id: number }> = [];
  private nextId = 1;
  now = (): number => this.nowMs;
  setTimeout(callback: () => void, delayMs: number): unknown {
    const id = this.nextId++;
    this.timers.push({ due: this.nowMs + delayMs, callback, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const target = this.nowMs + ms;
    for (;;) {
      this.timers.sort((a, b) => a.due - b.due);
      const next = this.timers[0];
      if (!next || next.due > target) break;
      this.timers.shift();
      this.nowMs = next.due;
      next.callback();
    }
    this.nowMs = target;
  }
  get pendingTimers(): number {
    return this.timers.length;
  }
}

async function until(condition: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The zonal endpoint stand-in: CreateSession (GET /?session on the bucket host) and GetObject. */
class FakeZonalEndpoint {
  server!: Server;
  port = 0;
  clock: ManualClock;
  createSessionRequests: Array<{ host: string; url: string; authorization: string }> = [];
  failCreateSession = 0; // how many upcoming CreateSession calls answer 500
  createSessionDelayMs = 0;
  issued = new Map<string, { accessKeyId: string; secretAccessKey: string; bucket: string }>();
  objectRequests: Array<{ token: string | undefined; authorization: string; expected: string; url: string; host: string }> = [];

  constructor(clock: ManualClock) {
    this.clock = clock;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = String(req.headers.host);
    const url = req.url ?? "";
    if (url.startsWith("/?session")) {
      this.createSessionRequests.push({ host, url, authorization: String(req.headers.authorization) });
      if (this.createSessionDelayMs) await new Promise((r) => setTimeout(r, this.createSessionDelayMs));
      if (this.failCreateSession > 0) {
        this.failCreateSession--;
        res.writeHead(500, { "content-type": "application/xml" });
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>`);
        return;
      }
      const n = this.createSessionRequests.length;
      const bucket = host.split(".")[0]!;
      const session = { accessKeyId: `ASIASESSION${n}`, secretAccessKey: `session/secret+${n}`, token: `token-${bucket}-${n}` };
      this.issued.set(session.token, { accessKeyId: session.accessKeyId, secretAccessKey: session.secretAccessKey, bucket });
      const expiration = new Date(this.clock.now() + SESSION_LIFETIME_MS).toISOString();
      res.writeHead(200, { "content-type": "application/xml" });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?>\n<CreateSessionResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Credentials>` +
          `<SessionToken>${session.token}</SessionToken><SecretAccessKey>${session.secretAccessKey}</SecretAccessKey>` +
          `<AccessKeyId>${session.accessKeyId}</AccessKeyId><Expiration>${expiration}</Expiration></Credentials></CreateSessionResult>`,
      );
      return;
    }
    // GetObject: recompute the signature with the SDK signer and the credentials we issued.
    const token = req.headers["x-amz-s3session-token"] as string | undefined;
    const issued = token === undefined ? undefined : this.issued.get(token);
    const authorization = String(req.headers.authorization);
    const expected = issued ? await referenceAuthorization({ method: req.method!, url, headers: req.headers, region: REGION, service: "s3express", ...issued }) : "(unknown token)";
    this.objectRequests.push({ token, authorization, expected, url, host });
    if (authorization !== expected || req.headers["x-amz-security-token"] !== undefined) {
      res.writeHead(403, { "content-type": "application/xml" });
      res.end(`<Error><Code>SignatureDoesNotMatch</Code></Error>`);
      return;
    }
    res.writeHead(200, { "content-type": "application/octet-stream", etag: '"random-etag"' });
    res.end(Buffer.from(`body of ${url}`));
  }
}

/** Resolves every host name to 127.0.0.1 so the SDK's virtual-hosted `{bucket}.localhost` works. */
const loopbackLookup: LookupFunction = (_hostname, options, callback) => {
  if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address: "127.0.0.1", family: 4 }]);
  else callback(null, "127.0.0.1", 4);
};

describe("ExpressSessionCache over the CreateSession wire format", () => {
  let clock: ManualClock;
  let endpoint: FakeZonalEndpoint;
  let sdk: S3Client;
  let cache: ExpressSessionCache;
  const refreshErrors: string[] = [];

  beforeEach(async () => {
    clock = new ManualClock();
    endpoint = new FakeZonalEndpoint(clock);
    await endpoint.start();
    sdk = new S3Client({
      region: REGION,
      endpoint: `http://localhost:${endpoint.port}`,
      credentials: { accessKeyId: "AKIAIAMUSER", secretAccessKey: "iam-secret" },
      maxAttempts: 1, // our cache does the retrying
      requestHandler: { httpAgent: new Agent({ keepAlive: true, lookup: loopbackLookup }) },
    });
    refreshErrors.length = 0;
    cache = new ExpressSessionCache({
      createSession: createSessionWithSdk(sdk),
      now: clock.now,
      scheduler: clock,
      refreshBeforeExpiryMs: 90_000,
      retryInitialMs: 1_000,
      retryMaxMs: 8_000,
      onRefreshError: (bucket) => refreshErrors.push(bucket),
    });
  });

  afterEach(async () => {
    cache.close();
    sdk.destroy();
    await endpoint.stop();
  });

  it("first use creates a session on the bucket host; concurrent first uses share one CreateSession", async () => {
    endpoint.createSessionDelayMs = 30;
    expect(cache.current(BUCKET)).toBeUndefined();
    const sessions = await Promise.all(Array.from({ length: 20 }, () => cache.resolve(BUCKET)));
    expect(endpoint.createSessionRequests).toHaveLength(1);
    expect(cache.createSessionCalls).toBe(1);
    expect(new Set(sessions.map((s) => s.sessionToken))).toEqual(new Set([`token-${BUCKET}-1`]));
    const request = endpoint.createSessionRequests[0]!;
    expect(request.host).toBe(`${BUCKET}.localhost:${endpoint.port}`);
    expect(request.url).toMatch(/^\/\?session/);
    expect(request.authorization).toContain("/ap-south-1/s3express/aws4_request"); // the SDK signs CreateSession itself
    // cached: synchronous, no further calls
    expect(cache.current(BUCKET)?.sessionToken).toBe(`token-${BUCKET}-1`);
    expect(sessions[0]!.expiration.getTime()).toBe(clock.now() + SESSION_LIFETIME_MS);
    await cache.resolve(BUCKET);
    expect(endpoint.createSessionRequests).toHaveLength(1);
  });

  it("sessions are per bucket", async () => {
    const [a, b] = await Promise.all([cache.resolve(BUCKET), cache.resolve(OTHER_BUCKET)]);
    expect(a.sessionToken).toBe(`token-${BUCKET}-${a.sessionToken.endsWith("1") ? 1 : 2}`);
    expect(b.sessionToken.startsWith(`token-${OTHER_BUCKET}-`)).toBe(true);
    expect(endpoint.createSessionRequests.map((r) => r.host.split(".")[0]).sort()).toEqual([BUCKET, OTHER_BUCKET].sort());
  });

  it("refreshes in the background 90 s before expiry, even when idle: no request ever waits again", async () => {
    await cache.warm(BUCKET);
    clock.advance(SESSION_LIFETIME_MS - 90_000 - 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(endpoint.createSessionRequests).toHaveLength(1); // not yet
    clock.advance(1); // the refresh point
    await until(() => cache.current(BUCKET)?.sessionToken === `token-${BUCKET}-2`, "refreshed session");
    expect(endpoint.createSessionRequests).toHaveLength(2);
    // Idle for an hour: the timer keeps renewing every (lifetime − 90 s); the session never lapses.
    for (let i = 3; i <= 14; i++) {
      clock.advance(SESSION_LIFETIME_MS - 90_000);
      await until(() => cache.current(BUCKET)?.sessionToken === `token-${BUCKET}-${i}`, `session ${i}`);
    }
    expect(endpoint.createSessionRequests).toHaveLength(14);
  });

  it("a failed refresh keeps the valid session in use and retries with exponential backoff", async () => {
    await cache.warm(BUCKET);
    endpoint.failCreateSession = 3;
    clock.advance(SESSION_LIFETIME_MS - 90_000); // refresh #1 → fails
    await until(() => endpoint.createSessionRequests.length === 2 && refreshErrors.length === 1, "first failed refresh");
    expect(cache.current(BUCKET)?.sessionToken).toBe(`token-${BUCKET}-1`); // still serving the old one
    clock.advance(999);
    await new Promise((r) => setTimeout(r, 20));
    expect(endpoint.createSessionRequests).toHaveLength(2); // backoff 1 s not elapsed
    clock.advance(1); // retry #1 after 1 s → fails
    await until(() => refreshErrors.length === 2, "second failure");
    clock.advance(1_999);
    await new Promise((r) => setTimeout(r, 20));
    expect(endpoint.createSessionRequests).toHaveLength(3); // backoff now 2 s
    clock.advance(1); // retry #2 → fails
    await until(() => refreshErrors.length === 3, "third failure");
    expect(cache.current(BUCKET)?.sessionToken).toBe(`token-${BUCKET}-1`);
    clock.advance(4_000); // retry #3 after 4 s → succeeds
    await until(() => cache.current(BUCKET)?.sessionToken === `token-${BUCKET}-5`, "recovered session");
    expect(refreshErrors).toEqual([BUCKET, BUCKET, BUCKET]);
  });

  it("if refreshes fail until expiry, requests get StoreError unavailable instead of an expired session", async () => {
    await cache.warm(BUCKET);
    endpoint.failCreateSession = 1_000;
    clock.advance(SESSION_LIFETIME_MS - 90_000);
    await until(() => refreshErrors.length >= 1, "failure");
    // walk to just before the 5 s expiry margin, letting backoff retries run
    while (clock.now() < Date.parse("2025-06-01T00:00:00Z") + SESSION_LIFETIME_MS - 6_000) {
      clock.advance(1_000);
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(cache.current(BUCKET)?.sessionToken).toBe(`token-${BUCKET}-1`);
    clock.advance(1_001);
    expect(cache.current(BUCKET)).toBeUndefined();
    await until(() => !(cache as unknown as { buckets: Map<string, { inflight?: unknown }> }).buckets.get(BUCKET)?.inflight, "inflight settled");
    const failure = await cache.resolve(BUCKET).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(StoreError);
    expect((failure as StoreError).code).toBe("unavailable");
    // backoff is capped at retryMaxMs (8 s): never more than 8 s between attempts
    const before = endpoint.createSessionRequests.length;
    clock.advance(8_000);
    await until(() => endpoint.createSessionRequests.length > before, "capped retry");
  });

  it("backstop: if the refresh timer is overdue (stalled loop), current() serves the valid session and refreshes behind it", async () => {
    await cache.warm(BUCKET);
    clock.nowMs += SESSION_LIFETIME_MS - 60_000; // jump without firing timers
    expect(cache.current(BUCKET)?.sessionToken).toBe(`token-${BUCKET}-1`);
    await until(() => cache.current(BUCKET)?.sessionToken === `token-${BUCKET}-2`, "backstop refresh");
    expect(endpoint.createSessionRequests).toHaveLength(2);
  });

  it("close() stops the background refresh timers", async () => {
    await cache.warm(BUCKET);
    expect(clock.pendingTimers).toBe(1);
    cache.close();
    expect(clock.pendingTimers).toBe(0);
  });
});

describe("S3Store in express mode", () => {
  let clock: ManualClock;
  let endpoint: FakeZonalEndpoint;
  let sdk: S3Client;
  let cache: ExpressSessionCache;
  let store: S3Store;

  beforeAll(async () => {
    clock = new ManualClock();
    endpoint = new FakeZonalEndpoint(clock);
    await endpoint.start();
    sdk = new S3Client({
      region: REGION,
      endpoint: `http://localhost:${endpoint.port}`,
      credentials: { accessKeyId: "AKIAIAMUSER", secretAccessKey: "iam-secret" },
      requestHandler: { httpAgent: new Agent({ keepAlive: true, lookup: loopbackLookup }) },
    });
    cache = new ExpressSessionCache({ createSession: createSessionWithSdk(sdk), now: clock.now, scheduler: clock });
    // Endpoint override: connect to the local server; the key is the whole path (virtual-hosted).
    store = new S3Store({ bucket: BUCKET, region: REGION, endpoint: `http://127.0.0.1:${endpoint.port}`, expressSessions: cache });
  });

  afterAll(async () => {
    await store.close();
    cache.close();
    sdk.destroy();
    await endpoint.stop();
  });

  it("GET carries x-amz-s3session-token and an s3express signature made with the session creds", async () => {
    const result = await store.get("views/user/ü 42+x.mp");
    expect(result).toMatchObject({ found: true, etag: '"random-etag"' });
    const request = endpoint.objectRequests.at(-1)!;
    expect(request.token).toBe(`token-${BUCKET}-1`);
    expect(request.url).toBe("/views/user/%C3%BC%2042%2Bx.mp"); // virtual-hosted: no bucket in the path
    expect(request.authorization).toBe(request.expected);
    expect(request.authorization).toContain("Credential=ASIASESSION1/");
    expect(request.authorization).toContain("/ap-south-1/s3express/aws4_request");
    expect(request.authorization).toContain("x-amz-s3session-token");
  });

  it("after a background refresh the next GET uses the new session without waiting for CreateSession", async () => {
    clock.advance(SESSION_LIFETIME_MS - 90_000);
    await until(() => cache.current(BUCKET)?.sessionToken === `token-${BUCKET}-2`, "refresh");
    const callsBefore = cache.createSessionCalls;
    await store.get("k");
    expect(cache.createSessionCalls).toBe(callsBefore);
    const request = endpoint.objectRequests.at(-1)!;
    expect(request.token).toBe(`token-${BUCKET}-2`);
    expect(request.authorization).toBe(request.expected);
    expect(request.authorization).toContain("Credential=ASIASESSION2/");
  });

  it("the fake endpoint really rejects a wrong signature (so the checks above can fail)", async () => {
    const wrong = new S3Store({
      bucket: BUCKET,
      region: "eu-west-1", // signed for the wrong region
      endpoint: `http://127.0.0.1:${endpoint.port}`,
      expressSessions: cache,
    });
    await expect(wrong.get("k")).rejects.toMatchObject({ code: "denied" });
    await wrong.close();
  });
});
