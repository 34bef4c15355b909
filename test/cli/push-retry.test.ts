// `push` against a stand-in lane (no enclave): what the writer sends (the signature the enclave
// checks, over exactly the bytes sent), and re-sends after a 503, each freshly signed (a retry is
// never a replay of the same nonce).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { push } from "../../cli/push";
import { generateWriterKey } from "../../dev/key-files";
import { writerMac, parseWriterSignature } from "../../wire/writer-auth";

const key = generateWriterKey("loader");
let server: Server;
let url: string;
const seen: Array<{ nonce: string; ok: boolean; rows: number }> = [];
let failFirst = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      // What the enclave does with the forwarded headers: parse, rebuild the base, check the MAC.
      const auth = parseWriterSignature(
        { method: req.method!, path: req.url!, query: "", contentType: req.headers["content-type"], body },
        { signatureInput: String(req.headers["signature-input"]), signature: String(req.headers.signature), contentDigest: String(req.headers["content-digest"]) },
        Math.floor(Date.now() / 1000),
      );
      const rows = (JSON.parse(body.toString()) as { rows: Array<{ entity: string }> }).rows;
      seen.push({ nonce: auth.nonce, ok: writerMac(key.key, auth.base).equals(auth.mac), rows: rows.length });
      if (failFirst > 0) {
        failFirst--;
        res.writeHead(503, { "content-type": "application/json", "retry-after": "0" }).end(JSON.stringify({ error: { code: "signer_unavailable", message: "restarting" } }));
        return;
      }
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ written_by: "loader", results: rows.map((r) => ({ entity: r.entity, result: "written", written_by: "loader" })) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => (seen.length = 0));

const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ entity: `e${i}`, event_time: 1, features: {} }));

test("every request is signed over the bytes sent, ≤ batch size rows, a fresh nonce each", async () => {
  const s = await push({ url, view: "merchant_risk", key, rows: rows(7), batchSize: 3 });
  expect(s).toMatchObject({ rows: 7, requests: 3, written: 7, failed: 0, verified: false, written_by: ["loader"] });
  expect(seen.map((r) => [r.rows, r.ok])).toEqual([
    [3, true],
    [3, true],
    [1, true],
  ]);
  expect(new Set(seen.map((r) => r.nonce)).size).toBe(3);
  await expect(push({ url, view: "v", key, rows: rows(1), batchSize: 101 })).rejects.toThrow(/batch size must be 1..100/);
});

test("a 503 is re-sent with a new signature; without retries it is a failed request", async () => {
  failFirst = 2;
  const s = await push({ url, view: "merchant_risk", key, rows: rows(2), retryDelayMs: 1 });
  expect(s).toMatchObject({ requests: 1, written: 2, failed: 0 });
  expect(seen).toHaveLength(3);
  expect(new Set(seen.map((r) => r.nonce)).size).toBe(3);
  failFirst = 1;
  const none = await push({ url, view: "merchant_risk", key, rows: rows(2), retries: 0 });
  expect(none).toMatchObject({ failed: 2, written: 0 });
  expect(none.errors[0]).toMatchObject({ status: 503, code: "signer_unavailable" });
});

test("no answer at all (nothing listening) is a transport error after the retries", async () => {
  const s = await push({ url: "http://127.0.0.1:9", view: "merchant_risk", key, rows: rows(1), retries: 1, retryDelayMs: 1 });
  expect(s).toMatchObject({ failed: 1 });
  expect(s.errors[0]!.code).toBe("transport_error");
});
