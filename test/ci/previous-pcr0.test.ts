/**
 * Rollout overlap in deploy.yml: before the apply (and before the plan the reviewers approve), the
 * deployed lane's `enclave_pcr0` output becomes EXPRESS_LANE_PREVIOUS_PCR0, so the seal key accepts
 * the running release's PCR0 next to the new one while the instance refresh replaces hosts. The
 * step's shell runs here with stand-ins for npx (cdktf synth) and terraform on PATH, as GitHub runs
 * it (bash -eo pipefail), for a first deploy, a later one and the failure cases.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { parse } from "yaml";
import { Testing } from "cdktf";
import { buildApp, LANE_STACK_ID } from "../../stacks/main";
import { resolveConfig } from "../../stacks/config";

type Step = { uses?: string; run?: string; name?: string; id?: string; env?: Record<string, string> };
type Job = { steps: Step[]; env?: Record<string, string> };
const deploy = parse(fs.readFileSync(path.join(__dirname, "../../.github/workflows/deploy.yml"), "utf8")) as { env: Record<string, string>; jobs: Record<string, Job> };
const GITHUB_BASH = ["--noprofile", "--norc", "-eo", "pipefail", "-c"];
const STEP_ID = "previous_pcr0";
const PCR0_A = "a1".repeat(48);

const at = (job: Job, pred: (s: Step) => boolean) => job.steps.findIndex(pred);
const stepOf = (job: Job) => job.steps[at(job, (s) => s.id === STEP_ID)];

describe("deploy.yml reads the deployed lane's PCR0 before it plans and applies", () => {
  test.each([
    ["deploy", /\bcdktf deploy\b/],
    ["plan", /\bcdktf diff\b/],
  ])("%s job: the step runs after the role is assumed and before the cdktf command", (jobName, command) => {
    const job = deploy.jobs[jobName as string];
    const step = at(job, (s) => s.id === STEP_ID);
    const creds = at(job, (s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@") ?? false);
    const apply = at(job, (s) => (command as RegExp).test(s.run ?? ""));
    const artifacts = at(job, (s) => s.uses?.startsWith("actions/download-artifact@") ?? false);
    expect({ step: step >= 0, afterCredentials: step > creds, afterRelease: step > artifacts, beforeCommand: step < apply }).toEqual({
      step: true,
      afterCredentials: true,
      afterRelease: true,
      beforeCommand: true,
    });
  });

  test("plan and deploy run the same script (the reviewed plan is the applied one)", () => {
    expect(stepOf(deploy.jobs.plan).run).toBe(stepOf(deploy.jobs.deploy).run);
  });

  test("the output it reads is the lane stack's enclave_pcr0, and the value it exports is one stacks/config accepts", () => {
    expect(stepOf(deploy.jobs.deploy).run).toMatch(/\benclave_pcr0\b/);
    const config = resolveConfig({ previousPcr0: PCR0_A });
    const lane = JSON.parse(Testing.synth(buildApp(config, fs.mkdtempSync(path.join(os.tmpdir(), "pcr0-synth-"))).lane));
    expect(lane.output.enclave_pcr0.value).toBe(config.measurements.pcr0);
    expect(lane.output.accepted_pcr0s.value).toEqual([config.measurements.pcr0, PCR0_A]);
    expect(deploy.env.LANE_STACK).toBe(LANE_STACK_ID);
  });
});

/** The machine's terraform (its `output -json` format and its answer without any state), if installed. */
const realTerraform = ((): string | undefined => {
  const r = spawnSync("sh", ["-c", "command -v terraform"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
})();

describe("the step's shell, with stand-ins for npx and terraform", () => {
  const script = stepOf(deploy.jobs.deploy).run!;
  let work: string;
  beforeEach(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "previous-pcr0-"));
    const bin = path.join(work, "bin");
    fs.mkdirSync(bin);
    // npx: records its arguments (cdktf synth). terraform: `init` fails with TF_INIT_FAIL set;
    // `output -json` is the real Terraform's (the version deploy.yml pins, when installed here)
    // reading $TF_STATE (a state file the test writes; none = no state yet, a first deploy), else
    // it prints $TF_OUTPUTS.
    fs.writeFileSync(path.join(bin, "npx"), `#!/bin/sh\necho "npx $*" >> "${work}/calls"\n`, { mode: 0o755 });
    fs.writeFileSync(
      path.join(bin, "terraform"),
      [
        "#!/bin/sh",
        `echo "terraform $*" >> "${work}/calls"`,
        'case "$*" in',
        '  *" init "*) [ -z "$TF_INIT_FAIL" ] || { echo "Error: error loading state: AccessDenied" >&2; exit 1; } ;;',
        '  *" output -json"*)',
        `    if [ -n "$REAL_TERRAFORM" ]; then echo "real terraform output" >> "${work}/calls"; mkdir -p "${work}/tf" && cd "${work}/tf" && exec "$REAL_TERRAFORM" output -json \${TF_STATE:+-state=$TF_STATE} 2>/dev/null; fi`,
        "    printf '%s' \"$TF_OUTPUTS\" ;;",
        "esac",
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
  });
  afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

  const run = (env: Record<string, string>) => {
    const githubEnv = path.join(work, "github_env");
    fs.writeFileSync(githubEnv, "");
    if (realTerraform && env.TF_OUTPUTS && env.TF_OUTPUTS !== "{}") {
      // The same outputs as a Terraform state (format version 4), for the real `terraform output`.
      const parsed = JSON.parse(env.TF_OUTPUTS) as Record<string, { type: unknown; value: unknown }>;
      const state = {
        version: 4,
        terraform_version: "1.11.4",
        serial: 1,
        lineage: "00000000-0000-4000-8000-000000000000",
        outputs: Object.fromEntries(Object.entries(parsed).map(([k, o]) => [k, { value: o.value, type: o.type }])),
        resources: [],
        check_results: null,
      };
      fs.writeFileSync(path.join(work, "state.tfstate"), JSON.stringify(state));
      env = { ...env, TF_STATE: path.join(work, "state.tfstate") };
    }
    const r = spawnSync("bash", [...GITHUB_BASH, script], {
      cwd: work,
      env: {
        PATH: `${path.join(work, "bin")}:${process.env.PATH}`,
        LANE_STACK: LANE_STACK_ID,
        GITHUB_ENV: githubEnv,
        ...(realTerraform ? { REAL_TERRAFORM: realTerraform } : {}),
        ...env,
      },
      encoding: "utf8",
    });
    return {
      status: r.status,
      stdout: r.stdout,
      stderr: r.stderr,
      exported: fs.readFileSync(githubEnv, "utf8"),
      calls: fs.existsSync(path.join(work, "calls")) ? fs.readFileSync(path.join(work, "calls"), "utf8") : "",
    };
  };
  const outputs = (pcr0?: string) =>
    JSON.stringify(
      pcr0 === undefined
        ? {}
        : { enclave_pcr0: { sensitive: false, type: "string", value: pcr0 }, accepted_pcr0s: { sensitive: false, type: ["tuple", ["string"]], value: [pcr0] } },
    );

  test("first deploy (no state, `terraform output -json` prints {}): succeeds and exports nothing", () => {
    const r = run({ TF_OUTPUTS: outputs() });
    expect(r.status).toBe(0);
    expect(r.exported).toBe("");
    expect(r.stdout).toMatch(/first deploy/);
    expect(r.calls).toMatch(/^npx --no-install cdktf synth$/m);
    expect(r.calls).toMatch(/terraform -chdir=cdktf\.out\/stacks\/express-lane init -input=false/);
  });

  test("empty output from terraform (no outputs at all) is a first deploy too", () => {
    const r = run({ TF_OUTPUTS: "" });
    expect(r.status).toBe(0);
    expect(r.exported).toBe("");
  });

  test("a deployed lane: its enclave_pcr0 is exported as EXPRESS_LANE_PREVIOUS_PCR0 for the later steps", () => {
    const r = run({ TF_OUTPUTS: outputs(PCR0_A) });
    expect(r.status).toBe(0);
    expect(r.exported).toBe(`EXPRESS_LANE_PREVIOUS_PCR0=${PCR0_A}\n`);
    if (realTerraform) expect(r.calls).toMatch(/real terraform output/);
  });

  test("a debug-mode release (all-zero PCR0) is not carried over, and the deploy goes on", () => {
    const r = run({ TF_OUTPUTS: outputs("0".repeat(96)) });
    expect(r.status).toBe(0);
    expect(r.exported).toBe("");
  });

  test("an unreadable state fails the step (the running release must not lose access silently)", () => {
    const r = run({ TF_OUTPUTS: outputs(PCR0_A), TF_INIT_FAIL: "1" });
    expect(r.status).not.toBe(0);
    expect(r.exported).toBe("");
  });

  test("an output that is not a PCR0 fails the step", () => {
    for (const bad of ["xyz", "A1".repeat(48), "a1".repeat(47), `${PCR0_A}\nEXPRESS_LANE_NAME=evil`]) {
      const r = run({ TF_OUTPUTS: outputs(bad) });
      expect([bad, r.status === 0, r.exported]).toEqual([bad, false, ""]);
    }
  });
});
