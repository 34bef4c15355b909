import { mkdtempSync, rmSync } from "node:fs";
import { createServer, Server, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Signer } from "../../enclave/signer";
import { SignerClient } from "../../runtime/signer-client";
import { LaneError } from "../../wire/errors";
import { DEFAULT_REGISTRY } from "../../registry/views";
import { encodeFrame, FrameKind, FRAME_PROTOCOL_VERSION } from "../../wire/frames";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "signer-client-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("runtime/signer-client", () => {
  it("multiplexes many requests over one connection and matches replies by id", async () => {
    const socketPath = join(dir, "a.sock");
    const signer = new Signer({ registry: DEFAULT_REGISTRY });
    const server = await signer.listen(socketPath);
    let connections = 0;
    server.on("connection", () => connections++);
    const client = new SignerClient({ socketPath });
    await client.ready();
    const entities = Array.from({ length: 500 }, (_, i) => `e${i}`);
    try {
      const replies = await Promise.all(entities.map((e) => client.signRead({ method: "GET", path: `/v1/features/user_profile/${e}`, query: "", objects: [null] })));
      replies.forEach((r, i) => expect(JSON.parse(Buffer.from(r.body).toString()).entity).toBe(entities[i]));
      expect(replies.every((r) => r.status === 404)).toBe(true);
      expect(connections).toBe(1);
      expect(client.inFlight).toBe(0);
    } finally {
      client.close();
      server.close();
    }
  });

  it("surfaces signer rejections as LaneErrors with the signer's code and the catalog's status", async () => {
    const socketPath = join(dir, "b.sock");
    const server = await new Signer({ registry: DEFAULT_REGISTRY }).listen(socketPath);
    const client = new SignerClient({ socketPath });
    await client.ready();
    await expect(client.signRead({ method: "GET", path: "/v1/features/BAD/e", query: "", objects: [null] })).rejects.toMatchObject({ code: "bad_view", status: 400 });
    await expect(client.signRead({ method: "GET", path: "/v1/features/user_profile/e", query: "", objects: [] })).rejects.toBeInstanceOf(LaneError);
    client.close();
    server.close();
  });

  it("fails fast while disconnected, times out a stalled signer, and reconnects through the transport seam", async () => {
    const socketPath = join(dir, "c.sock");
    // A "signer" that accepts, answers KeyInfo once, then stalls: requests must time out, not hang.
    const real = new Signer({ registry: DEFAULT_REGISTRY });
    let stall = false;
    const server: Server = createServer((socket) => {
      socket.on("data", async (chunk: Buffer) => {
        if (stall) return;
        stall = true;
        // Answers the Hello the way the signer does, then never again.
        socket.write(encodeFrame(chunk.readUInt32BE(4), FrameKind.Reply, { ...real.key.info, role: "read", protocol: FRAME_PROTOCOL_VERSION }));
      });
    });
    await new Promise<void>((r) => server.listen(socketPath, r));
    let opened = 0;
    const client = new SignerClient({
      socketPath,
      timeoutMs: 100,
      connect: () => {
        opened++;
        return connect(socketPath);
      },
    });
    await client.ready();
    await expect(client.signRead({ method: "GET", path: "/v1/features/user_profile/e", query: "", objects: [null] })).rejects.toThrow(/timed out/);
    server.close();
    // Drop the connection: calls fail at once with signer_unavailable.
    (client as unknown as { socket: { destroy(): void } }).socket.destroy();
    await new Promise((r) => setTimeout(r, 10));
    await expect(client.signRead({ method: "GET", path: "/v1/features/user_profile/e", query: "", objects: [null] })).rejects.toMatchObject({
      code: "signer_unavailable",
      status: 503,
    });
    // A real signer comes back on the same path: the client reconnects by itself.
    rmSync(socketPath, { force: true });
    const back = await new Signer({ registry: DEFAULT_REGISTRY }).listen(socketPath);
    const key = await client.ready(2000);
    expect(key.keyid).not.toBe(real.key.keyid);
    expect(opened).toBeGreaterThanOrEqual(2);
    client.close();
    back.close();
  });
});
