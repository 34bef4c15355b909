/**
 * Run the bundled benchmark on a deployed lane node and bring the JSON result home.
 *
 *   npx tsx bench/remote-bench.ts --region ap-south-1 --tag Name=express-lane-host \
 *       [--artifact s3://<artifact-bucket>/<prefix>/bench.js] [--bench-args "--duration 10"]
 *
 * 1. Discovery: EC2 DescribeInstances filtered by tag and state=running (@aws-sdk/client-ec2).
 * 2. Run: SSM SendCommand (AWS-RunShellScript) on the node: optionally fetch bench.js from the
 *    artifact bucket (hosts have no internet, only the S3 gateway endpoint), run it against the local
 *    runtime (`--url http://127.0.0.1:8080`), gzip + base64 the JSON.
 * 3. Collect: GetCommandInvocation until the command ends. SSM returns at most 24,000 characters
 *    of output, and a result with its HDR histograms and CDFs is larger, so the base64 text is read
 *    back in 20,000-character slices by follow-up commands and stitched together here.
 *
 * Needs ec2:DescribeInstances, ssm:SendCommand on the instances and AWS-RunShellScript, and
 * ssm:GetCommandInvocation. `--ec2-endpoint` / `--ssm-endpoint` point the clients elsewhere (tests
 * use a local server speaking the EC2 Query and SSM JSON 1.1 protocols).
 */
import { gunzipSync } from "node:zlib";
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { Command, Option } from "commander";
import { DescribeInstancesCommand, EC2Client, type Filter } from "@aws-sdk/client-ec2";
import { GetCommandInvocationCommand, SendCommandCommand, SSMClient } from "@aws-sdk/client-ssm";
import { renderHtml, type BenchResult } from "./report";

export interface Host {
  readonly instanceId: string;
  readonly privateIp?: string;
  readonly availabilityZone?: string;
  readonly instanceType?: string;
  readonly name?: string;
}

/** `Key=Value` → an EC2 tag filter. */
export function tagFilter(tag: string): Filter {
  const eq = tag.indexOf("=");
  if (eq <= 0) throw new TypeError(`--tag must be Key=Value, got ${JSON.stringify(tag)}`);
  return { Name: `tag:${tag.slice(0, eq)}`, Values: [tag.slice(eq + 1)] };
}

/** Running instances carrying the tag, across all pages. */
export async function discoverHosts(ec2: EC2Client, tag: string): Promise<Host[]> {
  const hosts: Host[] = [];
  let NextToken: string | undefined;
  do {
    const page = await ec2.send(new DescribeInstancesCommand({ Filters: [tagFilter(tag), { Name: "instance-state-name", Values: ["running"] }], NextToken }));
    for (const reservation of page.Reservations ?? []) {
      for (const i of reservation.Instances ?? []) {
        if (!i.InstanceId) continue;
        hosts.push({
          instanceId: i.InstanceId,
          privateIp: i.PrivateIpAddress,
          availabilityZone: i.Placement?.AvailabilityZone,
          instanceType: i.InstanceType,
          name: i.Tags?.find((t) => t.Key === "Name")?.Value,
        });
      }
    }
    NextToken = page.NextToken;
  } while (NextToken);
  return hosts.sort((a, b) => a.instanceId.localeCompare(b.instanceId));
}

export interface RemoteRunOptions {
  /** Path of bench.js on the node. @default /opt/express-lane/bench.js */
  readonly benchPath?: string;
  /** s3://bucket/key of bench.js to fetch first (the artifact bucket). */
  readonly artifact?: string;
  /** Arguments for the benchmark (after --url … --json-out …). */
  readonly benchArgs?: readonly string[];
  /** Runtime URL on the node. @default http://127.0.0.1:8080 */
  readonly laneUrl?: string;
  readonly pollMs?: number;
  readonly timeoutMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly log?: (line: string) => void;
}

