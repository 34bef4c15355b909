/**
 * The benchmark's wrk Lua request scripts (bench/wrk.ts) run for a second against a stand-in HTTP
 * server: a Lua error, or no requests sent, fails. (Moved here from scripts/lint-infra.ts, which may
 * not import the benchmark.)
 */
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { batchScript, singleScript } from "../../bench/wrk";
import { defaultWorkload } from "../../bench/targets";
import { requireTool } from "../helpers/os-tools";

const hasWrk = requireTool("wrk", "wrk run of the benchmark's Lua scripts");

let server: Server;
let port: number;
let dir: string;
const paths: string[] = [];
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "wrk-lua-"));
  server = createServer((req, res) => {
    paths.push(`${req.method} ${req.url}`);
    req.resume();
    req.on("end", () => res.end("{}"));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

/** wrk in a child process: it blocks its thread, and our server must keep answering. */
function runWrk(script: string): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn("wrk", ["-t1", "-c2", "-d1s", "-s", script, `http://127.0.0.1:${port}`], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.once("exit", (code) => resolve({ out, code }));
  });
}

const w = defaultWorkload(100, 10);
describe("the benchmark's wrk Lua scripts", () => {
  (hasWrk ? it.each : it.skip.each)([
    ["single reads", singleScript(w), /^GET \/v1\/features\//],
    ["projected reads", singleScript(w, true), /^GET \/v1\/features\/.*\?features=/],
    ["batch reads", batchScript(w), /^POST \/v1\/features\/.*\/batch/],
  ] as const)("%s run without a Lua error and send the requests they describe", async (label, lua, shape) => {
    paths.length = 0;
    const script = join(dir, `bench-${label.replace(/\W/g, "-")}.lua`);
    writeFileSync(script, lua);
    const r = await runWrk(script);
    const requests = Number(/(\d+) requests in/.exec(r.out)?.[1] ?? 0);
    expect(r.out.replace(/Socket errors:.*$/m, "")).not.toMatch(/error|PANIC/i);
    expect(r.code).toBe(0);
    expect(requests).toBeGreaterThan(0);
    expect(paths.length).toBeGreaterThan(0);
    expect(paths.every((p) => shape.test(p))).toBe(true);
  });
});
