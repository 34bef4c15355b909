/**
 * The HTTP stack's own cost per request (issue #15 goal 4): does an HTTP/1.1 responder on `net`
 * sockets cost less CPU than `node:http` for the lane's answers? Each server runs in its own child
 * process and answers a fixed ≈ 700-byte JSON body with the headers a signed answer carries
 * (runtime/server.ts writeSigned: content-type, content-length, content-digest, signature-input,
 * signature, cache-control, x-request-id); wrk (1 thread, c=32) drives it; CPU µs per request is
 * the server process's utime + stime from /proc (bench/proc-cpu.ts) over the wrk run.
 *
 *   A  node    node:http, one writeHead with a raw header array + end(body) (the runtime's way)
 *   B  net     net.createServer + a strict minimal HTTP/1.1 parser, the same bytes in one write
 *   C  lane    runtime/http1.ts (the lane's server, when built) with the runtime's calls
 *
 * Rounds interleave the order (A B C, C B A, …); medians and per-round ratios to A are printed with
 * the load average. Also drives the two request shapes the lane gets: a GET with a query and a POST
 * with a 1.2 KB JSON body (`--shape get|post`).
 *
 *   npx tsx bench/micro/http-stack.ts [rounds=4] [seconds=5] [--shape get|post] [--sides node,net,lane]
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createNetServer, type Socket } from "node:net";
import { loadavg, tmpdir, cpus } from "node:os";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { processCpu } from "../proc-cpu";
import { findWrk, runWrk, type WrkResult } from "../wrk";
import { createLaneHttpServer } from "../../runtime/http1";
import type { LaneRequest, LaneResponse } from "../../runtime/http-types";

const BODY = Buffer.from(
  JSON.stringify({
    view: "user_profile",
    entity: "user_000042",
    event_time: "2026-12-01T21:00:00.000Z",
    fresh_as_of: "2026-12-01T21:00:01.000Z",
    features: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`feature_${i}`, { value: 0.123456789 * i, status: "present", event_time: "2026-12-01T20:59:59.000Z" }])),
  }).slice(0, 700),
);
const HEADERS: string[] = [
  "content-type",
  "application/json",
  "content-length",
  String(BODY.length),
  "content-digest",
  `sha-256=:${Buffer.alloc(32, 7).toString("base64")}:`,
  "signature-input",
  'sig1=("@status" "@method" "@path" "@query" "content-digest" "content-type");created=1796000000;keyid="lane-2026-12";alg="ed25519";nonce="n-1"',
  "signature",
  `sig1=:${Buffer.alloc(64, 9).toString("base64")}:`,
  "cache-control",
  "no-store",
];
const REQUEST_ID = "0b7e4c1a-6c3e-4a55-9a0f-3f1f0c2d9e11";

/**
 * What A and C do per request, through the calls the runtime makes: read the header the runtime
 * reads, collect a POST body, one writeHead with a raw header array, end.
 */
function answerAsTheRuntime(req: LaneRequest, res: LaneResponse): void {
  void req.headers["accept-signature"];
  const finish = (): void => {
    res.writeHead(200, [...HEADERS, "x-request-id", REQUEST_ID]);
    res.end(BODY);
  };
  if (req.method === "POST") {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", finish);
  } else finish();
}

/** A: node:http as the runtime uses it. */
function serveNode(port: number): void {
  const server = createHttpServer(answerAsTheRuntime);
  server.keepAliveTimeout = 65_000;
  server.listen(port, "127.0.0.1", () => process.send?.("ready"));
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** B: a strict minimal HTTP/1.1 responder (request line, CRLF fields, Content-Length bodies), the answer in one write. */
function serveNet(port: number): void {
  const head = Buffer.from(`HTTP/1.1 200 OK\r\n${pairs(HEADERS)}x-request-id: `);
  const server = createNetServer((socket: Socket) => {
    socket.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const out: Buffer[] = [];
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) break;
        const text = buf.toString("latin1", 0, end);
        const lines = text.split("\r\n");
        const m = /^([A-Z]+) (\/[^ ]*) HTTP\/1\.[01]$/.exec(lines[0]!);
        if (!m) return void socket.destroy();
        const headers: Record<string, string> = {};
        let length = 0;
        for (let i = 1; i < lines.length; i++) {
          const line = lines[i]!;
          const colon = line.indexOf(":");
          if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) return void socket.destroy();
          const name = line.slice(0, colon).toLowerCase();
          const value = line.slice(colon + 1).trim();
          headers[name] = value;
          if (name === "content-length") length = Number(value);
        }
        if (buf.length < end + 4 + length) break;
        buf = buf.subarray(end + 4 + length);
        void headers["accept-signature"];
        out.push(head, Buffer.from(`${REQUEST_ID}\r\n\r\n`), BODY);
      }
      if (out.length) socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
    });
    socket.on("error", () => socket.destroy());
  });
  server.listen(port, "127.0.0.1", () => process.send?.("ready"));
}

function pairs(h: readonly string[]): string {
  let s = "";
  for (let i = 0; i < h.length; i += 2) s += `${h[i]}: ${h[i + 1]}\r\n`;
  return s;
}

/** C: the lane's own server (runtime/http1.ts) with the calls the runtime makes. */
function serveLane(port: number): void {
  const server = createLaneHttpServer({}, answerAsTheRuntime);
  server.listen(port, "127.0.0.1", () => process.send?.("ready"));
}

