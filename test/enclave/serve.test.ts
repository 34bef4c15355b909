/**
 * enclave/serve.ts in process: the flag parsers both signer entry points share, and serveSigner's
 * start-up (key state from dev files and a signed directory, a signed registry document, lane keys,
 * one attestation before ready, a stale socket replaced, the ready line) and its shutdown. The
 * entry points themselves run as processes in test/e2e.
 */
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { SigningKey } from "../../enclave/key";
import { LocalNsm } from "../../enclave/nsm/local-nsm";
import { fail, parseValidity, parseWorkers, serveSigner, type ServeOptions } from "../../enclave/serve";
import { DEFAULT_REGISTRY, DEFAULT_REGISTRY_REF } from "../../registry/views";
import { SignerClient } from "../../runtime/signer-client";
import { directoryOf, listed, testAdmin, testWriterKey } from "../helpers/key-directory";
import { signedRegistry, smallView } from "../helpers/registry-document";

// The ready line is the contract the local lane (dev/lane) and systemd logs read: capture it.
const logged: { level: "info" | "warn"; fields: unknown; message?: string }[] = [];
jest.mock("pino", () => ({
  __esModule: true,
  default: () => ({
    info: (fields: unknown, message?: string) => logged.push({ level: "info", fields, message }),
    warn: (fields: unknown, message?: string) => logged.push({ level: "warn", fields, message }),
  }),
}));

describe("flag parsers", () => {
  it("parseValidity takes whole seconds in 1..3600 and refuses the rest", () => {
    expect(parseValidity("1")).toBe(1);
    expect(parseValidity("60")).toBe(60);
    expect(parseValidity("3600")).toBe(3600);
    for (const bad of ["0", "3601", "1.5", "-5", "sixty", "", "1e9"]) expect(() => parseValidity(bad)).toThrow(/--validity must be an integer between 1 and 3600/);
  });

  it("parseWorkers takes 1..64 or auto (one per usable vCPU, capped at 64)", () => {
    expect(parseWorkers("1")).toBe(1);
    expect(parseWorkers("64")).toBe(64);
    expect(parseWorkers("auto")).toBe(Math.min(64, availableParallelism()));
    for (const bad of ["0", "65", "2.5", "AUTO", "", "many"]) expect(() => parseWorkers(bad)).toThrow(/--workers must be auto or an integer between 1 and 64/);
  });
});

describe("fail", () => {
  it("writes the error's stack to stderr and exits 1", () => {
    const write = jest.spyOn(process.stderr, "write").mockImplementation(() => true);
    const exit = jest.spyOn(process, "exit").mockImplementation((() => undefined) as never);
    try {
      fail(new Error("no trust config"));
      fail("a thrown string");
      expect(write.mock.calls[0][0]).toMatch(/^signer failed: Error: no trust config\n {4}at /);
      expect(write.mock.calls[1][0]).toBe("signer failed: a thrown string\n");
      expect(exit.mock.calls).toEqual([[1], [1]]);
    } finally {
      write.mockRestore();
      exit.mockRestore();
    }
  });
});

