import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registerVerifyCommand } from "../../cli/verify";
import { programWith, runProgram, type CliRun } from "../helpers/cli";
import { SigningKey } from "../../enclave/key";
import { contentDigest } from "../../wire/envelope";
import { localSetup } from "../enclave/nsm/fixtures";
import { signAnswer } from "../verifier/answers";

const ROOT = join(__dirname, "../..");

/** Runs `express-lane verify …` in-process; returns exit code and output. */
function verify(...args: string[]): Promise<CliRun> {
  return runProgram(programWith(registerVerifyCommand), ["verify", ...args]);
}

/**
 * A stand-in lane. `enclave` is the key the (local) NSM attests; `signer` signs the answers; `offered`
 * is what /v1/signer hands out. A compromised host makes signer = offered = a key of its own.
 */
const enclave = SigningKey.generate();
const impostor = SigningKey.generate();
const state = { signer: enclave, offered: enclave, swapBatch: false };
const seen: Array<{ method: string; path: string; headers: IncomingMessage["headers"]; body: Buffer }> = [];

describe("express-lane verify", () => {
  const lane = localSetup();
  let server: Server;
  let base: string;

  beforeAll(async () => {
    await lane.nsm.attest({});
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        const url = new URL(req.url!, "http://x");
        seen.push({ method: req.method!, path: url.pathname, headers: req.headers, body });
        const json = (status: number, value: unknown) => {
          res.writeHead(status, { "content-type": "application/json" });
          res.end(JSON.stringify(value));
        };
        if (url.pathname === "/v1/signer") return json(200, state.offered.info);
        if (url.pathname === "/v1/attestation") {
          void lane.nsm
            .attest({ publicKey: enclave.publicKeyRaw, nonce: Buffer.from(url.searchParams.get("nonce") ?? "", "utf8") })
            .then((doc) => json(200, { document: doc.toString("base64"), keyid: enclave.keyid }));
          return;
        }
        if (url.pathname === "/v1/features/users/down") return json(503, { error: { code: "signer_unavailable", message: "signer is restarting\u001b[2J" } });
        const nonce = /nonce="([^"]+)"/.exec(String(req.headers["accept-signature"] ?? ""))?.[1];
        const request = { method: req.method!, path: url.pathname, query: url.search, body: req.method === "POST" ? body : undefined };
        // A host that swaps the batch has the signer answer another body under the same path.
        const signedRequestBody = state.swapBatch ? Buffer.from(JSON.stringify({ entities: ["u2", "u1"] })) : undefined;
        const format = req.headers.accept === "application/msgpack" && url.pathname !== "/v1/features/users/json-only" ? "msgpack" : "json";
        // P8: /v1/features/users/fresh-<age s>|unproven answer a found entity with that fresh_as_of.
        const freshness = /^\/v1\/features\/users\/(fresh-(\d+)|unproven)$/.exec(url.pathname);
        const readBody = freshness
          ? {
              view: "users",
              max_staleness: 60,
              entity: url.pathname.split("/").pop(),
              found: true,
              fresh_as_of: freshness[2] ? new Date(Date.now() - Number(freshness[2]) * 1000).toISOString() : null,
            }
          : undefined;
        const answer = signAnswer({
          key: state.signer,
          request,
          body: readBody ?? { view: "users", results: [], at: new Date(1_800_000_000_000) },
          created: Math.floor(Date.now() / 1000),
          nonce,
          signedRequestBody,
          format,
        });
        res.writeHead(answer.status, answer.headers as Record<string, string>);
        res.end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  afterEach(() => {
    Object.assign(state, { signer: enclave, offered: enclave, swapBatch: false });
    seen.length = 0;
  });

  const read = () => `${base}/v1/features/users/u1?features=a`;
  const jwkFile = (key: SigningKey, name: string) => {
    const file = join(lane.dir, name);
    writeFileSync(file, JSON.stringify(key.info.jwk));
    return file;
  };
  const attestArgs = () => ["--attest", "--root", "local", "--dev-ca", lane.devCaDir, "--local-bundle", lane.bundlePath];

  test("refuses to report anything without a trust anchor, before it fetches", async () => {
    await expect(verify(read())).rejects.toThrow(/no trust anchor.*--key.*--attest.*--trust-on-first-use/);
    expect(seen).toHaveLength(0);
  });

  test("refuses two trust anchors at once", async () => {
    await expect(verify(read(), "--key", enclave.keyid, "--trust-on-first-use")).rejects.toThrow(/choose one trust anchor/);
  });

  test("--key <jwk file>: OK with the pinned key; FAIL when the lane signs with another", async () => {
    const ok = await verify(read(), "--key", jwkFile(enclave, "enclave.jwk"));
    expect(ok).toMatchObject({ code: 0, err: "" });
    expect(ok.out).toMatch(new RegExp(`^OK status=200 label=sig1 keyid=${enclave.keyid} .* nonce=`));
    expect(ok.out).toContain("pinned JWK");
    state.signer = state.offered = impostor;
    const bad = await verify(read(), "--key", jwkFile(enclave, "enclave.jwk"));
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^FAIL wrong_keyid: signed by /);
  });

  test("--key <keyid>: the lane may hand over the key, not choose it", async () => {
    expect((await verify(read(), "--key", enclave.keyid)).code).toBe(0);
    state.signer = state.offered = impostor; // a compromised host serves its own key on /v1/signer
    const bad = await verify(read(), "--key", enclave.keyid);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(new RegExp(`^FAIL wrong_keyid: the lane's signer key is ${impostor.keyid}, pinned: ${enclave.keyid}`));
    // A key set: either pinned key is fine. The old --keyid spelling still works.
    expect((await verify(read(), "--key", enclave.keyid, "--key", impostor.keyid)).code).toBe(0);
    expect((await verify(read(), "--keyid", impostor.keyid)).code).toBe(0);
    await expect(verify(read(), "--key", "not-a-keyid")).rejects.toThrow(/neither a JWK file nor a keyid/);
  });

  test("--attest: verifies a fresh document, then the answer with the key inside it", async () => {
    const ok = await verify(read(), ...attestArgs());
    expect(ok.err).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.out).toContain(`key from attested key ${enclave.keyid}`);
    expect(seen.find((r) => r.path === "/v1/attestation")).toBeDefined();
    // The host signs with a key of its own and offers it on /v1/signer: the attested key wins.
    state.signer = state.offered = impostor;
    const bad = await verify(read(), ...attestArgs());
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^FAIL wrong_keyid/);
    // Another image's measurements: refused before any answer is believed.
    const v2 = join(lane.dir, "signer-v2.js");
    writeFileSync(v2, "console.log('v2')\n");
    const otherImage = await verify(read(), "--attest", "--root", "local", "--dev-ca", lane.devCaDir, "--local-bundle", v2);
    expect(otherImage.code).toBe(1);
    expect(otherImage.err).toMatch(/^FAIL attestation PCR_MISMATCH/);
  });

  test("--attest without a measurement allowlist, or with one that does not pin PCR0..2, is refused", async () => {
    await expect(verify(read(), "--attest", "--root", "local", "--dev-ca", lane.devCaDir)).rejects.toThrow(/--measurements <file> or --local-bundle/);
    const pcr4Only = join(lane.dir, "pcr4-only.json");
    writeFileSync(pcr4Only, JSON.stringify({ Measurements: { HashAlgorithm: "Sha384 { ... }", PCR4: "00".repeat(48) } }));
    await expect(verify(read(), "--attest", "--root", "local", "--dev-ca", lane.devCaDir, "--measurements", pcr4Only)).rejects.toThrow(/does not pin PCR0, PCR1, PCR2/);
    expect(seen.filter((r) => r.path === "/v1/attestation")).toHaveLength(0);
  });

  test("--trust-on-first-use: OK, and says loudly that nothing was pinned (it accepts an impostor too)", async () => {
    state.signer = state.offered = impostor;
    const result = await verify(read(), "--trust-on-first-use");
    expect(result.code).toBe(0);
    expect(result.err).toMatch(/^WARNING --trust-on-first-use: nothing was pinned/);
    expect(result.out).toContain("UNPINNED: trust on first use");
  });

  test("a batch read: sends the body with its Content-Digest; the answer must be bound to it", async () => {
    const data = JSON.stringify({ entities: ["u1", "u2"] });
    const ok = await verify(`${base}/v1/features/users/batch`, "--data", data, "--key", enclave.keyid);
    expect(ok.err).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.out).toContain("request-body=bound");
    const sent = seen.find((r) => r.method === "POST")!;
    expect(sent.body.toString()).toBe(data);
    expect(sent.headers["content-digest"]).toBe(contentDigest(Buffer.from(data)));
    expect(sent.headers["content-type"]).toBe("application/json");

    state.swapBatch = true;
    const swapped = await verify(`${base}/v1/features/users/batch`, "--data", data, "--key", enclave.keyid);
    expect(swapped.code).toBe(1);
    expect(swapped.err).toMatch(/^FAIL bad_signature/);

    const file = join(lane.dir, "batch.json");
    writeFileSync(file, data);
    state.swapBatch = false;
    expect((await verify(`${base}/v1/features/users/batch`, "--data-file", file, "-X", "POST", "--key", enclave.keyid)).code).toBe(0);
  });

  test("a POST without its body is refused (the answer cannot be checked)", async () => {
    await expect(verify(`${base}/v1/features/users/batch`, "-X", "POST", "--key", enclave.keyid)).rejects.toThrow(/--data <json> or --data-file/);
  });

  test("an unsigned error answer: FAIL with its status and (escaped) body", async () => {
    const result = await verify(`${base}/v1/features/users/down`, "--key", enclave.keyid);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/^FAIL missing_header/);
    expect(result.err).toContain("HTTP 503 (unsigned");
    expect(result.err).toContain("signer_unavailable");
    expect(result.err).toContain("\\u001b[2J"); // escaped, not sent to the terminal
    expect(result.err).not.toContain("\u001b");
  });

  test("a lane that cannot be reached: the network cause, not just 'fetch failed'", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect(verify(`http://127.0.0.1:${port}/v1/features/users/u1`, "--trust-on-first-use")).rejects.toThrow(
      new RegExp(`cannot reach http://127.0.0.1:${port}/v1/signer: fetch failed: .*ECONNREFUSED`),
    );
    await expect(verify(`http://127.0.0.1:${port}/v1/features/users/u1`, ...attestArgs())).rejects.toThrow(
      new RegExp(`cannot reach http://127.0.0.1:${port}/v1/attestation: fetch failed: .*ECONNREFUSED`),
    );
    // With a pinned JWK nothing is fetched before the answer itself.
    await expect(verify(`http://127.0.0.1:${port}/v1/features/users/u1`, "--key", jwkFile(enclave, "enclave.jwk"))).rejects.toThrow(
      new RegExp(`cannot reach http://127.0.0.1:${port}/v1/features/users/u1: fetch failed: .*ECONNREFUSED`),
    );
  });

  test("--accept application/msgpack: asks for MessagePack, verifies it, shows it as JSON", async () => {
    const ok = await verify(read(), "--accept", "application/msgpack", "--key", enclave.keyid, "--show-body");
    expect(ok.code).toBe(0);
    expect(seen.at(-1)!.headers.accept).toBe("application/msgpack");
    expect(ok.out).toMatch(/^OK status=200/);
    expect(ok.out).toContain('{"view":"users","results":[],"at":"2027-01-15T08:00:00.000Z"}');
    // Signed JSON when MessagePack was asked for: not OK.
    const other = await verify(`${base}/v1/features/users/json-only`, "--accept", "application/msgpack", "--key", enclave.keyid);
    expect(other.code).toBe(1);
    expect(other.err).toMatch(/^FAIL content_type: asked for application\/msgpack, the signed answer is application\/json/);
    await expect(verify(read(), "--accept", "text/html", "--key", enclave.keyid)).rejects.toThrow();
  });

  test("freshness (P8): OK names fresh_as_of; an unproven or too old entity FAILs stale_answer; --max-staleness replaces the bound; off warns", async () => {
    const ok = await verify(`${base}/v1/features/users/fresh-5`, "--key", enclave.keyid);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^OK .* fresh_as_of=\d{4}-/);
    const old = await verify(`${base}/v1/features/users/fresh-120`, "--key", enclave.keyid);
    expect([old.code, old.err]).toEqual([1, expect.stringMatching(/^FAIL stale_answer: .*\(\d+ s ago, bound 60 s\)/)]);
    expect((await verify(`${base}/v1/features/users/fresh-120`, "--key", enclave.keyid, "--max-staleness", "5m")).code).toBe(0);
    expect((await verify(`${base}/v1/features/users/fresh-30`, "--key", enclave.keyid, "--max-staleness", "10")).code).toBe(1);
    const unproven = await verify(`${base}/v1/features/users/unproven`, "--key", enclave.keyid, "--max-staleness", "1d");
    expect([unproven.code, unproven.err]).toEqual([1, expect.stringMatching(/^FAIL stale_answer: .*fresh_as_of null/)]);
    const off = await verify(`${base}/v1/features/users/unproven`, "--key", enclave.keyid, "--max-staleness", "off");
    expect(off.code).toBe(0);
    expect(off.err).toMatch(/WARNING: --max-staleness off/);
    expect(off.out).toMatch(/freshness=UNCHECKED/);
    await expect(verify(`${base}/v1/features/users/fresh-5`, "--key", enclave.keyid, "--max-staleness", "soon")).rejects.toThrow(/--max-staleness soon/);
  });

  test("a saved response verifies offline with a pinned JWK", async () => {
    const res = await fetch(read(), { headers: { "accept-signature": 'sig1=();nonce="saved-1"' } });
    const raw = [`HTTP/1.1 ${res.status} OK`, ...[...res.headers].map(([k, v]) => `${k}: ${v}`), "", Buffer.from(await res.arrayBuffer()).toString()].join("\r\n");
    const file = join(lane.dir, "saved.http");
    writeFileSync(file, raw);
    seen.length = 0;
    const ok = await verify(read(), "--response", file, "--nonce", "saved-1", "--key", jwkFile(enclave, "enclave.jwk"));
    expect(ok.code).toBe(0);
    expect(seen).toHaveLength(0);
    expect((await verify(read(), "--response", file, "--nonce", "other", "--key", jwkFile(enclave, "enclave.jwk"))).err).toMatch(/^FAIL nonce_mismatch/);
  });

  test("as a command: exits 2 with the reason when nothing is pinned", () => {
    // A data dir with no lane.json: a developer's own .lane (from `npm start`) would pin its key and make the CLI fetch.
    const result = spawnSync(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "cli/main.ts"), "verify", `${base}/v1/features/users/u1`], {
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, EXPRESS_LANE_DATA_DIR: join(tmpdir(), `no-lane-${process.pid}`) },
    });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^express-lane: no trust anchor/);
  }, 60_000);
});
