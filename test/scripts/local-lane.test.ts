// `npm start` on a machine where things are already running: a busy port is a one-line error
// before anything is built; a restart on the same data dir does not rewrite the demo objects.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBundles } from "../../dev/build";
import { LANE_BUNDLES, startLane } from "../../dev/lane/processes";
import { portProblem } from "../../scripts/local-lane";

const ROOT = join(__dirname, "../..");

describe("npm start (scripts/local-lane.ts)", () => {
  let busy: Server;
  let port: number;
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
    port = (busy.address() as { port: number }).port;
  });
  afterAll(() => busy.close());

  it("says a port is in use, or not a port, and that 0 is free", async () => {
    expect(await portProblem(port)).toBe("is already in use");
    expect(await portProblem(70000)).toBe("is not a port number");
    expect(await portProblem(0)).toBeUndefined();
  });

  it("stops at once with one line when the runtime port is taken (no build, no load)", () => {
    const started = Date.now();
    const r = spawnSync(
      process.execPath,
      [join(ROOT, "node_modules/tsx/dist/cli.mjs"), "scripts/local-lane.ts", "--port", String(port), "--data-dir", join(tmpdir(), "never-used")],
      { cwd: ROOT, encoding: "utf8", timeout: 60_000 },
    );
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`npm start: --port ${port} is already in use (choose another: npm start -- --port <n>)`);
    expect(r.stdout).not.toMatch(/building bundles/);
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);

  it("a restart on the same data dir does not rewrite the demo objects when they are fresh", async () => {
    await buildBundles(LANE_BUNDLES);
    const dir = mkdtempSync(join(tmpdir(), "lane-restart-"));
    try {
      let loads = 0;
      const first = await startLane({ dataDir: dir, port: 0, demoEntities: 30, quiet: true, onProgress: () => loads++ });
      await first.stop();
      expect(loads).toBeGreaterThan(0);
      loads = 0;
      const second = await startLane({ dataDir: dir, port: 0, demoEntities: 30, quiet: true, onProgress: () => loads++ });
      const res = await fetch(`${second.url}/v1/features/user_profile/user_000029?features=country`);
      await second.stop();
      expect(loads).toBe(0);
      expect(res.status).toBe(200);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
