import {
  DEFAULT_API_KEYS,
  ENCLAVE_CID,
  ENCLAVE_SIGNER_VSOCK_PORT,
  HOST_LISTEN_ADDRESS,
  renderHostScripts,
  renderHostUnits,
  runtimeEnvironment,
  SERVICE_USER,
  SIGNER_SOCKET,
  UNIT_START_ORDER,
} from "../../constructs/host-units";
import { SAMPLE } from "./sandbox/sample";

/** `Key=value` lines of one section of a unit file. */
function section(unitText: string, name: string): string[] {
  const m = new RegExp(`\\[${name}\\]\\n([\\s\\S]*?)(?:\\n\\[|$)`).exec(unitText);
  return m ? m[1]!.split("\n").filter(Boolean) : [];
}

describe("runtimeEnvironment", () => {
  it("points the runtime at the bucket, the signer socket and the key files; API keys on by default", () => {
    expect(runtimeEnvironment(SAMPLE)).toMatchObject({
      EXPRESS_LANE_HOST: HOST_LISTEN_ADDRESS,
      EXPRESS_LANE_PORT: "8080",
      EXPRESS_LANE_SIGNER_SOCKET: SIGNER_SOCKET,
      EXPRESS_LANE_BUCKET: SAMPLE.bucketName,
      EXPRESS_LANE_REGION: "ap-south-1",
      EXPRESS_LANE_API_KEYS: DEFAULT_API_KEYS,
      NODE_ENV: "production",
    });
  });

  it("apiKeys: false turns access control off explicitly; a parameter name replaces the default", () => {
    expect(runtimeEnvironment({ ...SAMPLE, apiKeys: false })).not.toHaveProperty("EXPRESS_LANE_API_KEYS");
    expect(runtimeEnvironment({ ...SAMPLE, apiKeys: "ssm:/other" }).EXPRESS_LANE_API_KEYS).toBe("ssm:/other");
  });
});

describe("renderHostUnits", () => {
  const units = renderHostUnits(SAMPLE);

  it("renders every unit the start order names, and no other (a service not in it is started by its timer)", () => {
    for (const name of UNIT_START_ORDER) expect(units).toHaveProperty([name]);
    for (const name of Object.keys(units)) expect(UNIT_START_ORDER.includes(name) || UNIT_START_ORDER.includes(name.replace(/\.service$/, ".timer"))).toBe(true);
  });

  it("runs the runtime as the service user with the runtime environment, hardened, restarted, after the bridge", () => {
    const runtime = units["express-lane-runtime.service"]!;
    const service = section(runtime, "Service");
    expect(service).toContain(`User=${SERVICE_USER}`);
    expect(service).toEqual(expect.arrayContaining(["NoNewPrivileges=yes", "ProtectSystem=strict"]));
    for (const [k, v] of Object.entries(runtimeEnvironment(SAMPLE))) expect(runtime).toContain(`${k}=${v}`);
    expect(section(runtime, "Unit").join("\n")).toMatch(/After=.*express-lane-bridge\.service/);
  });

  it("bridges the signer socket to the enclave's vsock port, reachable by the service user only", () => {
    const bridge = section(units["express-lane-bridge.service"]!, "Service").join("\n");
    expect(bridge).toContain(`UNIX-LISTEN:${SIGNER_SOCKET},fork,mode=0660`);
    expect(bridge).toContain(`VSOCK-CONNECT:${ENCLAVE_CID}:${ENCLAVE_SIGNER_VSOCK_PORT}`);
    expect(bridge).toContain(`User=${SERVICE_USER}`);
  });

  it("the KMS proxy reaches only this region's KMS, under the allowlist file", () => {
    const proxy = section(units["express-lane-kms-proxy.service"]!, "Service").join("\n");
    expect(proxy).toMatch(/ExecStart=\/usr\/bin\/vsock-proxy \d+ kms\.ap-south-1\.amazonaws\.com 443 --config \/etc\/nitro_enclaves\/vsock-proxy\.yaml/);
  });

  it("the enclave is supervised and never stops being restarted", () => {
    const enclave = units["express-lane-enclave.service"]!;
    expect(section(enclave, "Unit")).toContain("StartLimitIntervalSec=0");
    expect(section(enclave, "Service")).toContain("Type=simple");
  });

  it("timers follow the options", () => {
    const u = renderHostUnits({ ...SAMPLE, sealKeysRefresh: "15min", canaryInterval: "30s" });
    expect(section(u["express-lane-seal-keys.timer"]!, "Timer")).toContain("OnUnitActiveSec=15min");
    expect(section(u["express-lane-canary.timer"]!, "Timer")).toContain("OnUnitActiveSec=30s");
  });
});

describe("renderHostScripts", () => {
  const scripts = renderHostScripts({ ...SAMPLE, enclaveCpuCount: 2 });

  it("starts the enclave in production mode (never --debug-mode) with the configured size", () => {
    const supervisor = scripts["enclave-supervisor"]!;
    expect(supervisor).toContain(`--cpu-count 2 --memory ${SAMPLE.enclaveMemoryMib} --enclave-cid ${ENCLAVE_CID}`);
    expect(supervisor).not.toMatch(/--debug-mode|--attach-console/);
  });

  it("every script is strict bash", () => {
    for (const [name, text] of Object.entries(scripts)) {
      expect([name, text.split("\n")[0]]).toEqual([name, "#!/bin/bash"]);
      expect(text).toMatch(/set -euo pipefail/);
    }
  });
});