describe("serveSigner", () => {
  const LANE = "test-lane";
  let dir: string;
  let count = 0;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "serve-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    logged.length = 0;
  });
  // A test that fails half-way still stops its signer (an open socket would keep jest running).
  type Listener = NodeJS.SignalsListener;
  type Handlers = { term: Listener[]; int: Listener[] };
  const running = new Set<Handlers>();
  afterEach(() => {
    for (const handlers of running) stop(handlers);
  });

  /** Starts a signer and returns it with the SIGTERM/SIGINT handlers it installed. */
  async function serve(options: Partial<ServeOptions> & Pick<ServeOptions, "trust">) {
    const n = ++count;
    const devCaDir = join(dir, `ca-${n}`);
    const listeners = (signal: NodeJS.Signals) => process.listeners(signal) as Listener[];
    const before = { term: listeners("SIGTERM"), int: listeners("SIGINT") };
    const socket = join(dir, `s-${n}.sock`);
    await serveSigner({
      socket,
      validitySeconds: 30,
      nsm: new LocalNsm({ bundlePath: __filename, devCaDir }),
      defaultRegistry: { registry: DEFAULT_REGISTRY, ref: DEFAULT_REGISTRY_REF },
      ...options,
    });
    const added = (signal: NodeJS.Signals, had: Listener[]) => listeners(signal).filter((l) => !had.includes(l));
    const handlers = { term: added("SIGTERM", before.term), int: added("SIGINT", before.int) };
    running.add(handlers);
    return { socket, devCaDir, handlers };
  }

  /** Runs the installed stop handler (process.exit stubbed) and removes both handlers; the exit codes it asked for. */
  function stop(handlers: Handlers, signal: "term" | "int" = "term"): unknown[][] {
    running.delete(handlers);
    const exit = jest.spyOn(process, "exit").mockImplementation((() => undefined) as never);
    try {
      handlers[signal][0]!(signal === "term" ? "SIGTERM" : "SIGINT");
      return [...exit.mock.calls];
    } finally {
      exit.mockRestore();
      for (const l of handlers.term) process.removeListener("SIGTERM", l);
      for (const l of handlers.int) process.removeListener("SIGINT", l);
    }
  }

  it("starts from dev files, a signed directory, a registry document and lane keys; says ready once; stops on SIGTERM", async () => {
    const admin = testAdmin();
    const writer = testWriterKey("loader");
    const now = Date.now();
    const directory = await admin.sign(directoryOf(LANE, 7, now, [listed(writer)]));
    const registryDocument = await signedRegistry(admin, { lane: LANE, version: 3, views: [smallView("clicks")] }, now);
    const { privateKey } = generateKeyPairSync("ed25519");
    const laneKid = SigningKey.fromPrivateKey(privateKey).keyid;

    const started = await serve({
      trust: { lane: LANE, adminKeys: [admin.entry] },
      devKeys: [{ kid: writer.kid, key: writer.key }],
      initialDirectory: directory,
      initialRegistryDocument: registryDocument,
      devLaneKeys: [{ kid: laneKid, privateKey, notBefore: now - 60_000, notAfter: now + 3_600_000 }],
    });
    // A stale socket file from a previous run does not stop the next one (tested below); here the
    // socket is live and the dev CA exists: one attestation ran before ready.
    expect(existsSync(started.socket)).toBe(true);
    expect(existsSync(started.devCaDir)).toBe(true);
    expect(started.handlers.term).toHaveLength(1);
    expect(started.handlers.int).toHaveLength(1);

    expect(logged.filter((l) => l.level === "warn")).toEqual([]);
    expect(logged).toHaveLength(1);
    const client = new SignerClient({ socketPath: started.socket });
    try {
      await client.ready();
      expect(logged[0]).toEqual({
        level: "info",
        message: "signer ready",
        fields: {
          event: "signer_ready",
          socket: started.socket,
          keyid: client.keyInfo!.keyid,
          signing_keyid: laneKid,
          nsm: "local",
          lane: LANE,
          lane_keys: [laneKid],
          workers: 1,
          key_epoch: 7,
          registry_version: 3,
          registry_digest: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
          seal_kids: [writer.kid],
        },
      });
      // The registry document replaced the image default: its view answers, the default's does not.
      const read = await client.signRead({ method: "GET", path: "/v1/features/clicks/u1", query: "", objects: [null] });
      expect(read.status).toBe(404);
      expect(read.signatureInput).toContain(`keyid="${laneKid}"`);
      await expect(client.signRead({ method: "GET", path: "/v1/features/user_profile/u1", query: "", objects: [null] })).rejects.toMatchObject({ code: "unknown_view" });
    } finally {
      client.close();
    }

    expect(stop(started.handlers)).toEqual([[0]]);
    expect(existsSync(started.socket)).toBe(false);
  });

  it("with no key directory: replaces a stale socket, warns that everything will be refused, signs with its own key, stops on SIGINT", async () => {
    const admin = testAdmin();
    const stale = join(dir, `s-${count + 1}.sock`);
    writeFileSync(stale, "left over from a crashed run");
    const started = await serve({ trust: { lane: LANE, adminKeys: [admin.entry] } });
    expect(started.socket).toBe(stale);
    expect(logged.map((l) => [l.level, l.message ?? l.fields])).toEqual([
      ["warn", "no key directory yet; every stored object and push is refused until the host provisions one"],
      ["info", "signer ready"],
    ]);
    const ready = logged[1].fields as Record<string, unknown>;
    expect(ready).toMatchObject({ key_epoch: 0, seal_kids: [], lane_keys: [], registry_version: DEFAULT_REGISTRY_REF.version, registry_digest: DEFAULT_REGISTRY_REF.digest });
    expect(ready.signing_keyid).toBe(ready.keyid);
    expect(ready).not.toHaveProperty("seal_kms_key");

    const client = new SignerClient({ socketPath: started.socket });
    try {
      await client.ready();
      const read = await client.signRead({ method: "GET", path: "/v1/features/user_profile/u1", query: "", objects: [null] });
      expect(read.signatureInput).toContain(`keyid="${ready.keyid as string}"`);
    } finally {
      client.close();
    }
    expect(stop(started.handlers, "int")).toEqual([[0]]);
    expect(existsSync(started.socket)).toBe(false);
  });

  it("fails closed before listening on a directory or registry document the pinned admin keys did not sign", async () => {
    const admin = testAdmin();
    const stranger = testAdmin("admin-stranger");
    const now = Date.now();
    const trust = { lane: LANE, adminKeys: [admin.entry] };
    const sockets = [join(dir, `s-${count + 1}.sock`), join(dir, `s-${count + 2}.sock`)];
    await expect(serve({ trust, initialDirectory: await stranger.sign(directoryOf(LANE, 1, now, [])) })).rejects.toMatchObject({ code: "bad_key_directory" });
    await expect(serve({ trust, initialRegistryDocument: await signedRegistry(stranger, { lane: LANE, version: 1 }, now) })).rejects.toMatchObject({
      code: "bad_registry_document",
    });
    // Another lane's directory, correctly signed, is refused too.
    await expect(serve({ trust, initialDirectory: await admin.sign(directoryOf("other-lane", 1, now, [])) })).rejects.toThrow(/this image serves test-lane/);
    expect(sockets.filter(existsSync)).toEqual([]);
    expect(logged).toEqual([]);
  });
});
