/**
 * Access control on a running runtime: hashed keys from a file, roles, 401/403/429 in the JSON
 * shape, open health, SIGHUP reload under load without a dropped request, request ids and logs that
 * never contain a key or a feature value, and mutual TLS.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, renameSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createHash, webcrypto } from "node:crypto";
import { Pool } from "undici";
import { buildBundles } from "../../dev/build";
import { LANE_BUNDLES, startLane, Lane } from "../../dev/lane/processes";
import { signedPush } from "../helpers/writer";
import { RuntimeChild, spawnRuntime } from "../../dev/lane/children";
import { DEMO_VIEW, demoEntityId, demoObject } from "../../dev/lane/demo-data";
import { generateKey } from "../../runtime/auth";
import type { Ed25519Jwk } from "../../wire/keys";
import { errorShape, request, sleep, verifies } from "./helpers/hardening";

x509.cryptoProvider.set(webcrypto as never);
type KeyPair = webcrypto.CryptoKeyPair;

let lane: Lane;
let dir: string;
let runtime: RuntimeChild;
let keysFile: string;
const reader = generateKey("svc-reader", "reader");
const writer = generateKey("svc-writer", "writer");
const admin = generateKey("ops-admin", "admin");
const limited = generateKey("svc-limited", "reader", { rps: 2, burst: 3 });

function writeKeys(records: unknown[]): void {
  writeFileSync(`${keysFile}.tmp`, JSON.stringify(records));
  renameSync(`${keysFile}.tmp`, keysFile);
}

beforeAll(async () => {
  await buildBundles(LANE_BUNDLES);
  dir = mkdtempSync(join(tmpdir(), "lane-auth-"));
  keysFile = join(dir, "keys.json");
  writeKeys([reader.record, writer.record, admin.record, limited.record]);
  lane = await startLane({ dataDir: dir, port: 0, demoEntities: 10, quiet: true });
  runtime = await spawnRuntime(lane, { signerSocket: lane.signerSocket, env: { EXPRESS_LANE_API_KEYS: keysFile, EXPRESS_LANE_LOG_LEVEL: "info", EXPRESS_LANE_ACCESS_LOG: "on" } });
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
  await lane?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const read = `/v1/features/${DEMO_VIEW}/${demoEntityId(3)}?features=country,last_item_0,embedding_0`;

async function call(path: string, headers: Record<string, string> = {}, method = "GET", body?: string) {
  const pool = new Pool(runtime.url);
  const a = await request(pool, method, path, headers, body);
  await pool.close();
  return a;
}

describe("access control", () => {
  it("keeps health open and everything else behind a key (401 in the JSON shape)", async () => {
    expect((await call("/health/live")).status).toBe(200);
    // Readiness is open; it may dip while the shared signer is busy (store ping, checkpoints): wait
    // for it as a load balancer would, and say which check held it back if it never comes.
    let ready = await call("/health/ready");
    for (const until = Date.now() + 15_000; ready.status !== 200 && Date.now() < until; ready = await call("/health/ready")) await new Promise((r) => setTimeout(r, 50));
    expect([ready.status, ready.body.toString()]).toEqual([200, expect.any(String)]);
    for (const path of [read, "/v1/signer", "/v1/attestation", "/metrics", "/nowhere"]) {
      const a = await call(path);
      expect([path, a.status, errorShape(a).code]).toEqual([path, 401, "unauthenticated"]);
      expect(a.headers["www-authenticate"]).toMatch(/^Bearer/);
    }
    const wrong = await call(read, { authorization: `Bearer ${reader.key}x` });
    expect([wrong.status, errorShape(wrong).code]).toEqual([401, "unauthenticated"]);
    expect((await call(read, { authorization: `Basic ${Buffer.from(`u:${reader.key}`).toString("base64")}` })).status).toBe(401);
  });

  it("lets a reader read (signed), but not scrape metrics or write (403)", async () => {
    let ok = await call(read, { authorization: `Bearer ${reader.key}` });
    // 503 checkpoint_pending / signer_unavailable are retryable: retry as a client would.
    for (const until = Date.now() + 15_000; ok.status === 503 && Date.now() < until; ok = await call(read, { authorization: `Bearer ${reader.key}` }))
      await new Promise((r) => setTimeout(r, 50));
    expect([ok.status, ok.status === 200 ? "" : ok.body.toString()]).toEqual([200, ""]);
    const jwk = JSON.parse((await call("/v1/signer", { "x-api-key": reader.key })).body.toString()).jwk as Ed25519Jwk;
    expect(verifies(ok, "GET", read, jwk)).toBeNull();
    const batch = await call(
      `/v1/features/${DEMO_VIEW}/batch`,
      { "x-api-key": reader.key, "content-type": "application/json" },
      "POST",
      JSON.stringify({ entities: [demoEntityId(1)] }),
    );
    expect(batch.status).toBe(200);
    for (const [path, method] of [
      ["/metrics", "GET"],
      [`/v1/features/${DEMO_VIEW}`, "POST"],
      [`/v1/features/${DEMO_VIEW}/_push`, "POST"],
    ]) {
      const a = await call(path, { "x-api-key": reader.key, "content-type": "application/json" }, method, method === "POST" ? "{}" : undefined);
      expect([path, a.status, errorShape(a).code]).toEqual([path, 403, "forbidden"]);
    }
  });

  it("lets a writer past the gate on write routes (the push still needs the writer key's signature), and only an admin scrape /metrics", async () => {
    const o = demoObject(7, Date.now());
    const row = { entity: "auth-push-1", event_time: o.event_time - 1000, features: { country: o.features.country, txn_count_0d: 3 } };
    const w = await signedPush(runtime.url, DEMO_VIEW, row, lane.writerKeyFile, { headers: { "x-api-key": writer.key } });
    expect([w.status, w.json.result, w.json.written_by]).toEqual([201, "written", "loader"]);
    // The API key gets a push past the host's gate, but only the writer signature gets it sealed.
    const unsigned = await call(`/v1/features/${DEMO_VIEW}`, { "x-api-key": writer.key, "content-type": "application/json" }, "POST", JSON.stringify(row));
    expect([unsigned.status, errorShape(unsigned).code]).toEqual([401, "writer_signature_missing"]);
    // A signed push without an API key stops at the gate.
    expect((await signedPush(runtime.url, DEMO_VIEW, row, lane.writerKeyFile)).status).toBe(401);
    expect((await call("/metrics", { "x-api-key": writer.key })).status).toBe(403);
    const m = await call("/metrics", { authorization: `Bearer ${admin.key}` });
    expect(m.status).toBe(200);
    expect(m.body.toString()).toMatch(/lane_gate_refused_total\{code="forbidden"\} \d+/);
  });

  it("rate-limits per key: 429 rate_limited with Retry-After, other keys unaffected", async () => {
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await call(read, { "x-api-key": limited.key }));
    const limitedOnes = answers.filter((a) => a.status === 429);
    expect(answers.slice(0, 3).every((a) => a.status === 200)).toBe(true);
    expect(limitedOnes.length).toBeGreaterThan(0);
    for (const a of limitedOnes) {
      expect(errorShape(a).code).toBe("rate_limited");
      expect(Number(a.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    }
    expect((await call(read, { "x-api-key": reader.key })).status).toBe(200);
  });

  it("reloads keys on SIGHUP under load without dropping a request", async () => {
    const fresh = generateKey("svc-new", "reader");
    const pool = new Pool(runtime.url, { connections: 8 });
    let stop = false;
    const statuses: Record<number, number> = {};
    const load = Promise.all(
      Array.from({ length: 8 }, async () => {
        while (!stop) {
          const a = await request(pool, "GET", read, { "x-api-key": admin.key });
          statuses[a.status] = (statuses[a.status] ?? 0) + 1;
        }
      }),
    );
    await sleep(300);
    writeKeys([admin.record, writer.record, fresh.record]); // reader revoked, svc-new added
    const reloadsBefore = runtime.lines.filter((l) => l.includes('"keys_reloaded"')).length;
    runtime.signal("SIGHUP");
    for (let i = 0; i < 100 && runtime.lines.filter((l) => l.includes('"keys_reloaded"')).length === reloadsBefore; i++) await sleep(20);
    await sleep(300);
    stop = true;
    await load;
    await pool.close();
    expect(Object.keys(statuses)).toEqual(["200"]);
    expect(statuses[200]).toBeGreaterThan(50);
    expect((await call(read, { "x-api-key": reader.key })).status).toBe(401);
    expect((await call(read, { "x-api-key": fresh.key })).status).toBe(200);
    // A broken document keeps the previous keys.
    writeFileSync(keysFile, "[{broken");
    runtime.signal("SIGHUP");
    await sleep(300);
    expect((await call(read, { "x-api-key": fresh.key })).status).toBe(200);
    expect(runtime.alive()).toBe(true);
    writeKeys([reader.record, writer.record, admin.record, limited.record]);
    runtime.signal("SIGHUP");
    await sleep(200);
  });

  it("returns and logs a request id, and never logs a key or a feature value", async () => {
    const mine = await call(read, { "x-api-key": admin.key, "x-request-id": "trace-abc-123" });
    expect(mine.headers["x-request-id"]).toBe("trace-abc-123");
    const generated = await call(read, { "x-api-key": admin.key, "x-request-id": "bad id with spaces" });
    expect(generated.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    const refused = await call(read, { "x-api-key": "elk_not-a-real-key-0123456789" });
    expect(refused.headers["x-request-id"]).toBeDefined();
    await sleep(300);
    const log = runtime.lines.join("\n");
    const entries = runtime.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
    const access = entries.filter((e) => e.msg === "request");
    expect(access.find((e) => e.requestId === "trace-abc-123")).toMatchObject({ route: "features", status: 200, keyId: "ops-admin" });
    expect(access.find((e) => e.requestId === generated.headers["x-request-id"])).toBeDefined();
    expect(access.find((e) => e.requestId === refused.headers["x-request-id"])).toMatchObject({ status: 401, code: "unauthenticated" });
    for (const k of [reader, writer, admin, limited]) {
      expect(log).not.toContain(k.key);
      expect(log).not.toContain(k.key.slice(4, 24));
    }
    expect(log).not.toContain("elk_not-a-real-key");
    const values = demoObject(3, Date.now()).features;
    for (const name of ["last_item_0", "last_item_1"]) expect(log).not.toContain(String(values[name]));
    expect(log).not.toContain(String((values.embedding_0 as number[])[0]));
  });
});

describe("mutual TLS on the reader port", () => {
  let tlsRuntime: RuntimeChild;
  let clientCert: string;
  let clientKey: string;
  let caPem: string;

  beforeAll(async () => {
    const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
    const now = new Date(Date.now() - 60_000);
    const later = new Date(Date.now() + 3_600_000);
    const caKeys = await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"]);
    const ca = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "01",
      name: "CN=lane test CA",
      notBefore: now,
      notAfter: later,
      keys: caKeys as never,
      signingAlgorithm: alg,
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
    });
    const leaf = async (cn: string, server: boolean) => {
      const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as KeyPair;
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: server ? "02" : "03",
        subject: `CN=${cn}`,
        issuer: ca.subject,
        notBefore: now,
        notAfter: later,
        signingKey: (caKeys as KeyPair).privateKey as never,
        publicKey: keys.publicKey as never,
        signingAlgorithm: alg,
        extensions: [
          new x509.ExtendedKeyUsageExtension([server ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
          ...(server ? [new x509.SubjectAlternativeNameExtension([{ type: "ip", value: "127.0.0.1" }])] : []),
        ],
      });
      const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)).toString("base64");
      return { cert: cert.toString("pem"), key: `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join("\n")}\n-----END PRIVATE KEY-----\n` };
    };
    const server = await leaf("127.0.0.1", true);
    const client = await leaf("svc-client", false);
    caPem = ca.toString("pem");
    clientCert = client.cert;
    clientKey = client.key;
    for (const [name, text] of [
      ["ca.pem", caPem],
      ["server.pem", server.cert],
      ["server.key", server.key],
    ])
      writeFileSync(join(dir, name), text);
    tlsRuntime = await spawnRuntime(lane, {
      signerSocket: lane.signerSocket,
      env: { EXPRESS_LANE_TLS_CERT: join(dir, "server.pem"), EXPRESS_LANE_TLS_KEY: join(dir, "server.key"), EXPRESS_LANE_TLS_CLIENT_CA: join(dir, "ca.pem") },
    });
  });
  afterAll(async () => tlsRuntime?.stop());

  const get = (path: string, withCert: boolean) =>
    new Promise<number | string>((resolve) => {
      const req = httpsRequest(`${tlsRuntime.url}${path}`, { ca: caPem, ...(withCert ? { cert: clientCert, key: clientKey } : {}), agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode!));
      });
      req.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      req.end();
    });

  it("serves clients with a certificate from the CA and refuses the handshake without one", async () => {
    // A third runtime on the lane's signer gets no provision connection (2 per role): its reads wait
    // for checkpoints (503 checkpoint_pending) for at most PENDING_MAX_MS, then go on unproven.
    for (let t = Date.now(); (await get(read, true)) === 503 && Date.now() - t < 15_000;) await new Promise((r) => setTimeout(r, 50));
    expect(await get(read, true)).toBe(200);
    expect(await get("/health/live", true)).toBe(200);
    const refused = await get("/health/live", false);
    expect(typeof refused).toBe("string"); // a TLS alert / reset, no HTTP at all
  });
});

it("npm run keys creates a key shown once and stores only its hash", () => {
  const file = join(dir, "cli-keys.json");
  const out = execFileSync(process.execPath, ["--import", "tsx", "scripts/keys.ts", "create", "--id", "cli-made", "--role", "writer", "--rps", "10", "--file", file], {
    cwd: join(__dirname, "../.."),
    stdio: ["ignore", "pipe", "pipe"],
  })
    .toString()
    .trim();
  expect(out).toMatch(/^elk_/);
  const stored = readFileSync(file, "utf8");
  expect(stored).not.toContain(out);
  expect(JSON.parse(stored)).toEqual([{ id: "cli-made", sha256: createHash("sha256").update(out).digest("hex"), role: "writer", rateLimit: { rps: 10 } }]);
});
