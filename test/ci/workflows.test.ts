import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { parse } from "yaml";
import { LANE_STACK_ID } from "../../stacks/main";
import { WORKFLOW_SECRETS, WORKFLOW_VARIABLES, VariableScope } from "./variables";

type Step = { uses?: string; run?: string; with?: Record<string, unknown>; name?: string; if?: string; id?: string; env?: Record<string, string> };
type Job = {
  "runs-on": string;
  container?: { image: string } | string;
  environment?: string | { name: string };
  permissions?: Record<string, string>;
  steps: Step[];
  needs?: string | string[];
  env?: Record<string, string>;
  outputs?: Record<string, string>;
  strategy?: { matrix?: Record<string, unknown[]> };
};
type Workflow = {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  concurrency?: { group: string; "cancel-in-progress"?: boolean };
  env?: Record<string, string>;
  jobs: Record<string, Job>;
};

const repo = path.join(__dirname, "../..");
const dir = path.join(repo, ".github/workflows");
const load = (name: string) => parse(fs.readFileSync(path.join(dir, name), "utf8")) as Workflow;
const names = fs
  .readdirSync(dir)
  .filter((n) => /\.ya?ml$/.test(n))
  .sort();
const workflows = Object.fromEntries(names.map((n) => [n, load(n)])) as Record<string, Workflow>;
const ci = workflows["ci.yml"];
const deploy = workflows["deploy.yml"];
const destroy = workflows["destroy.yml"];
const bench = workflows["bench.yml"];
const allSteps = (w: Workflow) => Object.values(w.jobs).flatMap((j) => j.steps);
const runs = (w: Workflow) =>
  allSteps(w)
    .map((s) => s.run ?? "")
    .join("\n");
const runOf = (j: Job) => j.steps.map((s) => s.run ?? "").join("\n");
// GitHub's `shell: bash`: bash --noprofile --norc -eo pipefail {0}
const GITHUB_BASH = ["--noprofile", "--norc", "-eo", "pipefail", "-c"];
const needsOf = (j: Job): string[] => (j.needs === undefined ? [] : typeof j.needs === "string" ? [j.needs] : j.needs);

// ---------------------------------------------------------------------------------------------
// Which environment a job references, by the expressions the workflows use for the two kinds.

const PLAN_ENV = "${{ needs.guard.outputs.plan_environment }}";
const LANE_ENV = "${{ needs.guard.outputs.environment }}";
function environmentKind(job: Job): VariableScope | "none" | "unknown" {
  const e = typeof job.environment === "object" ? job.environment.name : job.environment;
  if (e === undefined) return "none";
  if (e === PLAN_ENV) return "plan";
  if (e === LANE_ENV) return "lane";
  return "unknown";
}

/** Every `ctx.NAME` inside `${{ }}` expressions of a value (object, string, …). */
function references(value: unknown, ctx: string): string[] {
  const text = JSON.stringify(value ?? null);
  const out: string[] = [];
  for (const [, expr] of text.matchAll(/\$\{\{(.*?)\}\}/g)) {
    for (const [, name] of expr.matchAll(new RegExp(`(?<![\\w.])${ctx}\\.([A-Za-z_][\\w-]*)`, "g"))) out.push(name);
  }
  return out;
}

// Environment variables GitHub's runner sets for every step (docs: "Default environment variables").
const RUNNER_DEFAULTS = /^(GITHUB_\w+|RUNNER_\w+|CI|HOME|PATH|PWD|ACTIONS_\w+)$/;

