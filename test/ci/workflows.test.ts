import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { parse } from "yaml";

type Step = { uses?: string; run?: string; with?: Record<string, unknown>; name?: string; if?: string };
type Job = { "runs-on": string; environment?: string | { name: string }; permissions?: Record<string, string>; steps: Step[]; needs?: string | string[] };
type Workflow = { on: Record<string, unknown>; permissions?: Record<string, string>; jobs: Record<string, Job> };

const dir = path.join(__dirname, "../../.github/workflows");
const load = (name: string) => parse(fs.readFileSync(path.join(dir, name), "utf8")) as Workflow;
const ci = load("ci.yml");
const deploy = load("deploy.yml");
const destroy = load("destroy.yml");
const bench = load("bench.yml");
const allSteps = (w: Workflow) => Object.values(w.jobs).flatMap((j) => j.steps);
const runs = (w: Workflow) => allSteps(w).map((s) => s.run ?? "").join("\n");

describe("workflows", () => {
  test("ci: pull requests and pushes run npm ci, npm test, npm run synth", () => {
    expect(Object.keys(ci.on).sort()).toEqual(["pull_request", "push"]);
    const r = runs(ci);
    expect(r).toMatch(/^npm ci$/m);
    expect(r).toMatch(/^npm test$/m);
    expect(r).toMatch(/^npm run synth$/m);
  });

  test("every action is pinned to a full commit SHA", () => {
    for (const w of [ci, deploy, destroy, bench]) {
      for (const s of allSteps(w).filter((x) => x.uses)) expect(s.uses).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
    }
  });

  test("deploy: on push to main; arm64 build calls scripts/build-eif.sh", () => {
    expect(deploy.on).toEqual({ push: { branches: ["main"] } });
    const build = deploy.jobs.build;
    expect(build["runs-on"]).toBe("ubuntu-24.04-arm");
    expect(build.steps.map((s) => s.run ?? "").join("\n")).toMatch(/scripts\/build-eif\.sh/);
    expect(build.permissions?.["id-token"]).toBeUndefined();
  });

  test("deploy: OIDC role from a variable, protected environment, publish, cdktf deploy with release measurements", () => {
    const job = deploy.jobs.deploy;
    expect(job.environment).toBe("production");
    expect(job.permissions).toEqual({ "id-token": "write", contents: "read" });
    const creds = job.steps.find((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"))!;
    expect(creds.with?.["role-to-assume"]).toBe("${{ vars.AWS_DEPLOY_ROLE_ARN }}");
    const r = job.steps.map((s) => s.run ?? "").join("\n");
    expect(r).toMatch(/aws s3 cp .*s3:\/\/\$EXPRESS_LANE_ARTIFACT_BUCKET\/releases\/\$EXPRESS_LANE_RELEASE\//);
    expect(r).toMatch(/cdktf-cli@[\d.]+ deploy/);
    const env = (job as unknown as { env: Record<string, string> }).env;
    expect(env.EXPRESS_LANE_MEASUREMENTS).toBe("release/measurements.json");
    expect(env.EXPRESS_LANE_REQUIRE_RELEASE_MEASUREMENTS).toBe("1");
    const credIndex = job.steps.indexOf(creds);
    expect(job.steps.findIndex((s) => /cdktf-cli.*deploy/.test(s.run ?? ""))).toBeGreaterThan(credIndex);
  });

  test("destroy: manual dispatch with a typed confirmation checked before cdktf destroy", () => {
    const input = (destroy.on.workflow_dispatch as { inputs: Record<string, { required: boolean; type: string }> }).inputs.confirm;
    expect(input).toEqual(expect.objectContaining({ required: true, type: "string" }));
    const steps = destroy.jobs.destroy.steps;
    const check = steps.findIndex((s) => /"\$CONFIRM" != "destroy express-lane"/.test(s.run ?? "") && /exit 1/.test(s.run ?? ""));
    const destroyStep = steps.findIndex((s) => /cdktf-cli@[\d.]+ destroy/.test(s.run ?? ""));
    expect(check).toBe(0);
    expect(destroyStep).toBeGreaterThan(check);
    expect(destroy.jobs.destroy.environment).toBe("production");
    expect(destroy.jobs.destroy.permissions?.["id-token"]).toBe("write");
  });

  test("deploy: every release carries the benchmark bundle the hosts install", () => {
    const build = deploy.jobs.build.steps.map((s) => s.run ?? "").join("\n");
    expect(build).toMatch(/cp dist\/bench\.js release\/bench\.js/);
    expect(runs(deploy)).toMatch(/for f in [^;]*\bbench\.js\b[^;]*; do/);
  });

  test("bench: manual, protected environment, OIDC, inputs only through the environment, results kept", () => {
    expect(Object.keys(bench.on)).toEqual(["workflow_dispatch"]);
    const job = bench.jobs.bench;
    expect(job.environment).toBe("production");
    expect(job.permissions).toEqual({ "id-token": "write", contents: "read" });
    const creds = job.steps.find((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"))!;
    expect(creds.with?.["role-to-assume"]).toBe("${{ vars.AWS_DEPLOY_ROLE_ARN }}");
    // No ${{ inputs.* }} inside a shell script (script injection): they arrive as env variables.
    for (const st of job.steps) expect(st.run ?? "").not.toMatch(/\$\{\{/);
    const r = job.steps.map((s) => s.run ?? "").join("\n");
    expect(r).toMatch(/npx tsx scripts\/remote-bench\.ts "\$@"/);
    expect(r).toMatch(/--tag Name=express-lane-host/);
    const check = job.steps.findIndex((s) => /DURATION/.test(s.run ?? "") && /exit 1/.test(s.run ?? ""));
    expect(check).toBe(0);
    const upload = job.steps.find((s) => s.uses?.startsWith("actions/upload-artifact@"))!;
    expect(upload.with?.path).toBe("bench-results/");
  });

  test("bench: seeding hops deploy role → writer role, loads only the benchmark's view, then returns to the deploy role", () => {
    const steps = bench.jobs.bench.steps;
    const seedSteps = steps.filter((st) => st.if === "${{ inputs.seed }}");
    expect(seedSteps).toHaveLength(3);
    const [deployHop, writerHop, loadStep] = seedSteps;
    expect(deployHop.with?.["role-to-assume"]).toBe("${{ vars.AWS_DEPLOY_ROLE_ARN }}");
    expect(writerHop.with).toMatchObject({ "role-to-assume": "${{ vars.EXPRESS_LANE_WRITER_ROLE_ARN }}", "role-chaining": true });
    expect(loadStep.run).toMatch(/cli\/main\.ts bench-data --entities "\$ENTITIES"/);
    expect(loadStep.run).toMatch(/cli\/main\.ts load bench\.jsonl --view express_lane_bench .*--seal-key-kms wrapped\.json/);
    expect(loadStep.run).not.toMatch(/user_profile/);
    const back = steps.findIndex((st, i) => i > steps.indexOf(loadStep) && !st.if && st.with?.["role-to-assume"] === "${{ vars.AWS_DEPLOY_ROLE_ARN }}");
    const remote = steps.findIndex((st) => /remote-bench\.ts/.test(st.run ?? ""));
    expect(back).toBeGreaterThan(steps.indexOf(loadStep));
    expect(remote).toBeGreaterThan(back);
    expect(steps[remote].run).toMatch(/--entities \$ENTITIES/);
  });

  test("bench: the input check refuses anything but 2..600 whole seconds and 1..100000 entities (run with sh)", () => {
    const script = bench.jobs.bench.steps[0].run!;
    const ok = (duration: string, entities = "2000") => spawnSync("sh", ["-c", script], { env: { ...process.env, DURATION: duration, ENTITIES: entities } }).status === 0;
    expect(ok("10")).toBe(true);
    expect(ok("600")).toBe(true);
    for (const bad of ["", "1", "601", "10; curl evil", "$(id)", "1e3", "-5"]) expect(ok(bad)).toBe(false);
    expect(ok("10", "100000")).toBe(true);
    for (const bad of ["", "0", "100001", "5 --view user_profile", "$(id)"]) expect(ok("10", bad)).toBe(false);
  });

  test("no long-lived AWS keys anywhere in the workflows", () => {
    for (const name of ["ci.yml", "deploy.yml", "destroy.yml", "bench.yml"]) {
      const text = fs.readFileSync(path.join(dir, name), "utf8");
      expect(text).not.toMatch(/aws-access-key-id|aws-secret-access-key|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|secrets\./);
    }
  });
});
