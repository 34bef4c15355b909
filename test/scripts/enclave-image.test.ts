// The enclave image and EIF build run only on AWS/CI (no Docker engine, no nitro-cli here). What
// can be checked here: the shell scripts pass shellcheck, build-eif.sh does the right thing with
// stand-in docker/nitro-cli, the image wiring matches the host units, the allocator config parses.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ENCLAVE_SIGNER_VSOCK_PORT, KMS_VSOCK_PROXY_PORT } from "../../constructs/host-units";
import { DEFAULT_NSM_HELPER } from "../../enclave/nsm/device-nsm";
import { loadMeasurementsFile } from "../../verifier/attestation";
import { parseSealKmsConfig } from "../../enclave/key-provisioning";
import { tempDir } from "../enclave/nsm/fixtures";

const repo = join(__dirname, "../..");
const read = (path: string) => readFileSync(join(repo, path), "utf8");
const hasShellcheck = spawnSync("shellcheck", ["--version"]).status === 0;
const hasJq = spawnSync("jq", ["--version"]).status === 0;

(hasShellcheck ? test : test.skip)("shellcheck passes on the enclave scripts", () => {
  const result = spawnSync("shellcheck", ["scripts/build-eif.sh", "enclave/image/entrypoint.sh"], { cwd: repo, encoding: "utf8" });
  expect(result.stdout + result.stderr).toBe("");
  expect(result.status).toBe(0);
});

describe("enclave/allocator.yaml", () => {
  test("gives the enclave 1 vCPU and a sized amount of memory", () => {
    const config = parseYaml(read("enclave/allocator.yaml")) as Record<string, unknown>;
    expect(Object.keys(config).sort()).toEqual(["cpu_count", "memory_mib"]);
    expect(config.cpu_count).toBe(1); // c7g.large: the parent keeps the other vCPU
    expect(Number.isInteger(config.memory_mib)).toBe(true);
    expect(config.memory_mib as number).toBeGreaterThanOrEqual(1024);
    expect(config.memory_mib as number).toBeLessThanOrEqual(2048); // c7g.large has 4 GiB; leave the parent room
  });
});