/** Upper-case shell variables a run script reads (and does not set itself). */
function shellReads(script: string): string[] {
  const assigned = new Set([...script.matchAll(/(?:^|[\s;(])([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]));
  for (const m of script.matchAll(/\bfor\s+([A-Za-z_]\w*)\s+in\b/g)) assigned.add(m[1]);
  const reads = new Set<string>();
  for (const m of script.matchAll(/\$\{?([A-Z_][A-Z0-9_]*)/g)) if (!assigned.has(m[1])) reads.add(m[1]);
  // `for v in A B C; do value=${!v…}`: the listed names are read by indirection.
  for (const m of script.matchAll(/\bfor\s+(\w+)\s+in\s+([A-Z0-9_ ]+);\s*do([\s\S]*?)\bdone\b/g)) {
    if (m[3].includes(`\${!${m[1]}`)) for (const n of m[2].trim().split(/\s+/)) reads.add(n);
  }
  return [...reads].filter((n) => !RUNNER_DEFAULTS.test(n));
}

/** Environment variables a script or tool that a step runs needs, beyond what its own text shows. */
const TOOL_INPUTS: [RegExp, string[]][] = [
  [/scripts\/build-eif\.sh/, ["SEAL_KMS_KEY_ARN"]],
  [
    /\bcdktf (deploy|diff|destroy|synth)\b/,
    ["LANE_STACK", "EXPRESS_LANE_ENVIRONMENT", "EXPRESS_LANE_NAME", "EXPRESS_LANE_REGION", "EXPRESS_LANE_STATE_BUCKET", "EXPRESS_LANE_ARTIFACT_BUCKET"],
  ],
];

describe("every variable a job reads is visible to that job", () => {
  test("the variables table is the one docs/deploy.md documents", () => {
    const doc = fs.readFileSync(path.join(repo, "docs/deploy.md"), "utf8");
    for (const [name, v] of Object.entries(WORKFLOW_VARIABLES)) {
      const where = { repository: "repository", plan: "`<env>-plan`", lane: "`<env>`" }[v.scope];
      expect(doc).toMatch(new RegExp(`\\| \`${name}\` \\| ${where.replace(/[<>`-]/g, (c) => `\\${c}`)} \\|`));
    }
  });

  for (const [file, w] of Object.entries(workflows)) {
    describe(file, () => {
      test("workflow-level keys read repository variables only, no secrets", () => {
        const top = { on: w.on, concurrency: w.concurrency, env: w.env, permissions: w.permissions };
        for (const name of references(top, "vars")) expect({ name, scope: WORKFLOW_VARIABLES[name]?.scope }).toEqual({ name, scope: "repository" });
        expect(references(top, "secrets")).toEqual([]);
      });

      for (const [jobName, job] of Object.entries(w.jobs)) {
        test(`${jobName}: vars.X from an environment only in a job that references it; no secrets`, () => {
          const kind = environmentKind(job);
          expect(kind).not.toBe("unknown");
          for (const name of references(job, "vars")) {
            const v = WORKFLOW_VARIABLES[name];
            expect({ name, declared: v !== undefined }).toEqual({ name, declared: true });
            if (v.scope !== "repository") expect({ name, job: jobName, environment: kind }).toEqual({ name, job: jobName, environment: v.scope });
          }
          for (const name of references(job, "secrets")) expect(WORKFLOW_SECRETS).toContain(name);
        });

        test(`${jobName}: needs.*.outputs.* name a direct need and an output it declares; steps.*.outputs.* an earlier step`, () => {
          const text = JSON.stringify(job);
          for (const [, need, output] of text.matchAll(/needs\.([\w-]+)\.outputs\.([\w-]+)/g)) {
            expect({ job: jobName, need, direct: needsOf(job).includes(need) }).toEqual({ job: jobName, need, direct: true });
            expect({ need, output, declared: Object.keys(w.jobs[need]?.outputs ?? {}).includes(output) }).toEqual({ need, output, declared: true });
          }
          const ids = job.steps.map((s) => s.id).filter(Boolean);
          for (const [, id] of JSON.stringify(job.outputs ?? {}).matchAll(/steps\.([\w-]+)\.outputs/g)) expect(ids).toContain(id);
        });

        test(`${jobName}: every environment variable a step reads is set for it`, () => {
          job.steps.forEach((step, i) => {
            const visible = new Set([...Object.keys(w.env ?? {}), ...Object.keys(job.env ?? {}), ...Object.keys(step.env ?? {})]);
            const reads = new Set([...shellReads(step.run ?? ""), ...references(step, "env")]);
            for (const [pattern, inputs] of TOOL_INPUTS) if (pattern.test(step.run ?? "")) inputs.forEach((n) => reads.add(n));
            for (const name of reads)
              expect({ step: step.name ?? step.run ?? step.uses ?? i, name, set: visible.has(name) }).toEqual({ step: step.name ?? step.run ?? step.uses ?? i, name, set: true });
          });
        });
      }

      test("every job but the guard runs after it (directly or through another job)", () => {
        if (!w.jobs.guard) return;
        const after = (j: string): boolean => needsOf(w.jobs[j]).some((n) => n === "guard" || after(n));
        for (const j of Object.keys(w.jobs).filter((n) => n !== "guard")) expect({ job: j, afterGuard: after(j) }).toEqual({ job: j, afterGuard: true });
      });
    });
  }

  test("the check catches a job that reads an environment's variable without referencing it (the B3 build job)", () => {
    const old: Job = { "runs-on": "ubuntu-24.04-arm", steps: [{ run: "bash scripts/build-eif.sh", env: { SEAL_KMS_KEY_ARN: "${{ vars.EXPRESS_LANE_SEAL_KEY_ARN }}" } }] };
    expect(environmentKind(old)).toBe("none");
    expect(WORKFLOW_VARIABLES[references(old, "vars")[0]].scope).toBe("plan");
    expect(shellReads("X=1; echo $X $Y ${Z:-} $GITHUB_OUTPUT")).toEqual(["Y", "Z"]);
  });
});

// ---------------------------------------------------------------------------------------------

describe("workflows", () => {
  test("ci: pull requests and pushes run npm ci, npm test, npm run synth on the declared Node and the current LTS", () => {
    expect(Object.keys(ci.on).sort()).toEqual(["pull_request", "push"]);
    const r = runs(ci);
    expect(r).toMatch(/^npm ci$/m);
    expect(r).toMatch(/^npm test -- --coverage$/m); // the coverage floor is enforced in CI
    expect(r).toMatch(/^npm run synth$/m);
    expect(ci.jobs.test.strategy?.matrix?.node).toEqual([20, 24]);
    const setup = ci.jobs.test.steps.find((s) => s.uses?.startsWith("actions/setup-node@"))!;
    expect(setup.with?.["node-version"]).toBe("${{ matrix.node }}");
    // The OS tools lint:infra and the tests require when CI=true.
    expect(r).toMatch(/apt-get install .*\bshellcheck\b.*\bsystemd\b.*\bwrk\b.*\bprometheus\b/);
  });

  test("every action is pinned to a full commit SHA", () => {
    for (const w of Object.values(workflows)) {
      for (const s of allSteps(w).filter((x) => x.uses)) expect(s.uses).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
    }
  });

  test("deploy: the EIF is built where nitro-cli exists by its packages (amazonlinux:2023 on arm64, docker socket)", () => {
    const build = deploy.jobs.build;
    expect(build["runs-on"]).toBe("ubuntu-24.04-arm");
    expect(build.container).toEqual({ image: "amazonlinux:2023" });
    const install = build.steps.findIndex((s) => /^dnf install /.test(s.run ?? ""));
    expect(install).toBe(0);
    for (const pkg of ["aws-nitro-enclaves-cli", "aws-nitro-enclaves-cli-devel", "docker", "jq", "git", "tar"]) expect(build.steps[0].run!.split(/\s+/)).toContain(pkg);
    const checkout = build.steps.findIndex((s) => s.uses?.startsWith("actions/checkout@"));
    const eif = build.steps.findIndex((s) => /scripts\/build-eif\.sh/.test(s.run ?? ""));
    expect(checkout).toBeGreaterThan(install);
    expect(eif).toBeGreaterThan(checkout);
    expect(build.steps[eif].env?.SEAL_KMS_KEY_ARN).toBe("${{ vars.EXPRESS_LANE_SEAL_KEY_ARN }}");
    expect(environmentKind(build)).toBe("plan");
    expect(build.permissions?.["id-token"]).toBeUndefined();
  });

  test("deploy: the release files are checksummed so that the published SHA256SUMS verifies (run with bash)", () => {
    const collect = deploy.jobs.build.steps.find((s) => s.name === "Collect release files")!.run!;
    const publish = deploy.jobs.deploy.steps.find((s) => s.name === "Publish artifacts and measurements")!.run!;
    const verify = publish.split("\n")[0];
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "release-"));
    for (const f of ["build/enclave/measurements.json", "build/enclave/express-lane.eif", "dist/runtime.js", "dist/bench.js", "dist/cli.js"]) {
      fs.mkdirSync(path.join(work, path.dirname(f)), { recursive: true });
      fs.writeFileSync(path.join(work, f), f);
    }
    expect(spawnSync("bash", [...GITHUB_BASH, collect], { cwd: work, encoding: "utf8" }).status).toBe(0);
    const sums = fs.readFileSync(path.join(work, "release/SHA256SUMS"), "utf8");
    // Plain file names: what hosts check a downloaded runtime.js/bench.js/cli.js (the canary) against.
    expect(
      sums
        .trim()
        .split("\n")
        .map((l) => l.split(/\s+\*?/)[1])
        .sort(),
    ).toEqual(["bench.js", "cli.js", "enclave.eif", "measurements.json", "runtime.js"]);
    const ok = spawnSync("bash", [...GITHUB_BASH, verify], { cwd: work, encoding: "utf8" });
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    fs.writeFileSync(path.join(work, "release/runtime.js"), "tampered");
    expect(spawnSync("bash", [...GITHUB_BASH, verify], { cwd: work, encoding: "utf8" }).status).not.toBe(0);
  });

  test("deploy: every file user data downloads is published (cli.js for the canary too) and the apply waits for the instance refresh", () => {
    const publish = deploy.jobs.deploy.steps.find((s) => s.name === "Publish artifacts and measurements")!.run!;
    for (const f of ["runtime.js", "enclave.eif", "bench.js", "cli.js", "SHA256SUMS"]) expect(publish).toContain(f);
    const names = deploy.jobs.deploy.steps.map((s) => s.name);
    expect(names.indexOf("Wait for the instance refresh")).toBeGreaterThan(names.indexOf("cdktf deploy"));
  });

  test("deploy: the plan (cdktf diff) runs before the approval gate, with the read-only plan role", () => {
    expect(Object.keys(deploy.on).sort()).toEqual(["push", "workflow_dispatch"]);
    expect(deploy.on.push).toEqual({ branches: ["main"] });
    const plan = deploy.jobs.plan;
    expect(environmentKind(plan)).toBe("plan");
    expect(plan.permissions).toEqual({ "id-token": "write", contents: "read" });
    const creds = plan.steps.find((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"))!;
    expect(creds.with?.["role-to-assume"]).toBe("${{ vars.AWS_PLAN_ROLE_ARN }}");
    const diff = plan.steps.findIndex((s) => /npx --no-install cdktf diff "\$LANE_STACK"/.test(s.run ?? ""));
    expect(diff).toBeGreaterThan(plan.steps.indexOf(creds));
    expect(plan.steps[diff].run).toMatch(/GITHUB_STEP_SUMMARY/);
    // Read-only: no state lock written.
    expect(plan.env?.TF_CLI_ARGS_plan).toBe("-lock=false");
    expect(runOf(plan)).not.toMatch(/cdktf deploy|--auto-approve/);
  });

  test("deploy: the protected environment's job applies after the plan, with the deploy role and the planned configuration", () => {
    const job = deploy.jobs.deploy;
    expect(environmentKind(job)).toBe("lane");
    expect(needsOf(job)).toContain("plan");
    expect(job.permissions).toEqual({ "id-token": "write", contents: "read" });
    const creds = job.steps.find((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"))!;
    expect(creds.with?.["role-to-assume"]).toBe("${{ vars.AWS_DEPLOY_ROLE_ARN }}");
    expect(creds.with?.["aws-region"]).toBe("${{ env.EXPRESS_LANE_REGION }}");
    const r = runOf(job);
    expect(r).toMatch(/aws s3 cp .*s3:\/\/\$EXPRESS_LANE_ARTIFACT_BUCKET\/releases\/\$EXPRESS_LANE_RELEASE\//);
    expect(r).toMatch(/npx --no-install cdktf deploy "\$LANE_STACK" --auto-approve/);
    expect(job.env?.EXPRESS_LANE_MEASUREMENTS).toBe("release/measurements.json");
    expect(job.env?.EXPRESS_LANE_REQUIRE_RELEASE_MEASUREMENTS).toBe("1");
    const credIndex = job.steps.indexOf(creds);
    expect(job.steps.findIndex((s) => /cdktf deploy/.test(s.run ?? ""))).toBeGreaterThan(credIndex);
  });

  for (const [file, applyJob] of [
    ["deploy.yml", "deploy"],
    ["destroy.yml", "destroy"],
  ] as const) {
    test(`${file}: the ${applyJob} job's lane configuration is exactly the plan job's (passed as its outputs)`, () => {
      const w = workflows[file];
      const plan = w.jobs.plan;
      const apply = w.jobs[applyJob];
      const fromPlan = Object.entries(apply.env ?? {}).filter(([, v]) => /needs\.plan\.outputs\./.test(v));
      expect(fromPlan.length).toBeGreaterThanOrEqual(5);
      for (const [name, value] of fromPlan) {
        const output = /^\$\{\{ needs\.plan\.outputs\.(\w+) \}\}$/.exec(value)![1];
        expect({ name, planned: plan.env?.[name] }).toEqual({ name, planned: plan.outputs?.[output] });
      }
      // Every lane setting the plan job reads from a variable reaches the apply job the same way.
      for (const [name, value] of Object.entries(plan.env ?? {})) if (/vars\./.test(value)) expect(fromPlan.map(([n]) => n)).toContain(name);
      for (const [name, value] of Object.entries(apply.env ?? {})) expect({ name, readsVars: /vars\./.test(value) }).toEqual({ name, readsVars: false });
    });
  }

  test("no lane name, region or environment is hard-coded in a workflow", () => {
    for (const [file, w] of Object.entries(workflows)) {
      const text = fs.readFileSync(path.join(dir, file), "utf8");
      expect({ file, region: /\b(ap|us|eu|sa|ca|me|af|il|mx)-(north|south|east|west|central|northeast|southeast)-\d\b/.test(text) }).toEqual({ file, region: false });
      for (const job of Object.values(w.jobs)) expect(["none", "plan", "lane"]).toContain(environmentKind(job));
      for (const job of Object.values(w.jobs)) expect(job.env?.EXPRESS_LANE_ENVIRONMENT ?? LANE_ENV).toBe(LANE_ENV);
    }
    for (const w of [deploy, destroy]) {
      expect(w.jobs.plan.env?.EXPRESS_LANE_NAME).toBe("${{ vars.EXPRESS_LANE_NAME }}");
      expect(w.jobs.plan.env?.EXPRESS_LANE_REGION).toBe("${{ vars.EXPRESS_LANE_REGION }}");
      expect(w.jobs.plan.env?.EXPRESS_LANE_BUCKET_BASE).toBe("${{ vars.EXPRESS_LANE_BUCKET_BASE }}");
    }
  });

  test("deploy and destroy share one concurrency group per lane environment, never cancelling a run", () => {
    expect(deploy.concurrency).toEqual(destroy.concurrency);
    expect(deploy.concurrency?.group).toMatch(/inputs\.environment/);
    expect(deploy.concurrency?.["cancel-in-progress"]).toBe(false);
    expect(bench.concurrency?.group).not.toBe(deploy.concurrency?.group);
  });

  test("the stack the workflows deploy is the app's lane stack; no HashiCorp checkpoint calls", () => {
    for (const w of [deploy, destroy]) expect(w.env?.LANE_STACK).toBe(LANE_STACK_ID);
    for (const w of [deploy, destroy]) expect(w.env?.CHECKPOINT_DISABLE).toBe("1");
  });

  describe("guard: default branch only, a lane environment (run with bash)", () => {
    const guard = (w: Workflow) => w.jobs.guard.steps[0].run!;
    function run(w: Workflow, env: Record<string, string>) {
      const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "guard-")), "output");
      fs.writeFileSync(out, "");
      const r = spawnSync("bash", [...GITHUB_BASH, guard(w)], { env: { PATH: process.env.PATH, GITHUB_OUTPUT: out, ...env }, encoding: "utf8" });
      return { status: r.status, stderr: r.stderr, output: fs.readFileSync(out, "utf8") };
    }
    const main = { REF: "refs/heads/main", DEFAULT_BRANCH: "main" };

    test("every workflow with credentials has a guard job with no environment and no permissions", () => {
      for (const w of [deploy, destroy, bench]) {
        expect(environmentKind(w.jobs.guard)).toBe("none");
        expect(w.jobs.guard.permissions).toEqual({});
        expect(w.jobs.guard.env).toBeUndefined();
      }
    });

    for (const [name, w, extra] of [
      ["deploy", deploy, {}],
      ["destroy", destroy, { CONFIRM: "destroy staging" }],
      ["bench", bench, {}],
    ] as const) {
      test(`${name}: passes on the default branch and names both environments`, () => {
        const r = run(w, { ...main, TARGET: "staging", ...extra });
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.output).toBe("environment=staging\nplan_environment=staging-plan\n");
      });
      test(`${name}: refuses other branches, tags, an unknown default branch, -plan twins and odd names`, () => {
        for (const env of [
          { ...main, REF: "refs/heads/feature", TARGET: "staging" },
          { ...main, REF: "refs/tags/v1", TARGET: "staging" },
          { ...main, REF: "refs/heads/main-evil", TARGET: "staging" },
          { ...main, DEFAULT_BRANCH: "", TARGET: "staging" },
          { ...main, TARGET: "staging-plan", CONFIRM: "destroy staging-plan" },
          { ...main, TARGET: "x; rm -rf /", CONFIRM: "destroy x; rm -rf /" },
          { ...main, TARGET: "" },
        ]) {
          const r = run(w, { ...extra, ...env });
          expect({ env, status: r.status }).toEqual({ env, status: 1 });
          expect(r.output).toBe("");
        }
      });
    }

    test("destroy: the typed confirmation must name the environment", () => {
      for (const confirm of ["destroy express-lane", "destroy production", "", "staging"]) {
        const r = run(destroy, { ...main, TARGET: "staging", CONFIRM: confirm });
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/nothing destroyed/);
      }
    });

    test("deploy: a push targets the repository variable's environment, else production", () => {
      expect(deploy.jobs.guard.steps[0].env?.TARGET).toBe("${{ inputs.environment || vars.EXPRESS_LANE_MAIN_ENVIRONMENT || 'production' }}");
      expect(deploy.concurrency?.group).toBe("express-lane-${{ inputs.environment || vars.EXPRESS_LANE_MAIN_ENVIRONMENT || 'production' }}");
    });
  });

  test("plan jobs stop with one message naming every missing required variable (run with bash)", () => {
    for (const w of [deploy, destroy]) {
      const step = w.jobs.plan.steps[0];
      const required = Object.entries(WORKFLOW_VARIABLES)
        .filter(([, v]) => v.required && v.scope === "plan" && v !== WORKFLOW_VARIABLES.EXPRESS_LANE_SEAL_KEY_ARN)
        .map(([n]) => n);
      const full = Object.fromEntries(required.map((n) => [n, "x"]));
      const exec = (env: Record<string, string>) =>
        spawnSync("bash", [...GITHUB_BASH, step.run!], { env: { PATH: process.env.PATH, EXPRESS_LANE_ENVIRONMENT: "staging", ...env }, encoding: "utf8" });
      expect(exec(full).status).toBe(0);
      const r = exec({ ...full, EXPRESS_LANE_NAME: "", AWS_PLAN_ROLE_ARN: "" });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/staging-plan: EXPRESS_LANE_NAME AWS_PLAN_ROLE_ARN/);
    }
  });

  test("jobs in the protected environment stop first if it has no deploy role (an environment GitHub created on the fly)", () => {
    for (const job of [deploy.jobs.deploy, destroy.jobs.destroy, bench.jobs.bench]) {
      const check = job.steps.findIndex((s) => /^Check the deploy role variable/.test(s.name ?? ""));
      const creds = job.steps.findIndex((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"));
      expect(check).toBeGreaterThanOrEqual(0);
      expect(check).toBeLessThan(creds);
      const exec = (arn: string) =>
        spawnSync("bash", [...GITHUB_BASH, job.steps[check].run!], { env: { PATH: process.env.PATH, AWS_DEPLOY_ROLE_ARN: arn, LANE_ENVIRONMENT: "staging" }, encoding: "utf8" });
      const r = exec("");
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/AWS_DEPLOY_ROLE_ARN in the protected environment staging/);
      expect(exec("arn:aws:iam::111122223333:role/express-lane-deploy").status).toBe(0);
    }
    for (const job of [deploy.jobs.deploy, destroy.jobs.destroy]) expect(job.steps[0].name).toMatch(/^Check the deploy role variable/);
  });

  test("destroy: a destroy plan is shown before the approval, then cdktf destroy with the deploy role", () => {
    const plan = destroy.jobs.plan;
    expect(environmentKind(plan)).toBe("plan");
    expect(runOf(plan)).toMatch(/terraform -chdir="cdktf\.out\/stacks\/\$LANE_STACK" plan -destroy -input=false -lock=false/);
    const job = destroy.jobs.destroy;
    expect(environmentKind(job)).toBe("lane");
    expect(needsOf(job)).toContain("plan");
    expect(job.permissions?.["id-token"]).toBe("write");
    expect(runOf(job)).toMatch(/npx --no-install cdktf destroy "\$LANE_STACK" --auto-approve/);
    const creds = job.steps.find((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"))!;
    expect(creds.with?.["role-to-assume"]).toBe("${{ vars.AWS_DEPLOY_ROLE_ARN }}");
  });

  describe("pinned toolchain", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(repo, "package.json"), "utf8"));
    const lock = JSON.parse(fs.readFileSync(path.join(repo, "package-lock.json"), "utf8"));

    test("cdktf-cli is an exact devDependency from the lockfile, matching cdktf's version", () => {
      const cli = pkg.devDependencies["cdktf-cli"];
      expect(cli).toMatch(/^\d+\.\d+\.\d+$/);
      expect(lock.packages["node_modules/cdktf-cli"].version).toBe(cli);
      expect(lock.packages["node_modules/cdktf"].version).toBe(cli);
    });

    test("workflows run cdktf from node_modules, never a registry download", () => {
      for (const [file, w] of Object.entries(workflows)) {
        const r = runs(w);
        expect({ file, npxYes: /npx (--yes|-y)\b|cdktf-cli@/.test(r) }).toEqual({ file, npxYes: false });
        for (const line of r.split("\n").filter((l) => /\bcdktf (deploy|diff|destroy|synth)\b/.test(l))) expect(line).toMatch(/npx --no-install cdktf /);
      }
      const app = JSON.parse(fs.readFileSync(path.join(repo, "cdktf.json"), "utf8")).app;
      expect(app).toMatch(/^npx --no-install tsx /);
    });

    test("every setup-terraform pins one exact Terraform version with S3 native locking (≥ 1.11)", () => {
      const pins = Object.values(workflows).flatMap((w) => allSteps(w).filter((s) => s.uses?.startsWith("hashicorp/setup-terraform@")));
      expect(pins.length).toBeGreaterThanOrEqual(4);
      const versions = new Set(pins.map((s) => String(s.with?.terraform_version)));
      expect(versions.size).toBe(1);
      const [v] = [...versions];
      expect(v).toMatch(/^\d+\.\d+\.\d+$/);
      const [major, minor] = v.split(".").map(Number);
      expect(major > 1 || minor >= 11).toBe(true);
      for (const s of pins) expect(s.with?.terraform_wrapper).toBe(false);
    });

    test("deploy, destroy and bench run on the current Node LTS (24), the enclave base image's Node", () => {
      for (const w of [deploy, destroy, bench]) {
        for (const s of allSteps(w).filter((x) => x.uses?.startsWith("actions/setup-node@"))) expect(s.with?.["node-version"]).toBe(24);
      }
      const base = JSON.parse(fs.readFileSync(path.join(repo, "enclave/image/base-image.json"), "utf8"));
      expect(Number(base.node.split(".")[0])).toBe(24);
      expect(base.tag.startsWith("24-")).toBe(true);
    });
  });

  test("deploy: every release carries the benchmark bundle the hosts install", () => {
    const build = deploy.jobs.build.steps.map((s) => s.run ?? "").join("\n");
    expect(build).toMatch(/cp dist\/bench\.js release\/bench\.js/);
    expect(runs(deploy)).toMatch(/for f in [^;]*\bbench\.js\b[^;]*; do/);
  });

  test("bench: manual, protected environment, OIDC, inputs only through the environment, results kept", () => {
    expect(Object.keys(bench.on)).toEqual(["workflow_dispatch"]);
    const job = bench.jobs.bench;
    expect(environmentKind(job)).toBe("lane");
    expect(job.permissions).toEqual({ "id-token": "write", contents: "read" });
    const creds = job.steps.find((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"))!;
    expect(creds.with?.["role-to-assume"]).toBe("${{ vars.AWS_DEPLOY_ROLE_ARN }}");
    // No ${{ inputs.* }} inside a shell script (script injection): they arrive as env variables.
    for (const w of Object.values(workflows)) for (const st of allSteps(w)) expect(st.run ?? "").not.toMatch(/\$\{\{/);
    const r = job.steps.map((s) => s.run ?? "").join("\n");
    expect(r).toMatch(/npx tsx bench\/remote-bench\.ts "\$@"/);
    expect(r).toMatch(/--tag Name=express-lane-host/);
    const check = job.steps.findIndex((s) => /DURATION/.test(s.run ?? "") && /exit 1/.test(s.run ?? ""));
    expect(check).toBe(0);
    const upload = job.steps.find((s) => s.uses?.startsWith("actions/upload-artifact@"))!;
    expect(upload.with?.path).toBe("bench-results/");
    expect(job.env?.AWS_REGION).toBe("${{ needs.config.outputs.region }}");
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
    for (const name of names) {
      const text = fs.readFileSync(path.join(dir, name), "utf8");
      expect(text).not.toMatch(/aws-access-key-id|aws-secret-access-key|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|secrets\./);
    }
  });
});
