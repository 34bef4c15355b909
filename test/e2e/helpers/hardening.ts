/** Shared bits of the hardening e2e tests: raw requests, the error shape, signature checks. */
import { createServer, Server, Socket, connect } from "node:net";
import { Pool } from "undici";
import { Unpackr } from "msgpackr";
import { verifyResponse } from "../../../verifier/response";
import type { Ed25519Jwk } from "../../../wire/keys";

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  ms: number;
  error?: string;
}

export async function request(pool: Pool, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Answer> {
  const t0 = performance.now();
  try {
    const res = await pool.request({ method: method as "GET", path, headers, body });
    const buf = Buffer.from(await res.body.arrayBuffer());
    const h: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) h[k] = Array.isArray(v) ? v.join(", ") : String(v);
    return { status: res.statusCode, headers: h, body: buf, ms: performance.now() - t0 };
  } catch (err) {
    return { status: 0, headers: {}, body: Buffer.alloc(0), ms: performance.now() - t0, error: (err as Error).message };
  }
}

/** An unsigned runtime error: exactly {error:{code,message}}. Returns the code or a complaint. */
export function errorShape(a: Answer): { code?: string; problem?: string } {
  let parsed: unknown;
  try {
    parsed = a.headers["content-type"] === "application/msgpack" ? new Unpackr({ useRecords: false, mapsAsObjects: true }).unpack(a.body) : JSON.parse(a.body.toString("utf8"));
  } catch {
    return { problem: `status ${a.status}: body is not JSON: ${a.body.toString("utf8").slice(0, 80)}` };
  }
  const p = parsed as { error?: { code?: unknown; message?: unknown } };
  const keys = Object.keys(parsed as object);
  const signed = a.headers["signature"] !== undefined;
  if (!p.error || typeof p.error.code !== "string" || typeof p.error.message !== "string") return { problem: `status ${a.status}: no {error:{code,message}}` };
  if (!signed && (keys.length !== 1 || Object.keys(p.error).length !== 2)) return { problem: `status ${a.status}: extra fields ${keys.join(",")}` };
  return { code: p.error.code };
}

/**
 * The signer key as a runtime knows it. A freshly spawned runtime answers 503 here until its signer
 * connection is up, so wait for the 200 instead of reading an error as a key.
 */
export async function signerKeyOf(url: string): Promise<Ed25519Jwk> {
  for (let i = 0; i < 500; i++) {
    const res = await fetch(`${url}/v1/signer`);
    if (res.status === 200) return ((await res.json()) as { jwk: Ed25519Jwk }).jwk;
    await res.arrayBuffer();
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${url} never learned its signer key`);
}

/** `body`: the request body as sent; required for POST (envelope v2 binds the answer to it). */
export function verifies(a: Answer, method: string, target: string, key: Ed25519Jwk, body?: Uint8Array): string | null {
  const q = target.indexOf("?");
  const path = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? "" : target.slice(q);
  try {
    verifyResponse({ status: a.status, headers: a.headers, body: a.body }, { method, path, query, body }, { key, skewSeconds: 30 });
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * A TCP proxy between the runtime and the store, to make the store slow or unreachable:
 *   pass      — forward both ways
 *   delay     — forward, each client→store chunk held `delayMs`
 *   blackhole — accept, never forward (the store "hangs")
 *   refuse    — close every connection at once (the store is "down")
 */
export class FaultProxy {
  mode: "pass" | "delay" | "blackhole" | "refuse" = "pass";
  delayMs = 0;
  private server!: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly upstreamPort: number) {}

  async start(): Promise<string> {
    this.server = createServer((client) => {
      if (this.mode === "refuse") {
        client.destroy();
        return;
      }
      const upstream = connect(this.upstreamPort, "127.0.0.1");
      this.sockets.add(client).add(upstream);
      const close = (): void => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on("error", close).on("close", close);
      upstream.on("error", close).on("close", close);
      client.on("data", (chunk) => {
        if (this.mode === "blackhole") return;
        if (this.mode === "delay") setTimeout(() => upstream.writable && upstream.write(chunk), this.delayMs);
        else upstream.write(chunk);
      });
      upstream.on("data", (chunk) => client.writable && client.write(chunk));
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = (this.server.address() as { port: number }).port;
    return `http://127.0.0.1:${this.port}`;
  }

  setMode(mode: FaultProxy["mode"], delayMs = 0): void {
    this.mode = mode;
    this.delayMs = delayMs;
    if (mode === "refuse" || mode === "blackhole") for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

export function portOf(url: string): number {
  return Number(new URL(url).port);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
