import {
  DEFAULT_CANARY_API_KEY_PARAMETER,
  DEFAULT_CANARY_PATH,
  KEY_DIRECTORY_OBJECT,
  LANE_KEYS_OBJECT,
  RELEASE_FILES,
  renderHostEnv,
  renderUserData,
  SEAL_KEYS_OBJECT,
} from "../../constructs/user-data";
import { AGENT_CONFIG_PATH } from "../../constructs/cloudwatch-agent";
import { HOST_ENV_FILE, MEASUREMENTS_FILE } from "../../constructs/host-units";
import { SAMPLE } from "./sandbox/sample";

const env = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .trimEnd()
      .split("\n")
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );

describe("renderHostEnv", () => {
  it("single-quotes every value and names the lane's objects, port and canary", () => {
    const vars = env(renderHostEnv(SAMPLE));
    for (const v of Object.values(vars)) expect(v).toMatch(/^'[^']*'$/);
    expect(vars).toMatchObject({
      REGION: "'ap-south-1'",
      ARTIFACT_BUCKET: `'${SAMPLE.artifactBucket}'`,
      SEAL_KEYS_OBJECT: `'${SEAL_KEYS_OBJECT}'`,
      KEY_DIRECTORY_OBJECT: `'${KEY_DIRECTORY_OBJECT}'`,
      LANE_KEYS_OBJECT: `'${LANE_KEYS_OBJECT}'`,
      READER_PORT: "'8080'",
      ATTEST_ROOT: "'aws'",
      CANARY_PATH: `'${DEFAULT_CANARY_PATH}'`,
      CANARY_API_KEY_PARAMETER: `'${DEFAULT_CANARY_API_KEY_PARAMETER}'`,
    });
  });

  it("a lane without API keys gives the canary no key parameter", () => {
    expect(env(renderHostEnv({ ...SAMPLE, apiKeys: false })).CANARY_API_KEY_PARAMETER).toBe("''");
  });

  it.each(["bucket'; rm -rf /", "a b", "$(id)", "x`y`"])("refuses a value a shell would interpret: %p", (artifactBucket) => {
    expect(() => renderHostEnv({ ...SAMPLE, artifactBucket })).toThrow(/not safe in a shell assignment/);
    expect(() => renderUserData({ ...SAMPLE, artifactBucket })).toThrow(/not safe in a shell assignment/);
  });
});

describe("renderUserData", () => {
  const script = renderUserData(SAMPLE);
  const lineOf = (needle: string | RegExp) => script.split("\n").findIndex((l) => (typeof needle === "string" ? l.includes(needle) : needle.test(l)));

  it("is a strict bash script with nothing Terraform would interpolate", () => {
    expect(script.startsWith("#!/bin/bash\n")).toBe(true);
    expect(script).toContain("set -euo pipefail");
    expect(script).not.toMatch(/\$\{|%\{/);
  });

  it("starts the CloudWatch agent before anything that can fail later (artifacts, PCR0, units)", () => {
    const agent = lineOf(`-c file:${AGENT_CONFIG_PATH}`);
    expect(agent).toBeGreaterThan(0);
    expect(agent).toBeLessThan(lineOf("aws s3 cp"));
    expect(lineOf("aws s3 cp")).toBeLessThan(lineOf("nitro-cli describe-eif"));
    expect(lineOf("nitro-cli describe-eif")).toBeLessThan(lineOf("systemctl daemon-reload"));
  });

  it("downloads exactly the release's files, checks each against SHA256SUMS, and refuses an EIF of another PCR0", () => {
    expect(script).toContain(`for f in ${RELEASE_FILES.join(" ")}; do`);
    expect(script).toContain(`RELEASE='${SAMPLE.releaseId}'`);
    expect(script).toContain(`EXPECTED_PCR0='${SAMPLE.expectedPcr0}'`);
    expect(script).toMatch(/if \[ "\$have" != "\$want" \]; then\n.*\n\s+exit 1/);
    expect(script).toContain(`ACTUAL_PCR0=$(jq -r '.Measurements.PCR0' ${MEASUREMENTS_FILE})`);
    expect(script).toMatch(/if \[ "\$ACTUAL_PCR0" != "\$EXPECTED_PCR0" \]; then\n.*\n\s+exit 1/);
  });

  it("sizes the enclave allocator and lets vsock-proxy reach only this region's KMS", () => {
    expect(script).toContain(`memory_mib: ${SAMPLE.enclaveMemoryMib}\ncpu_count: 1\n`);
    expect(renderUserData({ ...SAMPLE, enclaveCpuCount: 2 })).toContain("cpu_count: 2\n");
    expect(script).toContain("allowlist:\n- {address: kms.ap-south-1.amazonaws.com, port: 443}\n");
  });

  it("writes the host settings file the units source", () => {
    expect(script).toContain(`cat > ${HOST_ENV_FILE} <<'HOSTENV'\n${renderHostEnv(SAMPLE)}HOSTENV\n`);
  });

  it("installs the Node.js package asked for (default nodejs24)", () => {
    expect(script).toMatch(/dnf install -y .* 'nodejs24'$/m);
    expect(renderUserData({ ...SAMPLE, nodePackage: "nodejs22" })).toMatch(/dnf install -y .* 'nodejs22'$/m);
  });
});