/** Single-quote for sh. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export const SLICE_CHARS = 20_000;
const MARKER = "EXPRESS_LANE_RESULT_B64_CHARS=";

export function benchCommands(runDir: string, o: RemoteRunOptions): string[] {
  const bench = o.artifact ? `${runDir}/bench.js` : (o.benchPath ?? "/opt/express-lane/bench.js");
  const args = ["--url", o.laneUrl ?? "http://127.0.0.1:8080", "--json-out", `${runDir}/result.json`, "--no-progress", ...(o.benchArgs ?? [])];
  return [
    "set -e",
    `mkdir -p ${shQuote(runDir)}`,
    ...(o.artifact ? [`aws s3 cp --only-show-errors ${shQuote(o.artifact)} ${shQuote(`${runDir}/bench.js`)}`] : []),
    `node ${shQuote(bench)} ${args.map(shQuote).join(" ")} > ${shQuote(`${runDir}/bench.log`)} 2>&1 || { tail -c 3000 ${shQuote(`${runDir}/bench.log`)}; exit 1; }`,
    `gzip -c ${shQuote(`${runDir}/result.json`)} | base64 -w0 > ${shQuote(`${runDir}/result.b64`)}`,
    `echo "${MARKER}$(wc -c < ${shQuote(`${runDir}/result.b64`)})"`,
    `tail -c 6000 ${shQuote(`${runDir}/bench.log`)}`,
  ];
}

interface Finished {
  readonly status: string;
  readonly stdout: string;
  readonly stderr: string;
}

async function runCommand(ssm: SSMClient, instanceId: string, commands: string[], comment: string, o: RemoteRunOptions): Promise<Finished> {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const sent = await ssm.send(
    new SendCommandCommand({
      InstanceIds: [instanceId],
      DocumentName: "AWS-RunShellScript",
      Comment: comment.slice(0, 100),
      Parameters: { commands, executionTimeout: [String(Math.ceil((o.timeoutMs ?? 900_000) / 1000))] },
      TimeoutSeconds: 60,
    }),
  );
  const commandId = sent.Command?.CommandId;
  if (!commandId) throw new Error("SendCommand returned no CommandId");
  const deadline = Date.now() + (o.timeoutMs ?? 900_000);
  for (;;) {
    await sleep(o.pollMs ?? 2000);
    let inv;
    try {
      inv = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
    } catch (err) {
      // Right after SendCommand the invocation may not exist yet.
      if ((err as { name?: string }).name === "InvocationDoesNotExist" && Date.now() < deadline) continue;
      throw err;
    }
    const status = inv.Status ?? "Unknown";
    if (status === "Pending" || status === "InProgress" || status === "Delayed" || status === "Cancelling") {
      if (Date.now() > deadline) throw new Error(`command ${commandId} on ${instanceId} still ${status} after ${o.timeoutMs ?? 900_000} ms`);
      continue;
    }
    return { status, stdout: inv.StandardOutputContent ?? "", stderr: inv.StandardErrorContent ?? "" };
  }
}

/** Run the benchmark on one node and return its parsed JSON result. */
export async function runRemoteBench(ssm: SSMClient, instanceId: string, o: RemoteRunOptions = {}): Promise<{ result: unknown; table: string }> {
  const log = o.log ?? (() => undefined);
  const runDir = `/tmp/express-lane-bench/${Date.now()}-${randomBytes(4).toString("hex")}`;
  log(`${instanceId}: running the benchmark (${runDir})…`);
  const main = await runCommand(ssm, instanceId, benchCommands(runDir, o), "express-lane bench", o);
  if (main.status !== "Success") throw new Error(`benchmark on ${instanceId} ended ${main.status}:\n${main.stdout}\n${main.stderr}`);
  const m = new RegExp(`${MARKER}(\\d+)`).exec(main.stdout);
  if (!m) throw new Error(`benchmark on ${instanceId}: no result marker in the output:\n${main.stdout.slice(0, 2000)}`);
  const total = Number(m[1]);
  const table = main.stdout.slice(main.stdout.indexOf(m[0]) + m[0].length).trim();
  let b64 = "";
  for (let start = 1; start <= total; start += SLICE_CHARS) {
    const end = Math.min(total, start + SLICE_CHARS - 1);
    log(`${instanceId}: collecting result ${start}-${end} of ${total}`);
    const slice = await runCommand(ssm, instanceId, [`cut -c ${start}-${end} ${shQuote(`${runDir}/result.b64`)}`], "express-lane bench collect", o);
    if (slice.status !== "Success") throw new Error(`collecting the result from ${instanceId} ended ${slice.status}: ${slice.stderr}`);
    b64 += slice.stdout.trim();
  }
  if (b64.length !== total) throw new Error(`collected ${b64.length} of ${total} base64 characters from ${instanceId}`);
  await runCommand(ssm, instanceId, [`rm -rf ${shQuote(runDir)}`], "express-lane bench cleanup", o).catch(() => undefined);
  return { result: JSON.parse(gunzipSync(Buffer.from(b64, "base64")).toString("utf8")), table };
}

