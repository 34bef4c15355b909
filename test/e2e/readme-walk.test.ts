/**
 * The README's first-run walk, as written, against the real lane: the lines between
 * `<!-- readme-walk:start -->` and `<!-- readme-walk:end -->` run in bash, step by step, with only
 * two substitutions — the lane's URL for http://127.0.0.1:8080 (the test's lane listens on a free
 * port) and `express-lane` (bin/express-lane.js) for `npx express-lane` (the steps run in a scratch
 * folder, outside this package). The lane is started by startLane, what `npm start` runs, with
 * `EXPRESS_LANE_DATA_DIR` pointing at its data dir so lane.json gives every command its defaults.
 */
import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBundles } from "../../dev/build";
import { startLane, type Lane } from "../../dev/lane/processes";
import { requireTool } from "../helpers/os-tools";

const ROOT = join(__dirname, "../..");
const hasCurl = requireTool("curl", "the README walk's curl steps");

/** The README's walk: step name → its shell lines. */
export function readmeWalk(readme: string): { name: string; script: string }[] {
  const block = /<!-- readme-walk:start -->\s*```sh\n([\s\S]*?)```\s*<!-- readme-walk:end -->/.exec(readme);
  if (!block) throw new Error("README.md has no readme-walk block");
  const steps: { name: string; script: string }[] = [];
  for (const line of block[1]!.split("\n")) {
    const step = /^# step: ([a-z -]+?)(?: —.*)?$/.exec(line);
    if (step) steps.push({ name: step[1]!.trim(), script: "" });
    else if (steps.length > 0) steps[steps.length - 1]!.script += `${line}\n`;
  }
  return steps;
}

let lane: Lane;
let dir: string;

beforeAll(async () => {
  await buildBundles(["runtime", "dev-signer", "local-store"]);
  dir = mkdtempSync(join(tmpdir(), "readme-walk-"));
  lane = await startLane({ dataDir: join(dir, "lane"), port: 0, demoEntities: 50, quiet: true, laneKey: true });
}, 120_000);

afterAll(async () => {
  await lane?.stop();
  rmSync(dir, { recursive: true, force: true });
});

(hasCurl ? describe : describe.skip)("the README walk", () => {
  it("runs every step as written: read, verify, define a view, apply, load, push, read back, parity, metrics", async () => {
    const steps = readmeWalk(readFileSync(join(ROOT, "README.md"), "utf8"));
    expect(steps.map((s) => s.name)).toEqual(["read", "verify", "define a view", "apply", "load", "push", "read back", "parity", "metrics"]);

    const bin = join(dir, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "express-lane"), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, "bin/express-lane.js")}" "$@"\n`);
    chmodSync(join(bin, "express-lane"), 0o755);
    const work = join(dir, "work");
    mkdirSync(work);
    // One bash process (shell variables carry from step to step), a marker after each step.
    const script = [
      "set -euo pipefail",
      "exec 2>&1",
      ...steps.map(
        (s) => `echo '@@step ${s.name}'\n${s.script.replaceAll("http://127.0.0.1:8080", lane.url).replaceAll("npx express-lane", "express-lane")}printf '\\n@@done ${s.name}\\n'`,
      ),
    ].join("\n");
    // Asynchronously: the lane's checkpoint sequencer runs in this process (as in `npm start`), and
    // the walk's writers report to it while the script runs.
    const run = await new Promise<{ stdout: string; status: number | null }>((resolve) => {
      execFile(
        "bash",
        ["-c", script],
        {
          cwd: work,
          encoding: "utf8",
          timeout: 180_000,
          maxBuffer: 64 * 1024 * 1024,
          env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, EXPRESS_LANE_DATA_DIR: lane.dataDir },
        },
        (err, stdout) => resolve({ stdout, status: err ? (typeof err.code === "number" ? err.code : 1) : 0 }),
      );
    });
    const output: Record<string, string> = {};
    for (const part of run.stdout.split(/^@@step /m).slice(1)) {
      const name = part.slice(0, part.indexOf("\n"));
      output[name] = part.slice(name.length + 1);
    }
    for (const [name, out] of Object.entries(output)) process.stdout.write(`--- ${name}\n${out}`);
    const done = steps.filter((s) => new RegExp(`^@@done ${s.name}$`, "m").test(run.stdout)).map((s) => s.name);
    expect(done).toEqual(steps.map((s) => s.name));
    expect(run.status).toBe(0);

    expect(output.read).toMatch(/"view":"user_profile",.*"entity":"user_000042","found":true/);
    expect(output.verify).toMatch(/^OK status=200 .*nonce=/m);
    expect(output.verify).toContain(lane.keys.laneJwksFile);
    expect(output.apply).toMatch(/\+ view page_clicks/);
    expect(output.apply).toMatch(/published registry version \d+/);
    expect(output.apply).toMatch(/"view":\{"name":"page_clicks","entity_key":"page_id"/);
    expect(output.load).toMatch(/written 1 .*rejected 0/);
    expect(output.push).toMatch(/written 1 .*rejected 0/);
    expect(output.push).toContain("verified against the pinned signer key");
    expect(output["read back"]).toMatch(/^OK status=200/m);
    expect(output["read back"]).toContain('"features":{"country":"FR"}');
    expect(output.parity).toMatch(/1 entities — 1 match, 0 differ/);
    expect(output.metrics).toMatch(/^lane_entity_status_total\{view="user_profile",status="found"\} [1-9]/m);
    expect(output.metrics).toMatch(/^lane_feature_freshness_seconds_count\{view="user_profile"\} [1-9]/m);
    expect(output.metrics).toMatch(/^lane_push_rows_total\{view="user_profile",result="written"\} 1/m);
  }, 240_000);

  it("/metrics: unknown views fold into 'other'; the build is named (version, commit, PCR0 from the signer's attestation)", async () => {
    // A view nobody defined is counted as "other": clients cannot grow the series count.
    for (let i = 0; i < 3; i++) expect((await fetch(`${lane.url}/v1/features/made_up_view_${i}/e1`)).status).toBe(404);
    const text = await (await fetch(`${lane.url}/metrics`)).text();
    expect(text).toMatch(/^lane_requests_total\{route="features",status="404",view="other"\} 3$/m);
    expect(text).not.toContain("made_up_view");
    expect(text).toMatch(/^lane_build_info\{version="0\.\d+\.\d+[^"]*",commit="[0-9a-f]{40}",pcr0="[0-9a-f]{96}",image_digest="",registry_version="[^"]+"\} 1$/m);
    expect(text).toMatch(/^lane_signer_keys\{kind="writer"\} [1-9]/m);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
  });
});
