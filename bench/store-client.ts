/**
 * Client CPU per 4 KB GET: S3Store vs raw undici vs the AWS SDK's GetObject, in one run.
 *
 *   npx tsx bench/store-client.ts [requests=2000] [rounds=3]
 *
 * The server (a bare node:http answering every GET with the same 4 KB, like an S3 GetObject) runs
 * in a child process so its CPU is not counted: process.cpuUsage() here is client-only (user+sys).
 * Requests are sequential (c=1) so the figure is per-request cost, not a throughput artefact.
 */
import { spawn } from "node:child_process";
import { Pool } from "undici";
import { S3Client, GetObjectCommand } from "@aws-sdk/client-s3";
import { S3Store } from "../runtime/store/s3-store";
import { StaticCredentials } from "../runtime/store/credentials";

const REQUESTS = Number(process.argv[2] ?? 2000);
const ROUNDS = Number(process.argv[3] ?? 3);
const OBJECT_BYTES = 4096;
const CREDS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

const SERVER_SOURCE = `
const http = require("node:http");
const body = Buffer.alloc(${OBJECT_BYTES}, 120);
const server = http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": body.length, etag: '"bench"', "last-modified": new Date(0).toUTCString() });
  res.end(body);
});
server.keepAliveTimeout = 60000;
server.listen(0, "127.0.0.1", () => process.stdout.write(String(server.address().port) + "\\n"));
`;

async function startServer(): Promise<{ port: number; stop: () => void }> {
  const child = spawn(process.execPath, ["-e", SERVER_SOURCE], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.stdout!.once("data", (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
  });
  return { port, stop: () => child.kill() };
}

async function measure(label: string, requests: number, getOnce: () => Promise<number>): Promise<number> {
  for (let i = 0; i < 300; i++) await getOnce(); // warm-up: JIT, connections
  const cpuBefore = process.cpuUsage();
  const wallBefore = process.hrtime.bigint();
  let bytes = 0;
  for (let i = 0; i < requests; i++) bytes += await getOnce();
  const cpu = process.cpuUsage(cpuBefore);
  const wallUs = Number(process.hrtime.bigint() - wallBefore) / 1000;
  if (bytes !== requests * OBJECT_BYTES) throw new Error(`${label}: read ${bytes} bytes`);
  const perRequestUs = (cpu.user + cpu.system) / requests;
  console.log(
    `${label.padEnd(22)} client CPU ${perRequestUs.toFixed(1).padStart(6)} µs/GET (user ${(cpu.user / requests).toFixed(1)}, sys ${(cpu.system / requests).toFixed(1)}), wall ${(wallUs / requests).toFixed(1)} µs/GET`,
  );
  return perRequestUs;
}

async function main(): Promise<void> {
  const server = await startServer();
  const endpoint = `http://127.0.0.1:${server.port}`;

  const store = new S3Store({ bucket: "lane", endpoint, credentials: new StaticCredentials(CREDS), connections: 4 });
  const pool = new Pool(endpoint, { connections: 4, pipelining: 1 });
  const sdk = new S3Client({ region: "us-east-1", endpoint, forcePathStyle: true, credentials: CREDS });

  const viaStore = async () => {
    const r = await store.get("views/user/entity-000042.mp");
    return r.found ? r.body.length : 0;
  };
  const viaUndici = async () => {
    const r = await pool.request({ method: "GET", path: "/lane/views/user/entity-000042.mp" });
    return Buffer.from(await r.body.arrayBuffer()).length;
  };
  const viaSdk = async () => {
    const r = await sdk.send(new GetObjectCommand({ Bucket: "lane", Key: "views/user/entity-000042.mp" }));
    return (await r.Body!.transformToByteArray()).length;
  };

  console.log(`node ${process.version}, ${REQUESTS} sequential 4 KB GETs per measurement, ${ROUNDS} rounds`);
  const results: Record<string, number[]> = { store: [], undici: [], sdk: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    console.log(`round ${round}`);
    results.store!.push(await measure("S3Store (SigV4+undici)", REQUESTS, viaStore));
    results.undici!.push(await measure("raw undici (unsigned)", REQUESTS, viaUndici));
    results.sdk!.push(await measure("AWS SDK GetObject", REQUESTS, viaSdk));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const store_ = median(results.store!);
  const undici_ = median(results.undici!);
  const sdk_ = median(results.sdk!);
  console.log(`median: S3Store ${store_.toFixed(1)} µs, raw undici ${undici_.toFixed(1)} µs, SDK ${sdk_.toFixed(1)} µs → SDK/S3Store = ${(sdk_ / store_).toFixed(1)}×`);

  await store.close();
  await pool.close();
  sdk.destroy();
  server.stop();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