/**
 * Write a collected result as `remote-<instance>-<time>.json` ({ host, result }) and, when it is a
 * benchmark result, the same self-contained HTML report a local run writes.
 */
export function writeRemoteResult(outDir: string, host: Host, result: unknown, now = new Date()): { json: string; html?: string } {
  mkdirSync(resolve(outDir), { recursive: true });
  const base = resolve(outDir, `remote-${host.instanceId}-${now.toISOString().replace(/[:.]/g, "-")}`);
  writeFileSync(`${base}.json`, JSON.stringify({ host, result }, null, 2));
  const r = result as Partial<BenchResult> | null;
  if (r?.tool !== "express-lane-bench" || !Array.isArray(r.scenarios)) return { json: `${base}.json` };
  writeFileSync(`${base}.html`, renderHtml(r as BenchResult));
  return { json: `${base}.json`, html: `${base}.html` };
}

async function main(): Promise<void> {
  const opts = new Command("remote-bench")
    .description("Discover lane nodes by tag (EC2), run the bundled benchmark on one via SSM, collect the JSON")
    .addOption(new Option("--region <region>").env("AWS_REGION").default("ap-south-1"))
    .addOption(new Option("--tag <Key=Value>", "EC2 tag of the lane hosts").default("Name=express-lane-host"))
    .addOption(new Option("--instance <id>", "run on this instance (default: the first discovered)"))
    .addOption(new Option("--all", "run on every discovered host, one after another"))
    .addOption(new Option("--list", "only list the discovered hosts"))
    .addOption(new Option("--artifact <s3url>", "fetch bench.js from s3://… on the node first"))
    .addOption(new Option("--bench-path <path>", "bench.js on the node").default("/opt/express-lane/bench.js"))
    .addOption(new Option("--bench-args <args>", "extra benchmark arguments (space-separated)").default(""))
    .addOption(new Option("--out <dir>", "where to write the collected JSON").default("bench-results"))
    .addOption(new Option("--ec2-endpoint <url>"))
    .addOption(new Option("--ssm-endpoint <url>"))
    .parse()
    .opts<{
      region: string;
      tag: string;
      instance?: string;
      all?: boolean;
      list?: boolean;
      artifact?: string;
      benchPath: string;
      benchArgs: string;
      out: string;
      ec2Endpoint?: string;
      ssmEndpoint?: string;
    }>();
  const ec2 = new EC2Client({ region: opts.region, endpoint: opts.ec2Endpoint });
  const ssm = new SSMClient({ region: opts.region, endpoint: opts.ssmEndpoint });
  const hosts = await discoverHosts(ec2, opts.tag);
  for (const h of hosts) process.stderr.write(`host ${h.instanceId} ${h.instanceType ?? ""} ${h.availabilityZone ?? ""} ${h.privateIp ?? ""} ${h.name ?? ""}\n`);
  if (opts.list) return;
  const targets = opts.instance ? hosts.filter((h) => h.instanceId === opts.instance) : opts.all ? hosts : hosts.slice(0, 1);
  if (targets.length === 0) throw new Error(`no running host with tag ${opts.tag}${opts.instance ? ` and id ${opts.instance}` : ""}`);
  for (const h of targets) {
    const { result, table } = await runRemoteBench(ssm, h.instanceId, {
      benchPath: opts.benchPath,
      artifact: opts.artifact,
      benchArgs: opts.benchArgs.split(/\s+/).filter(Boolean),
      log: (l) => process.stderr.write(`${l}\n`),
    });
    const files = writeRemoteResult(opts.out, h, result);
    process.stdout.write(`${table}\n\n${h.instanceId}: JSON ${files.json}${files.html ? `\nHTML ${files.html}` : ""}\n`);
  }
  ec2.destroy();
  ssm.destroy();
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`remote-bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
