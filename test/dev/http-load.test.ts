import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { httpClosedLoop, httpOpenLoop, type Result } from "../../dev/http-load";

let server: Server;
let url: string;
beforeAll(async () => {
  // /ok answers 200 with its path; /busy answers 503; anything else 404.
  server = createServer((req, res) => {
    if (req.url!.startsWith("/ok")) res.end(req.url);
    else if (req.url === "/busy") res.writeHead(503, { "retry-after": "1" }).end("busy");
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("HTTP load over the one generator", () => {
  it("closed loop: sends next(i) in order of i, counts every answer by status, and keeps a latency per answer", async () => {
    const results: Result[] = [];
    const s = await httpClosedLoop({
      url,
      concurrency: 2,
      durationMs: 300,
      keepBodies: true,
      next: (i) => ({ path: i % 3 === 2 ? "/busy" : `/ok/${i}` }),
      onResult: (r) => results.push(r),
    });
    expect(s.sent).toBe(results.length);
    expect(s.sent).toBeGreaterThan(3);
    expect((s.byStatus["200"] ?? 0) + (s.byStatus["503"] ?? 0)).toBe(s.sent);
    expect(s.latencies["200"]).toHaveLength(s.byStatus["200"]!);
    const ok = results.find((r) => r.status === 200)!;
    expect(ok.body.toString()).toBe(ok.shot.path); // the answer to that shot, kept
    expect(results.find((r) => r.status === 503)!.headers["retry-after"]).toBe("1");
    for (const r of results) expect(r.ms).toBeGreaterThanOrEqual(0);
  });

  it("drops bodies unless asked to keep them", async () => {
    const results: Result[] = [];
    await httpClosedLoop({ url, concurrency: 1, durationMs: 100, next: () => ({ path: "/ok" }), onResult: (r) => results.push(r) });
    expect(results.every((r) => r.body.length === 0)).toBe(true);
  });

  it("open loop: sends about rate × duration requests, whatever the answers", async () => {
    const s = await httpOpenLoop({ url, rate: 100, durationMs: 500, next: () => ({ path: "/ok" }) });
    expect(s.sent).toBe(50); // scheduled at start + i/rate for i < 50
    expect(s.byStatus["200"]).toBe(50);
    expect(s.seconds).toBe(0.5);
  });

  it("a transport failure is status 0 with its error, not a thrown run", async () => {
    const results: Result[] = [];
    const s = await httpClosedLoop({ url: "http://127.0.0.1:1", concurrency: 1, durationMs: 100, next: () => ({ path: "/" }), onResult: (r) => results.push(r) });
    expect(s.byStatus["0"]).toBe(s.sent);
    expect(results[0]!.error).toEqual(expect.any(String));
  });
});
