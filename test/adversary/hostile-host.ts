// The adversary: a compromised parent host. It starts the REAL signer process (dist/dev-signer.js,
// the same signer code as the enclave image, with the local NSM twin), opens the signer's socket
// itself and speaks the frame protocol byte for byte — no runtime, no API-key gate, nothing that
// would stop it. Every attack in this folder is something this host tries; each must fail, next
// to a test showing the legitimate path still works.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBundles } from "../../dev/build";
import { writeSealKeyFile } from "../../enclave/seal";
import { decodeErrorReply, encodeFrame, FrameDecoder, FrameKind, FRAME_PROTOCOL_VERSION, type ChannelRole, type ErrorReply, type Frame } from "../../wire/frames";
import { directoryOf, listed, testAdmin, testWriterKey, type TestAdmin, type TestWriterKey } from "../helpers/key-directory";
import type { DirectoryKey } from "../../wire/key-directory";

export const LANE = "adversary";

/** One connection the hostile host opened, in a role it declared (or none, if it skips Hello). */
export class HostConnection {
  private readonly decoder = new FrameDecoder();
  private readonly waiting = new Map<number, (frame: Frame) => void>();
  private nextId = 1;
  closed: Promise<void>;

  constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      for (const frame of this.decoder.push(chunk)) this.waiting.get(frame.id)?.(frame);
    });
    this.closed = new Promise((resolve) => socket.on("close", () => resolve()));
    socket.on("error", () => undefined);
  }

  /** Send one frame, wait for its reply frame (or the connection closing). */
  request(kind: FrameKind, message: unknown, timeoutMs = 10_000): Promise<Frame | "closed"> {
    return this.requestBytes((id) => encodeFrame(id, kind, message), timeoutMs);
  }

  /** Send the frame `build` makes for a fresh request id (any bytes at all), wait for its reply frame. */
  requestBytes(build: (id: number) => Buffer, timeoutMs = 10_000): Promise<Frame | "closed"> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve("closed"), timeoutMs);
      this.waiting.set(id, (frame) => {
        clearTimeout(timer);
        resolve(frame);
      });
      void this.closed.then(() => {
        clearTimeout(timer);
        resolve("closed");
      });
      this.socket.write(build(id));
    });
  }

  /** A reply that must be an error frame: its ErrorReply. */
  async refused(kind: FrameKind, message: unknown): Promise<ErrorReply> {
    const reply = await this.request(kind, message);
    if (reply === "closed") throw new Error("connection closed instead of an error reply");
    if (reply.kind !== FrameKind.Error) throw new Error(`expected an error reply, got frame kind ${reply.kind}`);
    return decodeErrorReply(reply.payload);
  }

  /** A reply that must be a Reply frame: its payload. */
  async ok(kind: FrameKind, message: unknown): Promise<Uint8Array> {
    const reply = await this.request(kind, message);
    if (reply === "closed") throw new Error("connection closed");
    if (reply.kind !== FrameKind.Reply) throw new Error(`expected a reply, got ${JSON.stringify(decodeErrorReply(reply.payload))}`);
    return reply.payload;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Another writer key for startRealSigner: its material and its directory entry. */
export interface DirectoryKeyOf {
  readonly key: TestWriterKey;
  readonly entry: DirectoryKey;
}

export interface RealSigner {
  readonly dir: string;
  readonly socket: string;
  readonly admin: TestAdmin;
  /** The writer key the lane's writer holds (listed "write" in the first directory). */
  readonly writer: TestWriterKey;
  readonly child: ChildProcess;
  /** Open a connection and declare `role` (null: skip Hello). */
  open(role: ChannelRole | null): Promise<HostConnection>;
  stop(): void;
}

/**
 * `extraArgs`: more dev-signer flags (e.g. `--workers 2`, `--trace-stages`). `otherWriters`: more
 * writer keys the signer holds, listed in the first directory as given (a dev signer reads its key
 * files once, at start, and keeps material only for listed kids).
 */
export async function startRealSigner(extraArgs: readonly string[] = [], otherWriters: readonly DirectoryKeyOf[] = []): Promise<RealSigner> {
  await buildBundles(["dev-signer"]);
  const dir = mkdtempSync(join(tmpdir(), "el-adversary-"));
  const admin = testAdmin();
  const writer = testWriterKey("loader");
  writeFileSync(join(dir, "trust.json"), JSON.stringify({ lane: LANE, adminKeys: [admin.entry] }));
  writeSealKeyFile(join(dir, "writer.json"), writer);
  otherWriters.forEach((w, i) => writeSealKeyFile(join(dir, `writer-${i}.json`), w.key));
  writeFileSync(join(dir, "directory.json"), await admin.sign(directoryOf(LANE, 1, Date.now(), [listed(writer), ...otherWriters.map((w) => w.entry)])));
  const socket = join(dir, "signer.sock");
  const child = spawn(
    process.execPath,
    [
      join(__dirname, "../../dist/dev-signer.js"),
      "--socket",
      socket,
      "--dev-ca-dir",
      join(dir, "dev-ca"),
      "--trust-config",
      join(dir, "trust.json"),
      "--writer-key-file",
      [join(dir, "writer.json"), ...otherWriters.map((_, i) => join(dir, `writer-${i}.json`))].join(","),
      "--key-directory",
      join(dir, "directory.json"),
      ...extraArgs,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  await new Promise<void>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`signer not ready: ${out}`)), 30_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes('"signer_ready"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", (code) => reject(new Error(`signer exited ${code}: ${out}`)));
  });
  const open = async (role: ChannelRole | null): Promise<HostConnection> => {
    const s = connect(socket);
    await new Promise<void>((resolve, reject) => s.once("connect", resolve).once("error", reject));
    const conn = new HostConnection(s);
    if (role !== null) await conn.ok(FrameKind.Hello, { role, protocol: FRAME_PROTOCOL_VERSION });
    return conn;
  };
  return {
    dir,
    socket,
    admin,
    writer,
    child,
    open,
    stop: () => {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