type Side = "node" | "net" | "lane";

function startChild(side: Side, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...process.execArgv, __filename, "--serve", side, String(port)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  return new Promise((resolve, reject) => {
    child.once("message", () => resolve(child));
    child.once("exit", (code) => reject(new Error(`${side} server exited ${code}`)));
  });
}

const TICKS_PER_SECOND = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/** A process's kernel CPU so far, in clock ticks (stime, /proc/<pid>/stat field 15). */
function systemTicks(pid: number | undefined): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(") ") + 2).split(" ")[12]);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function postBody(): string {
  const entities = Array.from({ length: 60 }, (_, i) => `user_${String(i).padStart(6, "0")}`);
  return JSON.stringify({ entities, features: ["country", "risk_score", "age", "plan"] });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const positional = args.filter((a, i) => !a.startsWith("--") && !(i > 0 && args[i - 1]!.startsWith("--")));
  const rounds = Number(positional[0] ?? 4);
  const seconds = Number(positional[1] ?? 5);
  const shape = (flag("--shape") ?? "get") as "get" | "post";
  const sides = (flag("--sides") ?? "node,net").split(",") as Side[];
  const wrk = findWrk();
  if (!wrk) throw new Error("wrk not found (apt-get install wrk)");
  const dir = mkdtempSync(join(tmpdir(), "http-stack-"));
  const lua =
    shape === "get"
      ? `request = function() return wrk.format("GET", "/v1/features/user_profile/user_000042?features=country,risk_score,age,plan,ltv_30d,sessions_7d,last_seen,device,segment,churn", { ["Accept-Signature"] = 'sig1=("@status");nonce="n-1"' }) end\n`
      : `local body = ${JSON.stringify(postBody())}\nrequest = function() return wrk.format("POST", "/v1/features/user_profile/batch", { ["Content-Type"] = "application/json", ["Accept-Signature"] = 'sig1=("@status");nonce="n-1"' }, body) end\n`;
  process.stdout.write(
    `bench/micro/http-stack — ${cpus().length} × ${cpus()[0]?.model ?? "?"}, node ${process.version}, ${shape.toUpperCase()} (${shape === "get" ? "query of 10 features" : `${postBody().length}-byte JSON body`}), answer ${BODY.length} bytes + signed headers, wrk -t1 -c32 ${seconds} s, ${rounds} rounds, load average ${loadavg()[0]!.toFixed(2)}\n`,
  );
  const results = new Map<Side, Array<WrkResult & { cpuUs: number; sysShare: number }>>(sides.map((s) => [s, []]));
  let port = 19_300 + Math.floor(Math.random() * 500);
  try {
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      const line: string[] = [];
      for (const side of order) {
        const child = await startChild(side, ++port);
        try {
          await runWrk(wrk, `http://127.0.0.1:${port}`, lua, 32, { duration: 1 }, dir); // warm-up
          const before = processCpu(child.pid);
          const sysBefore = systemTicks(child.pid);
          const r = await runWrk(wrk, `http://127.0.0.1:${port}`, lua, 32, { duration: seconds }, dir);
          const cpuUs = (processCpu(child.pid) - before) / r.requests;
          const spentUs = processCpu(child.pid) - before;
          const sysShare = spentUs > 0 ? ((systemTicks(child.pid) - sysBefore) * 1e6) / TICKS_PER_SECOND / spentUs : NaN;
          if (r.errors) throw new Error(`${side}: ${r.errors} errors\n${r.raw}`);
          results.get(side)!.push({ ...r, cpuUs, sysShare });
          line.push(`${side} ${cpuUs.toFixed(1)} µs (kernel ${(sysShare * 100).toFixed(0)} %) ${Math.round(r.rps)} req/s P99 ${r.p99.toFixed(2)} ms`);
        } finally {
          child.kill();
        }
      }
      process.stdout.write(`round ${round + 1}: ${line.join(" | ")} | load ${loadavg()[0]!.toFixed(2)}\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const base = results.get(sides[0]!)!;
  process.stdout.write(
    `\nmedians, load average ${loadavg()[0]!.toFixed(2)} after\n| server | CPU µs/request | of which kernel | req/s | P99 ms | CPU vs ${sides[0]} (per round) |\n|---|---|---|---|---|---|\n`,
  );
  for (const side of sides) {
    const rs = results.get(side)!;
    const ratios = rs.map((r, i) => r.cpuUs / base[i]!.cpuUs);
    process.stdout.write(
      `| ${side} | ${median(rs.map((r) => r.cpuUs)).toFixed(1)} | ${(median(rs.map((r) => r.sysShare)) * 100).toFixed(0)} % | ${Math.round(median(rs.map((r) => r.rps)))} | ${median(rs.map((r) => r.p99)).toFixed(2)} | ${median(ratios).toFixed(2)}× (${ratios.map((x) => x.toFixed(2)).join(", ")}) |\n`,
    );
  }
}

if (process.argv[2] === "--serve") {
  // A clean exit on SIGTERM, so `node --cpu-prof` writes its profile when a run profiles one server.
  process.on("SIGTERM", () => process.exit(0));
  const side = process.argv[3] as Side;
  const port = Number(process.argv[4]);
  if (side === "node") serveNode(port);
  else if (side === "net") serveNet(port);
  else serveLane(port);
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
