/**
 * The common feature-server design, as a peer the benchmark starts next to the lane (issue #15
 * goal 2): a node:http server answering each GET with a 4 KB value read from Redis (unsigned), and
 * the floor — the same server answering a fixed 4 KB body. Driven with the same wrk settings as
 * the lane in the same run, so "lane ÷ peer" is a same-machine ratio.
 *
 * Redis is Debian's `redis-server`; without it only the floor runs and the run says so. The Redis
 * client is a few lines of RESP (GET only, one connection per server, pipelined in order) so the
 * peer adds no dependency; ioredis would be the production choice and costs about the same per GET.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer as createNetServer, type AddressInfo } from "node:net";

export const PEER_VALUE_BYTES = 4096;

export function findRedis(): string | undefined {
  for (const p of ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]) if (existsSync(p)) return p;
  const which = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" });
  return which.status === 0 && which.stdout.trim() ? which.stdout.trim() : undefined;
}

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** The peer's HTTP server, run in a child `node -e` (so its CPU is its own, like the lane's). */
const PEER_SOURCE = `
const http = require("node:http");
const net = require("node:net");
const [mode, port, redisPort, keys] = process.argv.slice(1);
const fixed = Buffer.alloc(${PEER_VALUE_BYTES}, 120);
let get;
if (mode === "redis") {
  const sock = net.connect(Number(redisPort), "127.0.0.1");
  sock.setNoDelay(true);
  const waiting = [];
  let buf = Buffer.alloc(0);
  sock.on("data", (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    for (;;) {
      if (buf.length < 3) return;
      const nl = buf.indexOf("\\r\\n");
      if (nl < 0) return;
      if (buf[0] === 0x24) { // $len\\r\\n<bytes>\\r\\n
        const len = Number(buf.subarray(1, nl).toString());
        if (len < 0) { buf = buf.subarray(nl + 2); waiting.shift()(null); continue; }
        if (buf.length < nl + 2 + len + 2) return;
        const v = buf.subarray(nl + 2, nl + 2 + len);
        buf = buf.subarray(nl + 4 + len);
        waiting.shift()(v);
      } else { buf = buf.subarray(nl + 2); waiting.shift()(null); }
    }
  });
  get = (key) => new Promise((r) => { waiting.push(r); sock.write("*2\\r\\n$3\\r\\nGET\\r\\n$" + Buffer.byteLength(key) + "\\r\\n" + key + "\\r\\n"); });
}
let i = 0;
const n = Number(keys);
http.createServer(async (req, res) => {
  const body = mode === "redis" ? await get("bench:" + ((i = (i + 7919) % n))) : fixed;
  if (!body) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": body.length });
  res.end(body);
}).listen(Number(port), "127.0.0.1", () => process.stdout.write("ready\\n"));
`;

function startNode(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["-e", PEER_SOURCE, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.stdout!.once("data", () => resolve(child));
    child.once("exit", (code) => reject(new Error(`peer exited ${code}`)));
  });
}

/** Load `keys` values of 4 KB into Redis with one pipelined write (RESP SET). */
async function seedRedis(port: number, keys: number): Promise<void> {
  const net = await import("node:net");
  const value = "x".repeat(PEER_VALUE_BYTES);
  const sock = net.connect(port, "127.0.0.1");
  await new Promise<void>((r, reject) => {
    sock.once("connect", () => r());
    sock.once("error", reject);
  });
  let replies = 0;
  const done = new Promise<void>((resolve) =>
    sock.on("data", (d: Buffer) => {
      for (const b of d) if (b === 0x0a) replies++;
      if (replies >= keys) resolve();
    }),
  );
  for (let i = 0; i < keys; i++) {
    const key = `bench:${i}`;
    sock.write(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${value.length}\r\n${value}\r\n`);
  }
  await done;
  sock.destroy();
}

export interface Peer {
  readonly floorUrl: string;
  /** Absent when redis-server is not installed. */
  readonly redisUrl?: string;
  readonly skipped?: string;
  stop(): Promise<void>;
}

export async function startPeer(keys: number): Promise<Peer> {
  const children: ChildProcess[] = [];
  const floorPort = await freePort();
  children.push(await startNode(["fixed", String(floorPort), "0", String(keys)]));
  const stop = async (): Promise<void> => {
    for (const c of children) c.kill("SIGKILL");
  };
  const redis = findRedis();
  if (!redis)
    return {
      floorUrl: `http://127.0.0.1:${floorPort}`,
      skipped: "redis-server not installed (Debian package redis-server): the node:http + Redis peer is skipped, only the fixed-body floor runs",
      stop,
    };
  try {
    const redisPort = await freePort();
    const server = spawn(redis, ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    children.push(server);
    for (let t = 0; t < 50; t++) {
      try {
        await seedRedis(redisPort, keys);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const peerPort = await freePort();
    children.push(await startNode(["redis", String(peerPort), String(redisPort), String(keys)]));
    return { floorUrl: `http://127.0.0.1:${floorPort}`, redisUrl: `http://127.0.0.1:${peerPort}`, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** wrk's script for the peer: plain GETs of "/" (the peer rotates keys itself). */
export const PEER_SCRIPT = `request = function()\n  return wrk.format("GET", "/")\nend\n`;
