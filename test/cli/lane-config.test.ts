import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { buildProgram } from "../../cli/main";
import { LaneConfigError } from "../../cli/lane-config";
import { writeLaneConfig, type LaneConfig } from "../../dev/lane-config";

/** The real program, with each command's action replaced by one that records what it was given. */
function capturing(): { program: Command; seen: () => { args: unknown[]; opts: Record<string, unknown> } } {
  const program = buildProgram().exitOverride();
  let seen: { args: unknown[]; opts: Record<string, unknown> } | undefined;
  for (const command of program.commands) {
    command.exitOverride();
    command.action(function (this: Command, ...args: unknown[]) {
      seen = { args: args.slice(0, -2), opts: this.opts() };
    });
  }
  return { program, seen: () => seen! };
}

function laneDir(overrides: Partial<LaneConfig> = {}): { dir: string; config: LaneConfig } {
  const dir = mkdtempSync(join(tmpdir(), "lane-config-"));
  const config: LaneConfig = {
    version: 1,
    url: "http://127.0.0.1:18080",
    store: { endpoint: "http://127.0.0.1:19000", bucket: "my-bucket", region: "us-east-1" },
    keys: {
      lane_jwks: join(dir, "keys/lane-keys.jwks.json"),
      writer_key: join(dir, "keys/seal-dev.json"),
      admin_key: join(dir, "keys/admin-dev.json"),
      directory: join(dir, "keys/directory.json"),
      trust_config: join(dir, "keys/trust.json"),
    },
    dev_ca_dir: join(dir, "dev-ca"),
    keyid: "kid-at-start",
    ...overrides,
  };
  writeLaneConfig(dir, config);
  return { dir, config };
}

async function run(args: string[], env: Record<string, string> = {}): Promise<{ args: unknown[]; opts: Record<string, unknown> }> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const { program, seen } = capturing();
    await program.parseAsync(args, { from: "user" });
    return seen();
  } finally {
    for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

describe("cli/lane-config: the local lane's lane.json gives the CLI its defaults", () => {
  const { dir, config } = laneDir();

  it("verify: a path is completed with the lane's URL, and the lane's JWKS and dev CA are the defaults", async () => {
    const r = await run(["verify", "/v1/features/user_profile/u1?features=country", "--data-dir", dir]);
    expect(r.args[0]).toBe(`${config.url}/v1/features/user_profile/u1?features=country`);
    expect(r.opts.key).toEqual([config.keys.lane_jwks]);
    expect(r.opts.devCa).toBe(config.dev_ca_dir);
  });

  it("explicit flags win: another URL, another key, or another trust anchor (--attest, --trust-on-first-use)", async () => {
    const other = await run(["verify", "http://elsewhere:1/v1/features/v/e", "--key", "pinned-kid", "--data-dir", dir]);
    expect(other.args[0]).toBe("http://elsewhere:1/v1/features/v/e");
    expect(other.opts.key).toEqual(["pinned-kid"]);
    expect((await run(["verify", "/v1/features/v/e", "--attest", "--data-dir", dir])).opts.key).toBeUndefined();
    expect((await run(["verify", "/v1/features/v/e", "--trust-on-first-use", "--data-dir", dir])).opts.key).toBeUndefined();
  });

  it("EXPRESS_LANE_DATA_DIR selects the data dir; environment variables of options win over lane.json", async () => {
    const load = await run(["load", "rows.jsonl", "--view", "user_profile"], { EXPRESS_LANE_DATA_DIR: dir, EXPRESS_LANE_REGION: "ap-south-1" });
    expect(load.opts).toEqual(expect.objectContaining({ endpoint: config.store.endpoint, bucket: "my-bucket", region: "ap-south-1", writerKeyFile: config.keys.writer_key }));
  });

  it("push and parity take the URL; push the writer key and the pinned key; attest the URL and dev CA", async () => {
    const push = await run(["push", "rows.jsonl", "--view", "user_profile", "--data-dir", dir]);
    expect(push.opts).toEqual(expect.objectContaining({ url: config.url, writerKeyFile: config.keys.writer_key, key: [config.keys.lane_jwks] }));
    expect((await run(["push", "rows.jsonl", "--view", "v", "--url", "http://x:1", "--data-dir", dir])).opts.url).toBe("http://x:1");
    expect((await run(["parity", "rows.jsonl", "--view", "v", "--data-dir", dir])).opts.url).toBe(config.url);
    const attest = await run(["attest", "--root", "local", "--any-pcrs", "--data-dir", dir]);
    expect(attest.args[0]).toBe(config.url);
    expect(attest.opts.devCa).toBe(config.dev_ca_dir);
    expect((await run(["attest", "--document", "doc.cbor", "--data-dir", dir])).args[0]).toBeUndefined();
  });

  it("apply takes the URL and the dev admin key, unless a KMS admin key is named", async () => {
    expect((await run(["apply", "views.yaml", "--data-dir", dir])).opts).toEqual(expect.objectContaining({ url: config.url, adminKeyFile: config.keys.admin_key }));
    expect((await run(["apply", "views.yaml", "--admin-key-kms", "arn:aws:kms:x", "--data-dir", dir])).opts.adminKeyFile).toBeUndefined();
  });

  it("a lane without a lane key: verify pins the keyid the lane started with", async () => {
    const { dir: d2 } = laneDir({ keys: { writer_key: "keys/seal-dev.json", admin_key: "a", directory: "d", trust_config: "t" } });
    const r = await run(["verify", "/v1/features/v/e", "--data-dir", d2]);
    expect(r.opts.key).toEqual(["kid-at-start"]);
    expect((await run(["push", "rows.jsonl", "--view", "v", "--data-dir", d2])).opts.writerKeyFile).toBe(join(d2, "keys/seal-dev.json"));
  });

  it("--data-dir without a lane.json is an error naming the folder; no lane.json in .lane leaves the built-in defaults", async () => {
    const empty = mkdtempSync(join(tmpdir(), "lane-config-empty-"));
    await expect(run(["verify", "/v1/features/v/e", "--data-dir", empty])).rejects.toThrow(LaneConfigError);
    await expect(run(["verify", "/v1/features/v/e", "--data-dir", empty])).rejects.toThrow(/no lane\.json in .*lane-config-empty-/);
    const cwd = process.cwd();
    process.chdir(empty);
    try {
      const r = await run(["push", "rows.jsonl", "--view", "v"]);
      expect(r.opts.url).toBe("http://127.0.0.1:8080");
      expect(r.opts.key).toBeUndefined();
    } finally {
      process.chdir(cwd);
    }
  });

  it("refuses a lane.json that is not one", async () => {
    const bad = mkdtempSync(join(tmpdir(), "lane-config-bad-"));
    writeFileSync(join(bad, "lane.json"), '{"url": 1}');
    await expect(run(["verify", "/v1/features/v/e", "--data-dir", bad])).rejects.toThrow(/not a lane\.json/);
  });
});
