/**
 * bench/remote-bench.ts against a local server speaking the EC2 Query API (XML) and SSM JSON 1.1
 * wire formats. The fake SSM really runs the AWS-RunShellScript commands with sh (as the SSM agent
 * does) and truncates output at 24,000 characters like SSM, so slicing and stitching are exercised.
 */
import { createServer, IncomingMessage, Server } from "node:http";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EC2Client } from "@aws-sdk/client-ec2";
import { SSMClient } from "@aws-sdk/client-ssm";
import { discoverHosts, runRemoteBench, SLICE_CHARS, writeRemoteResult } from "../../bench/remote-bench";
import { benchResultOf, scenarioOf } from "./fixtures";

interface FakeInstance {
  id: string;
  ip: string;
  tags: Record<string, string>;
  state: string;
}

const INSTANCES: FakeInstance[] = [
  { id: "i-0b", ip: "10.0.1.12", tags: { Name: "express-lane-host" }, state: "running" },
  { id: "i-0a", ip: "10.0.1.11", tags: { Name: "express-lane-host" }, state: "running" },
  { id: "i-0c", ip: "10.0.1.13", tags: { Name: "express-lane-host" }, state: "stopped" },
  { id: "i-0d", ip: "10.0.1.14", tags: { Name: "other" }, state: "running" },
];

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let s = "";
    req.on("data", (d: Buffer) => (s += d.toString()));
    req.on("end", () => resolve(s));
  });
}

/** EC2 Query: Filter.N.Name / Filter.N.Value.M, paged by NextToken (one reservation per page). */
function describeInstances(params: URLSearchParams): string {
  const filters: Array<{ name: string; values: string[] }> = [];
  for (let n = 1; params.has(`Filter.${n}.Name`); n++) {
    const values: string[] = [];
    for (let m = 1; params.has(`Filter.${n}.Value.${m}`); m++) values.push(params.get(`Filter.${n}.Value.${m}`)!);
    filters.push({ name: params.get(`Filter.${n}.Name`)!, values });
  }
  const matches = INSTANCES.filter((i) =>
    filters.every((f) => (f.name === "instance-state-name" ? f.values.includes(i.state) : f.name.startsWith("tag:") ? f.values.includes(i.tags[f.name.slice(4)]) : false)),
  );
  const page = Number(params.get("NextToken") ?? "0");
  const inst = matches[page];
  const next = page + 1 < matches.length ? `<nextToken>${page + 1}</nextToken>` : "";
  const item = inst
    ? `<item><reservationId>r-${inst.id}</reservationId><ownerId>123456789012</ownerId><instancesSet><item><instanceId>${inst.id}</instanceId><instanceType>c7g.large</instanceType><privateIpAddress>${inst.ip}</privateIpAddress><placement><availabilityZone>ap-south-1a</availabilityZone></placement><instanceState><code>16</code><name>${inst.state}</name></instanceState><tagSet>${Object.entries(
        inst.tags,
      )
        .map(([k, v]) => `<item><key>${k}</key><value>${v}</value></item>`)
        .join("")}</tagSet></item></instancesSet></item>`
    : "";
  return `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-1</requestId><reservationSet>${item}</reservationSet>${next}</DescribeInstancesResponse>`;
}

class FakeAws {
  server!: Server;
  ec2Requests: URLSearchParams[] = [];
  ssmTargets: string[] = [];
  commands = new Map<string, { status: string; stdout: string; stderr: string; polls: number }>();
  private n = 0;

