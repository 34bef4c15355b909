import { createServer, IncomingMessage, Server } from "node:http";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey, hashKey, KeyRing, KeysFileError, loadKeys, parseKeys, presentedKey, roleAllows } from "../../runtime/auth";

describe("API keys", () => {
  it("generates a random key and stores only its SHA-256", () => {
    const { key, record } = generateKey("svc-a", "reader", { rps: 5 });
    expect(key).toMatch(/^elk_[A-Za-z0-9_-]{43}$/);
    expect(record).toEqual({ id: "svc-a", sha256: hashKey(key), role: "reader", rateLimit: { rps: 5 } });
    expect(JSON.stringify(record)).not.toContain(key);
    expect(generateKey("b", "admin").key).not.toBe(key);
  });

  it("authenticates by digest, and refuses unknown, empty and oversized keys", () => {
    const a = generateKey("a", "reader");
    const b = generateKey("b", "admin");
    const ring = new KeyRing([a.record, b.record]);
    expect(ring.authenticate(a.key)?.id).toBe("a");
    expect(ring.authenticate(b.key)?.role).toBe("admin");
    expect(ring.authenticate(a.key + "x")).toBeNull();
    expect(ring.authenticate("")).toBeNull();
    expect(ring.authenticate("x".repeat(10_000))).toBeNull();
    expect(ring.authenticate(a.record.sha256)).toBeNull(); // the stored digest is not a key
  });

  it("compares with crypto.timingSafeEqual against every stored digest", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const crypto = require("node:crypto");
    const spy = jest.spyOn(crypto, "timingSafeEqual");
    const keys = [generateKey("a", "reader"), generateKey("b", "reader"), generateKey("c", "reader")];
    const ring = new KeyRing(keys.map((k) => k.record));
    spy.mockClear();
    ring.authenticate(keys[0].key);
    expect(spy).toHaveBeenCalledTimes(3); // no early exit on the first match
    spy.mockRestore();
  });

  it.each([
    ["not JSON", "{", /not valid JSON/],
    ["not an array", "{}", /array/],
    ["bad id", '[{"id":"a b","sha256":"' + "0".repeat(64) + '","role":"reader"}]', /id must match/],
    ["bad digest", '[{"id":"a","sha256":"abc","role":"reader"}]', /64 hex/],
    ["bad role", '[{"id":"a","sha256":"' + "0".repeat(64) + '","role":"root"}]', /role/],
    ["duplicate id", `[{"id":"a","sha256":"${"0".repeat(64)}","role":"reader"},{"id":"a","sha256":"${"1".repeat(64)}","role":"reader"}]`, /duplicate/],
    ["bad limit", '[{"id":"a","sha256":"' + "0".repeat(64) + '","role":"reader","rateLimit":{"rps":-1}}]', /rps/],
  ])("refuses a keys document with %s", (_name, text, message) => {
    expect(() => parseKeys(text)).toThrow(KeysFileError);
    expect(() => parseKeys(text)).toThrow(message);
  });

  it("reads the key from Authorization: Bearer or x-api-key", () => {
    expect(presentedKey({ authorization: "Bearer abc" })).toBe("abc");
    expect(presentedKey({ authorization: "bearer  abc" })).toBe("abc");
    expect(presentedKey({ "x-api-key": "xyz" })).toBe("xyz");
    expect(presentedKey({ authorization: "Basic dTpw" })).toBeUndefined();
    expect(presentedKey({})).toBeUndefined();
  });

  it("orders roles: reader < writer < admin (which role each route needs is the route table's, test/runtime/routes.test.ts)", () => {
    expect(roleAllows("admin", "writer")).toBe(true);
    expect(roleAllows("writer", "reader")).toBe(true);
    expect(roleAllows("reader", "writer")).toBe(false);
    expect(roleAllows("writer", "admin")).toBe(false);
  });
});

describe("key sources", () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), "keys-"))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("loads a local file (path or file: URL)", async () => {
    const { record } = generateKey("a", "writer");
    const path = join(dir, "keys.json");
    writeFileSync(path, JSON.stringify([record]));
    expect(await loadKeys(path)).toEqual([record]);
    expect(await loadKeys(`file:${path}`)).toEqual([record]);
  });

  describe("SSM Parameter Store (JSON 1.1 GetParameter over a local endpoint)", () => {
    let server: Server;
    let endpoint: string;
    const seen: Array<{ target: string; body: Record<string, unknown> }> = [];
    const { record } = generateKey("from-ssm", "reader", { rps: 100, burst: 200 });
    const parameters: Record<string, string> = {
      "/express-lane/api-keys": JSON.stringify([record]),
      "/aws/reference/secretsmanager/lane/keys": JSON.stringify([{ ...record, id: "from-sm" }]),
    };

    beforeAll(async () => {
      server = createServer((req: IncomingMessage, res) => {
        let text = "";
        req.on("data", (d) => (text += d));
        req.on("end", () => {
          const body = JSON.parse(text) as { Name: string; WithDecryption?: boolean };
          seen.push({ target: String(req.headers["x-amz-target"]), body });
          const value = parameters[body.Name];
          if (value === undefined) {
            res.writeHead(400, { "content-type": "application/x-amz-json-1.1" });
            res.end(JSON.stringify({ __type: "ParameterNotFound", message: `Parameter ${body.Name} not found.` }));
            return;
          }
          res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
          res.end(
            JSON.stringify({ Parameter: { Name: body.Name, Type: "SecureString", Value: value, Version: 3, ARN: `arn:aws:ssm:us-east-1:123456789012:parameter${body.Name}` } }),
          );
        });
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      const addr = server.address() as { port: number };
      endpoint = `http://127.0.0.1:${addr.port}`;
      process.env.AWS_ACCESS_KEY_ID = "AKIDTEST";
      process.env.AWS_SECRET_ACCESS_KEY = "secret";
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it("reads ssm:<name> with decryption", async () => {
      expect(await loadKeys("ssm:/express-lane/api-keys", { region: "us-east-1", ssmEndpoint: endpoint })).toEqual([record]);
      expect(seen.at(-1)).toEqual({ target: "AmazonSSM.GetParameter", body: { Name: "/express-lane/api-keys", WithDecryption: true } });
    });

    it("reads secretsmanager:<id> through /aws/reference/secretsmanager/", async () => {
      const keys = await loadKeys("secretsmanager:lane/keys", { region: "us-east-1", ssmEndpoint: endpoint });
      expect(keys[0].id).toBe("from-sm");
    });

    it("fails on a missing parameter", async () => {
      await expect(loadKeys("ssm:/nope", { region: "us-east-1", ssmEndpoint: endpoint })).rejects.toThrow(/not found/);
    });
  });
});