describe("enclave image", () => {
  const dockerfile = read("enclave/image/Dockerfile");
  const entrypoint = read("enclave/image/entrypoint.sh");

  test("is arm64, builds the NSM helper from source, and runs the entrypoint", () => {
    expect(dockerfile.match(/^FROM --platform=linux\/arm64 /gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/gcc .*-static -o \/nsm-helper \/src\/nsm-helper\.c/);
    expect(dockerfile).toContain("COPY --from=nsm-helper /nsm-helper /usr/local/bin/nsm-helper");
    expect(dockerfile).toContain('CMD ["/bin/sh", "/app/entrypoint.sh"]');
    // Every COPY source from the context is a file build-eif.sh stages.
    const staged = ["Dockerfile", "entrypoint.sh", "node_modules", "nsm-helper.c", "seal-kms.json", "signer.js"];
    for (const [, source] of dockerfile.matchAll(/^COPY (?!--from)(\S+) /gm)) expect(staged).toContain(source);
  });

  test("installs the helper where DeviceNsm looks for it", () => {
    expect(dockerfile).toContain(`COPY --from=nsm-helper /nsm-helper ${DEFAULT_NSM_HELPER}`);
  });

  test("entrypoint bridges the vsock ports the host units use, and starts the signer on the device NSM", () => {
    expect(entrypoint).toContain(`SIGNER_VSOCK_PORT=${ENCLAVE_SIGNER_VSOCK_PORT}`);
    expect(entrypoint).toContain(`KMS_VSOCK_PORT=${KMS_VSOCK_PROXY_PORT}`);
    expect(entrypoint).toContain("PARENT_CID=3");
    expect(entrypoint).toContain('"VSOCK-LISTEN:${SIGNER_VSOCK_PORT},fork,reuseaddr" "UNIX-CONNECT:${SIGNER_SOCKET}"');
    // The production entry point: device NSM only (no --nsm choice, no dev CA), trust pinned in the image.
    expect(entrypoint).toMatch(/^exec node \/app\/signer\.js --socket "\$\{SIGNER_SOCKET\}" --trust-config \/app\/trust\.json$/m);
    expect(entrypoint).not.toMatch(/dev-signer|--dev-ca|--writer-key-file/);
    expect(entrypoint).toContain("ip link set lo up");
    expect(entrypoint).not.toMatch(/--debug|--nsm local/);
  });
});

(hasJq ? describe : describe.skip)("scripts/build-eif.sh with stand-in docker and nitro-cli", () => {
  const pcr = (c: string) => c.repeat(96);

  const SEAL_ARN = "arn:aws:kms:ap-south-1:111122223333:key/5ea15ea1-0000-4000-8000-000000000000";
  function run(nitroOutput: unknown, sealArn = SEAL_ARN, nodeModules?: string) {
    const dir = tempDir("lane-eif-");
    const bin = join(dir, "bin");
    mkdirSync(bin);
    const log = join(dir, "calls.log");
    const tool = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/bin/sh\necho "${name} $*" >> '${log}'\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    // docker: record what the staged context holds (files, and which packages under node_modules).
    tool("docker", `ctx=$(eval echo "\\\${$#}"); ls "$ctx" | tr '\\n' ' ' >> '${log}'; echo >> '${log}'; (cd "$ctx" && find node_modules -name package.json | sort | tr '\\n' ' ') >> '${log}'; echo >> '${log}'; cp "$ctx/seal-kms.json" '${dir}/seal-kms.json' 2>/dev/null || true`);
    // nitro-cli: write the EIF where asked, print measurements like the real one.
    tool("nitro-cli", `out=""; while [ $# -gt 0 ]; do [ "$1" = "--output-file" ] && out=$2; shift; done; echo EIF > "$out"; echo '${JSON.stringify(nitroOutput)}'`);
    const bundle = join(dir, "signer.js");
    writeFileSync(bundle, "console.log('signer')\n");
    const out = join(dir, "out");
    const result = spawnSync("bash", ["scripts/build-eif.sh"], {
      cwd: repo,
      encoding: "utf8",
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, OUT_DIR: out, SIGNER_BUNDLE: bundle, IMAGE: "express-lane-signer:test", SEAL_KMS_KEY_ARN: sealArn, ...(nodeModules ? { NODE_MODULES: nodeModules } : { NODE_MODULES: join(dir, "no-node-modules") }) },
    });
    const sealConfig = existsSync(join(dir, "seal-kms.json")) ? JSON.parse(readFileSync(join(dir, "seal-kms.json"), "utf8")) : undefined;
    return { result, out, sealConfig, calls: existsSync(log) ? readFileSync(log, "utf8") : "" };
  }

  test("builds arm64, calls nitro-cli with the image, writes measurements.json the verifier reads", () => {
    const measurements = { HashAlgorithm: "Sha384 { ... }", PCR0: pcr("a"), PCR1: pcr("b"), PCR2: pcr("c") };
    const { result, out, calls, sealConfig } = run({ Measurements: measurements });
    // The pinned seal key, in the shape the signer's --seal-kms-config reads.
    expect(sealConfig).toEqual({ keyArn: SEAL_ARN, region: "ap-south-1" });
    expect(parseSealKmsConfig(sealConfig)).toEqual(sealConfig);
    expect(result.stderr).toContain("build-eif: ");
    expect(result.status).toBe(0);
    expect(calls).toMatch(/^docker build --platform linux\/arm64 --build-arg NODE_IMAGE=node:20-bookworm-slim --tag express-lane-signer:test \S+\/context$/m);
    expect(calls).toContain("Dockerfile entrypoint.sh node_modules nsm-helper.c seal-kms.json signer.js");
    expect(result.stderr).toContain("pure-JS decoder");
    expect(calls).toContain(`nitro-cli build-enclave --docker-uri express-lane-signer:test --output-file ${out}/express-lane.eif`);
    expect(existsSync(join(out, "express-lane.eif"))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, "measurements.json"), "utf8"))).toEqual({ Measurements: measurements });
    expect(loadMeasurementsFile(join(out, "measurements.json"))[0]!.get(0)!.toString("hex")).toBe(pcr("a"));
  });

  test("stages msgpackr's native linux-arm64 decoder from the lockfile install, and nothing else of node_modules", () => {
    const nm = tempDir("lane-nm-");
    for (const pkg of ["msgpackr-extract", "node-gyp-build-optional-packages", "@msgpackr-extract/msgpackr-extract-linux-arm64", "@msgpackr-extract/msgpackr-extract-linux-x64", "left-pad"]) {
      mkdirSync(join(nm, pkg), { recursive: true });
      writeFileSync(join(nm, pkg, "package.json"), "{}");
    }
    const { result, calls } = run({ Measurements: { HashAlgorithm: "Sha384 { ... }", PCR0: pcr("a"), PCR1: pcr("b"), PCR2: pcr("c") } }, SEAL_ARN, nm);
    expect(result.status).toBe(0);
    expect(calls).toContain("node_modules/@msgpackr-extract/msgpackr-extract-linux-arm64/package.json node_modules/msgpackr-extract/package.json node_modules/node-gyp-build-optional-packages/package.json \n");
    expect(result.stderr).not.toContain("pure-JS decoder");
  });

  test("refuses to build without a seal key ARN (an alias or nothing is not pinned)", () => {
    for (const arn of ["", "arn:aws:kms:ap-south-1:111122223333:alias/express-lane-seal"]) {
      const { result } = run({ Measurements: {} }, arn);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/SEAL_KMS_KEY_ARN/);
    }
  });

  test("fails when nitro-cli's output lacks a PCR", () => {
    const { result } = run({ Measurements: { HashAlgorithm: "Sha384 { ... }", PCR0: pcr("a"), PCR2: pcr("c") } });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/no PCR0\/1\/2/);
  });
});