  async start(): Promise<string> {
    this.server = createServer(async (req, res) => {
      const text = await body(req);
      const target = req.headers["x-amz-target"];
      if (typeof target === "string") {
        this.ssmTargets.push(target);
        const input = JSON.parse(text) as Record<string, unknown>;
        const reply = (status: number, value: unknown) => {
          res.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
          res.end(JSON.stringify(value));
        };
        if (target === "AmazonSSM.SendCommand") {
          expect(input.DocumentName).toBe("AWS-RunShellScript");
          const commands = (input.Parameters as { commands: string[] }).commands;
          const id = `cmd-${++this.n}`;
          let stdout: string;
          let stderr = "";
          let status = "Success";
          try {
            stdout = execFileSync("sh", ["-c", commands.join("\n")], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
          } catch (err) {
            const e = err as { stdout?: string; stderr?: string };
            stdout = e.stdout ?? "";
            stderr = e.stderr ?? "";
            status = "Failed";
          }
          // SSM keeps at most 24,000 characters of output.
          this.commands.set(id, { status, stdout: stdout.slice(0, 24_000), stderr: stderr.slice(0, 8000), polls: 0 });
          return reply(200, { Command: { CommandId: id, Status: "Pending", InstanceIds: input.InstanceIds } });
        }
        if (target === "AmazonSSM.GetCommandInvocation") {
          const c = this.commands.get(String(input.CommandId));
          if (!c) return reply(400, { __type: "InvocationDoesNotExist", message: "no such invocation" });
          // First poll: still running, like a real command.
          if (c.polls++ === 0)
            return reply(200, { CommandId: input.CommandId, InstanceId: input.InstanceId, Status: "InProgress", StandardOutputContent: "", StandardErrorContent: "" });
          return reply(200, {
            CommandId: input.CommandId,
            InstanceId: input.InstanceId,
            Status: c.status,
            ResponseCode: c.status === "Success" ? 0 : 1,
            StandardOutputContent: c.stdout,
            StandardErrorContent: c.stderr,
          });
        }
        return reply(400, { __type: "InvalidAction", message: target });
      }
      const params = new URLSearchParams(text);
      this.ec2Requests.push(params);
      if (params.get("Action") === "DescribeInstances") {
        res.writeHead(200, { "content-type": "text/xml;charset=UTF-8" });
        res.end(describeInstances(params));
        return;
      }
      res.writeHead(400, { "content-type": "text/xml" });
      res.end(`<Response><Errors><Error><Code>InvalidAction</Code><Message>nope</Message></Error></Errors><RequestID>x</RequestID></Response>`);
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    const addr = this.server.address();
    return `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

const credentials = { accessKeyId: "AKIDTEST", secretAccessKey: "secret" };

describe("remote benchmark: discovery and collection", () => {
  const fake = new FakeAws();
  let endpoint: string;
  let dir: string;
  beforeAll(async () => {
    endpoint = await fake.start();
    dir = mkdtempSync(join(tmpdir(), "remote-bench-test-"));
  });
  afterAll(async () => {
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("discovers running hosts by tag across pages (EC2 Query API)", async () => {
    const ec2 = new EC2Client({ region: "ap-south-1", endpoint, credentials });
    const hosts = await discoverHosts(ec2, "Name=express-lane-host");
    expect(hosts.map((h) => h.instanceId)).toEqual(["i-0a", "i-0b"]);
    expect(hosts[0]).toMatchObject({ privateIp: "10.0.1.11", availabilityZone: "ap-south-1a", instanceType: "c7g.large", name: "express-lane-host" });
    const first = fake.ec2Requests[0];
    expect(first.get("Action")).toBe("DescribeInstances");
    expect(first.get("Filter.1.Name")).toBe("tag:Name");
    expect(first.get("Filter.1.Value.1")).toBe("express-lane-host");
    expect(first.get("Filter.2.Name")).toBe("instance-state-name");
    expect(fake.ec2Requests.length).toBe(2); // two pages
    ec2.destroy();
  });

  test("runs the benchmark via SSM and stitches a result larger than SSM's output limit", async () => {
    // Stand-in for bench.js on the node: writes a JSON result (incompressible, > 24,000 chars
    // after gzip+base64) where --json-out says and prints a table.
    const fakeBench = join(dir, "bench.js");
    writeFileSync(
      fakeBench,
      `const fs = require("fs"); const crypto = require("crypto");
       const args = process.argv.slice(2); const out = args[args.indexOf("--json-out") + 1];
       fs.writeFileSync(out, JSON.stringify({ tool: "express-lane-bench", args, noise: crypto.randomBytes(40000).toString("hex") }));
       console.log("| Metric (4 KB object) | P50 | P95 | P99 |");`,
    );
    const ssm = new SSMClient({ region: "ap-south-1", endpoint, credentials });
    const logs: string[] = [];
    const { result, table } = await runRemoteBench(ssm, "i-0a", {
      benchPath: fakeBench,
      benchArgs: ["--duration", "10", "--direct-bucket", "lane--aps1-az1--x-s3"],
      pollMs: 0,
      sleep: async () => undefined,
      log: (l) => logs.push(l),
    });
    const r = result as { tool: string; args: string[]; noise: string };
    expect(r.tool).toBe("express-lane-bench");
    expect(r.noise).toHaveLength(80000);
    expect(r.args).toEqual(expect.arrayContaining(["--url", "http://127.0.0.1:8080", "--no-progress", "--duration", "10", "--direct-bucket", "lane--aps1-az1--x-s3"]));
    expect(table).toContain("| Metric (4 KB object) |");
    const slices = logs.filter((l) => l.includes("collecting result")).length;
    expect(slices).toBeGreaterThanOrEqual(2); // more than one 20,000-char slice was needed
    expect(SLICE_CHARS).toBeLessThan(24_000);
    expect(fake.ssmTargets).toContain("AmazonSSM.SendCommand");
    expect(fake.ssmTargets).toContain("AmazonSSM.GetCommandInvocation");
    ssm.destroy();
  });

  test("writes the collected result as JSON, and a benchmark result also as the HTML report", () => {
    const scenario = scenarioOf(
      "single",
      Array.from({ length: 200 }, (_, i) => 1000 + 10 * i),
      { label: "Signed single read, c=32" },
    );
    const result = benchResultOf([scenario], { lane: { url: "http://127.0.0.1:8080", storeKind: "s3" } });
    const host = { instanceId: "i-0a", instanceType: "c7g.large" };
    const files = writeRemoteResult(join(dir, "out"), host, result, new Date("2026-11-22T01:02:03.456Z"));
    expect(files.json).toMatch(/remote-i-0a-2026-11-22T01-02-03-456Z\.json$/);
    expect(JSON.parse(readFileSync(files.json, "utf8"))).toEqual({ host, result: JSON.parse(JSON.stringify(result)) });
    expect(readFileSync(files.html!, "utf8")).toMatch(/^<!doctype html>[\s\S]*<svg /);
    // Whatever else a node printed is kept as JSON only.
    const other = writeRemoteResult(join(dir, "out"), host, { tool: "something-else" }, new Date("2026-11-22T01:02:04.000Z"));
    expect(other.html).toBeUndefined();
    expect(existsSync(other.json.replace(/\.json$/, ".html"))).toBe(false);
  });

  test("a failing benchmark surfaces its output", async () => {
    const ssm = new SSMClient({ region: "ap-south-1", endpoint, credentials });
    await expect(runRemoteBench(ssm, "i-0a", { benchPath: join(dir, "missing.js"), pollMs: 0, sleep: async () => undefined })).rejects.toThrow(/ended Failed/);
    ssm.destroy();
  });
});
