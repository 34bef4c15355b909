/**
 * Client CPU per 4 KB GET: S3Store (its reads on the lane's own HTTP/1.1 client, the default, and
 * on undici, `readClient: "undici"`) vs raw undici vs the AWS SDK's GetObject, in one run, in two
 * request shapes:
 *
 * - `seq`: sequential GETs (c=1) — a single read's store GET, the per-request cost with nothing
 *   to amortise;
 * - `wave`: waves of 100 concurrent GETs over 128 connections — a 100-entity batch read's store
 *   wave (the runtime issues a batch's GETs at once, runtime/server.ts).
 *
 * Next to them, a bare HTTP/1.1 client on `net` sockets (a prebuilt request, a response parser
 * that knows only Content-Length): not a product path, the floor any Node client reaches on this
 * socket path, so the doc can say how much of S3Store's cost is the library and how much the
 * kernel and the event loop.
 *
 *   npx esbuild bench/store-client.ts --bundle --platform=node --outfile=/tmp/store-client.js && node /tmp/store-client.js [requests=3000] [rounds=3]
 *   npx tsx bench/store-client.ts [requests] [rounds]     (from sources: every cross-module access is a getter, read ratios only)
 *
 * The server (a bare node:http answering every GET with the same 4 KB and S3's response headers)
 * runs in a child process so its CPU is not counted: process.cpuUsage() here is client-only
 * (user+sys). Rounds alternate the order of the clients; medians are printed.
 */
import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { cpus, loadavg } from "node:os";
import { Pool } from "undici";
import { S3Client, GetObjectCommand } from "@aws-sdk/client-s3";
import { S3Store } from "../runtime/store/s3-store";
import { StaticCredentials } from "../runtime/store/credentials";

const REQUESTS = Number(process.argv[2] ?? 3000);
const ROUNDS = Number(process.argv[3] ?? 3);
const OBJECT_BYTES = 4096;
const WAVE = 100;
const CONNECTIONS = 128; // the runtime's default --store-connections
const CREDS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

const SERVER_SOURCE = `
const http = require("node:http");
const body = Buffer.alloc(${OBJECT_BYTES}, 120);
const server = http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, { "x-amz-id-2": "b2NrZXQtaWQtMi1zdGFuZC1pbi1mb3ItczMtZXhwcmVzcy1yZXNwb25zZQ==", "x-amz-request-id": "0033eada6b00018d", "content-type": "application/octet-stream", "content-length": body.length, etag: '"bench"', "last-modified": new Date(0).toUTCString(), server: "AmazonS3" });
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

/**
 * The floor: one keep-alive socket, requests written as prebuilt latin1 strings, responses split
 * by Content-Length only (no chunked, no validation). Enough for this server, nothing else.
 */
class BareHttpConnection {
  private readonly socket: Socket;
  private readonly waiting: Array<(body: Buffer) => void> = [];
  private pending: Buffer | null = null;

  constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.setNoDelay(true);
    this.socket.on("data", (chunk: Buffer) => this.onData(chunk));
  }

  get(request: string): Promise<Buffer> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.socket.write(request, "latin1");
    });
  }

  private onData(chunk: Buffer): void {
    let data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    while (data.length > 0) {
      const headEnd = data.indexOf("\r\n\r\n");
      if (headEnd < 0) break;
      const head = data.toString("latin1", 0, headEnd);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      const end = headEnd + 4 + length;
      if (data.length < end) break;
      this.waiting.shift()!(data.subarray(headEnd + 4, end));
      data = data.subarray(end);
    }
    if (data.length > 0) this.pending = data;
  }

  close(): void {
    this.socket.destroy();
  }
}

type Get = (i: number) => Promise<number>;

async function measure(label: string, shape: "seq" | "wave", get: Get): Promise<number> {
  const run = async (count: number): Promise<number> => {
    let bytes = 0;
    if (shape === "seq") for (let i = 0; i < count; i++) bytes += await get(i);
    else
      for (let w = 0; w < count / WAVE; w++) {
        const sizes = await Promise.all(Array.from({ length: WAVE }, (_, j) => get(w * WAVE + j)));
        for (const s of sizes) bytes += s;
      }
    return bytes;
  };
  await run(500); // warm-up: JIT, connections
  const cpuBefore = process.cpuUsage();
  const wallBefore = process.hrtime.bigint();
  const bytes = await run(REQUESTS);
  const cpu = process.cpuUsage(cpuBefore);
  const wallUs = Number(process.hrtime.bigint() - wallBefore) / 1000;
  if (bytes !== REQUESTS * OBJECT_BYTES) throw new Error(`${label}: read ${bytes} bytes`);
  const perRequestUs = (cpu.user + cpu.system) / REQUESTS;
  console.log(
    `  ${label.padEnd(24)} ${shape.padEnd(4)} client CPU ${perRequestUs.toFixed(1).padStart(6)} µs/GET (user ${(cpu.user / REQUESTS).toFixed(1)}, sys ${(cpu.system / REQUESTS).toFixed(1)}), wall ${(wallUs / REQUESTS).toFixed(1)} µs/GET`,
  );
  return perRequestUs;
}

async function main(): Promise<void> {
  const server = await startServer();
  const endpoint = `http://127.0.0.1:${server.port}`;

  const store = new S3Store({ bucket: "lane", endpoint, credentials: new StaticCredentials(CREDS), connections: CONNECTIONS });
  const storeOnUndici = new S3Store({ bucket: "lane", endpoint, credentials: new StaticCredentials(CREDS), connections: CONNECTIONS, readClient: "undici" });
  const pool = new Pool(endpoint, { connections: CONNECTIONS, pipelining: 1 });
  const sdk = new S3Client({ region: "us-east-1", endpoint, forcePathStyle: true, credentials: CREDS });
  const bare = Array.from({ length: WAVE }, () => new BareHttpConnection(server.port));
  const key = (i: number) => `views/user/entity-${String(i % 2000).padStart(6, "0")}.mp`;
  // What S3Store sends, minus a fresh signature: the same header names and sizes.
  const bareRequest = (i: number) =>
    `GET /lane/${key(i)} HTTP/1.1\r\nhost: 127.0.0.1:${server.port}\r\nx-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\nx-amz-date: 20261202T000000Z\r\nauthorization: AWS4-HMAC-SHA256 Credential=S3RVER/20261202/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n\r\n`;

  const clients: Array<{ label: string; get: Get; shapes: ReadonlyArray<"seq" | "wave"> }> = [
    {
      label: "S3Store (lane client)",
      get: async (i) => {
        const r = await store.get(key(i));
        return r.found ? r.body.length : 0;
      },
      shapes: ["seq", "wave"],
    },
    {
      label: "S3Store (undici)",
      get: async (i) => {
        const r = await storeOnUndici.get(key(i));
        return r.found ? r.body.length : 0;
      },
      shapes: ["seq", "wave"],
    },
    {
      label: "raw undici (unsigned)",
      get: async (i) => {
        const r = await pool.request({ method: "GET", path: `/lane/${key(i)}` });
        return Buffer.from(await r.body.arrayBuffer()).length;
      },
      shapes: ["seq", "wave"],
    },
    { label: "bare net client (floor)", get: async (i) => (await bare[i % WAVE].get(bareRequest(i))).length, shapes: ["seq", "wave"] },
    {
      label: "AWS SDK GetObject",
      get: async (i) => {
        const r = await sdk.send(new GetObjectCommand({ Bucket: "lane", Key: key(i) }));
        return (await r.Body!.transformToByteArray()).length;
      },
      shapes: ["seq"],
    },
  ];

  console.log(
    `node ${process.version}, ${cpus().length} × ${cpus()[0]?.model}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}; ${REQUESTS} 4 KB GETs per measurement (seq: one at a time; wave: ${WAVE} at once over ${CONNECTIONS} connections), ${ROUNDS} rounds`,
  );
  const results = new Map<string, number[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    console.log(`round ${round}`);
    const order = round % 2 === 1 ? clients : [...clients].reverse();
    for (const c of order)
      for (const shape of c.shapes) {
        const name = `${c.label} ${shape}`;
        results.set(name, [...(results.get(name) ?? []), await measure(c.label, shape, c.get)]);
      }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log("medians, client CPU µs per GET:");
  for (const shape of ["seq", "wave"] as const) {
    const floor = median(results.get(`bare net client (floor) ${shape}`)!);
    for (const c of clients) {
      const xs = results.get(`${c.label} ${shape}`);
      if (xs) console.log(`  ${shape.padEnd(4)} ${c.label.padEnd(24)} ${median(xs).toFixed(1).padStart(6)} µs (${(median(xs) / floor).toFixed(2)}× the floor)`);
    }
  }
  console.log(
    `load average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );

  for (const b of bare) b.close();
  await store.close();
  await storeOnUndici.close();
  await pool.close();
  sdk.destroy();
  server.stop();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
