// The enclave image and EIF build run only on AWS/CI (no Docker engine, no nitro-cli here). What
// can be checked here: the shell scripts pass shellcheck, build-eif.sh does the right thing with
// stand-in docker/nitro-cli, the image wiring matches the host units, the allocator config parses.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ENCLAVE_SIGNER_VSOCK_PORT, KMS_VSOCK_PROXY_PORT } from "../../constructs/host-units";
import { DEFAULT_NSM_HELPER } from "../../enclave/nsm/device-nsm";
import { loadMeasurementsFile } from "../../verifier/attestation";
import { parseImageTrust } from "../../enclave/trust-config";
import { parseMeasurements } from "../../stacks/config";
import { tempDir } from "../enclave/nsm/fixtures";
import { requireTool } from "../helpers/os-tools";

const repo = join(__dirname, "../..");
const read = (path: string) => readFileSync(join(repo, path), "utf8");
const hasShellcheck = requireTool("shellcheck", "shellcheck of scripts/build-eif.sh and enclave/image/entrypoint.sh");
const hasJq = requireTool("jq", "scripts/build-eif.sh with stand-in docker and nitro-cli");
const baseImage = JSON.parse(read("enclave/image/base-image.json")) as { image: string; tag: string; digest: string; node: string };
const PINNED_BASE = `${baseImage.image}:${baseImage.tag}@${baseImage.digest}`;
/** An admin public key entry as `express-lane admin-key public` prints it (32 bytes, base64). */
const ADMIN = { kid: "admin-1", publicKey: Buffer.alloc(32, 7).toString("base64") };

describe("enclave/image/base-image.json", () => {
  test("pins the current Node LTS (24) base image by digest, with the tag it belongs to", () => {
    expect(baseImage.image).toBe("node");
    expect(baseImage.tag).toMatch(/^24-bookworm-slim$/);
    expect(baseImage.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(baseImage.node).toMatch(/^24\.\d+\.\d+$/);
  });
});

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
    const staged = ["Dockerfile", "entrypoint.sh", "node_modules", "nsm-helper.c", "signer.js", "trust.json"];
    for (const [, source] of dockerfile.matchAll(/^COPY (?!--from)(\S+) /gm)) expect(staged).toContain(source);
  });

  test("builds every stage FROM the NODE_IMAGE argument, which has no default (nothing unpinned)", () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE$/m);
    expect(dockerfile).not.toMatch(/^ARG NODE_IMAGE=/m);
    for (const line of dockerfile.split("\n").filter((l) => /^\s*FROM\s/i.test(l))) expect(line).toMatch(/^FROM --platform=linux\/arm64 \$\{NODE_IMAGE\}( AS [a-z0-9-]+)?$/);
    expect(dockerfile).not.toMatch(/node:20/);
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
    // --workers auto: one signing thread per enclave vCPU (issue #15 goal 5), fixed in the image.
    expect(entrypoint).toMatch(/^exec node \/app\/signer\.js --socket "\$\{SIGNER_SOCKET\}" --trust-config \/app\/trust\.json --workers auto$/m);
    expect(entrypoint).not.toMatch(/dev-signer|--dev-ca|--writer-key-file/);
    expect(entrypoint).toContain("ip link set lo up");
    expect(entrypoint).not.toMatch(/--debug|--nsm local/);
  });
});

(hasJq ? describe : describe.skip)("scripts/build-eif.sh with stand-in docker and nitro-cli", () => {
  const pcr = (c: string) => c.repeat(96);

  const SEAL_ARN = "arn:aws:kms:ap-south-1:111122223333:key/5ea15ea1-0000-4000-8000-000000000000";
  type RunOptions = {
    sealArn?: string;
    nodeModules?: string;
    env?: Record<string, string>;
    /** Stand-ins to leave out of PATH (a missing prerequisite). */
    without?: ("docker" | "nitro-cli" | "blobs" | "uname")[];
    /** Edit a copy of enclave/image before the build. */
    imageDir?: (dir: string) => void;
    dockerDaemon?: boolean;
    /** With env.PATH: put the stand-ins in front of it (default: env.PATH replaces the whole PATH). */
    prependStandIns?: boolean;
  };
  function run(nitroOutput: unknown, opts: RunOptions = {}) {
    const { sealArn = SEAL_ARN, nodeModules, without = [], dockerDaemon = true } = opts;
    const dir = tempDir("lane-eif-");
    const bin = join(dir, "bin");
    mkdirSync(bin);
    const log = join(dir, "calls.log");
    const tool = (name: string, body: string) => {
      if ((without as string[]).includes(name)) return;
      writeFileSync(join(bin, name), `#!/bin/sh\necho "${name} $*" >> '${log}'\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    // docker: `info` answers when the daemon is "reachable"; `build` records what the staged
    // context holds (files, and which packages under node_modules).
    tool(
      "docker",
      `if [ "$1" = info ]; then ${dockerDaemon ? "exit 0" : "echo 'Cannot connect to the Docker daemon' >&2; exit 1"}; fi
ctx=$(eval echo "\\\${$#}"); ls "$ctx" | tr '\\n' ' ' >> '${log}'; echo >> '${log}'; (cd "$ctx" && find node_modules -name package.json | sort | tr '\\n' ' ') >> '${log}'; echo >> '${log}'; cp "$ctx/trust.json" '${dir}/trust.json' 2>/dev/null || true`,
    );
    // nitro-cli: write the EIF where asked, print measurements like the real one.
    tool(
      "nitro-cli",
      `if [ "$1" = --version ]; then echo "Nitro CLI 1.4.2"; exit 0; fi; out=""; while [ $# -gt 0 ]; do [ "$1" = "--output-file" ] && out=$2; shift; done; echo EIF > "$out"; echo '${JSON.stringify(nitroOutput)}'`,
    );
    // The Graviton runner: uname -m says aarch64 (this test machine is x86_64).
    tool("uname", `[ "$1" = -m ] && echo aarch64 || echo Linux`);
    const blobs = join(dir, "blobs");
    mkdirSync(blobs);
    if (!without.includes("blobs")) for (const b of ["Image", "Image.config", "cmdline", "init", "linuxkit", "nsm.ko"]) writeFileSync(join(blobs, b), b);
    let imageDir: string | undefined;
    if (opts.imageDir) {
      imageDir = join(dir, "image");
      cpSync(join(repo, "enclave/image"), imageDir, { recursive: true });
      opts.imageDir(imageDir);
    }
    const bundle = join(dir, "signer.js");
    writeFileSync(bundle, "console.log('signer')\n");
    const out = join(dir, "out");
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      PATH: `${bin}:${process.env.PATH}`,
      OUT_DIR: out,
      SIGNER_BUNDLE: bundle,
      IMAGE: "express-lane-signer:test",
      SEAL_KMS_KEY_ARN: sealArn,
      LANE_NAME: "prod",
      ADMIN_KEYS: JSON.stringify([ADMIN]),
      NODE_MODULES: nodeModules ?? join(dir, "no-node-modules"),
      NITRO_CLI_BLOBS: blobs,
      ...(imageDir ? { IMAGE_DIR: imageDir } : {}),
      ...opts.env,
    };
    if (opts.prependStandIns && opts.env?.PATH !== undefined) env.PATH = `${bin}:${opts.env.PATH}`;
    delete env.NODE_IMAGE;
    if (opts.env?.NODE_IMAGE) env.NODE_IMAGE = opts.env.NODE_IMAGE;
    const result = spawnSync("bash", ["scripts/build-eif.sh"], { cwd: repo, encoding: "utf8", env });
    const sealConfig = existsSync(join(dir, "trust.json")) ? JSON.parse(readFileSync(join(dir, "trust.json"), "utf8")) : undefined;
    return { result, out, sealConfig, calls: existsSync(log) ? readFileSync(log, "utf8") : "" };
  }
  const GOOD = { Measurements: { HashAlgorithm: "Sha384 { ... }", PCR0: pcr("a"), PCR1: pcr("b"), PCR2: pcr("c") } };

  test("builds arm64, calls nitro-cli with the image, writes measurements.json the verifier reads", () => {
    const measurements = { HashAlgorithm: "Sha384 { ... }", PCR0: pcr("a"), PCR1: pcr("b"), PCR2: pcr("c") };
    const { result, out, calls, sealConfig } = run({ Measurements: measurements });
    // The image trust config: lane, admin keys and the pinned seal key, in the shape the signer's --trust-config reads.
    expect(sealConfig).toEqual({ lane: "prod", adminKeys: [ADMIN], sealKms: { keyArn: SEAL_ARN, region: "ap-south-1" } });
    expect(parseImageTrust(JSON.stringify(sealConfig))).toEqual(sealConfig);
    expect(result.stderr).toContain("build-eif: ");
    expect(result.status).toBe(0);
    expect(calls).toContain(`docker build --platform linux/arm64 --build-arg NODE_IMAGE=${PINNED_BASE} --tag express-lane-signer:test `);
    expect(calls).toMatch(/^docker build .* \S+\/context$/m);
    expect(calls).toContain("Dockerfile entrypoint.sh node_modules nsm-helper.c signer.js trust.json");
    expect(result.stderr).toContain("pure-JS decoder");
    expect(calls).toContain(`nitro-cli build-enclave --docker-uri express-lane-signer:test --output-file ${out}/express-lane.eif`);
    expect(existsSync(join(out, "express-lane.eif"))).toBe(true);
    // The measurements, and next to them the base image they were built from.
    const written = readFileSync(join(out, "measurements.json"), "utf8");
    const sha = (text: string) => createHash("sha256").update(text).digest("hex");
    expect(JSON.parse(written)).toEqual({
      Measurements: measurements,
      BaseImage: { reference: PINNED_BASE, digest: baseImage.digest },
      // nitro-cli and the blobs it measured into PCR0/PCR1 (the stand-in blobs hold their own names).
      Toolchain: { nitroCli: "Nitro CLI 1.4.2", blobsSha256: Object.fromEntries(["Image", "cmdline", "init", "linuxkit", "nsm.ko"].map((b) => [b, sha(b)])) },
    });
    expect(result.stderr).toContain(`base=${PINNED_BASE}`);
    // Both readers of the file accept it: the verifier and the stacks' config.
    expect(loadMeasurementsFile(join(out, "measurements.json"))[0]!.get(0)!.toString("hex")).toBe(pcr("a"));
    expect(parseMeasurements(written, "measurements.json").pcr0).toBe(pcr("a"));
  });

  test("stages msgpackr's native linux-arm64 decoder from the lockfile install, and nothing else of node_modules", () => {
    const nm = tempDir("lane-nm-");
    for (const pkg of [
      "msgpackr-extract",
      "node-gyp-build-optional-packages",
      "@msgpackr-extract/msgpackr-extract-linux-arm64",
      "@msgpackr-extract/msgpackr-extract-linux-x64",
      "left-pad",
    ]) {
      mkdirSync(join(nm, pkg), { recursive: true });
      writeFileSync(join(nm, pkg, "package.json"), "{}");
    }
    const { result, calls } = run(GOOD, { nodeModules: nm });
    expect(result.status).toBe(0);
    expect(calls).toContain(
      "node_modules/@msgpackr-extract/msgpackr-extract-linux-arm64/package.json node_modules/msgpackr-extract/package.json node_modules/node-gyp-build-optional-packages/package.json \n",
    );
    expect(result.stderr).not.toContain("pure-JS decoder");
  });

  test("refuses to build without a seal key ARN (an alias or nothing is not pinned)", () => {
    for (const arn of ["", "arn:aws:kms:ap-south-1:111122223333:alias/express-lane-seal"]) {
      const { result } = run({ Measurements: {} }, { sealArn: arn });
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/SEAL_KMS_KEY_ARN/);
    }
  });

  test("fails when nitro-cli's output lacks a PCR", () => {
    const { result } = run({ Measurements: { HashAlgorithm: "Sha384 { ... }", PCR0: pcr("a"), PCR2: pcr("c") } });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/no PCR0\/1\/2/);
  });

  test("refuses an unpinned base image, from the environment or from base-image.json", () => {
    for (const image of ["node:24-bookworm-slim", "node@sha256:abc", "node:24-bookworm-slim@sha256:" + "a".repeat(63)]) {
      const { result, calls } = run(GOOD, { env: { NODE_IMAGE: image } });
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/not pinned by digest/);
      expect(calls).not.toMatch(/docker build|nitro-cli/);
    }
    const { result } = run(GOOD, { imageDir: (d) => writeFileSync(join(d, "base-image.json"), JSON.stringify({ ...baseImage, digest: "" })) });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/base-image\.json does not pin the base image by digest/);
    const pinned = "node:24-bookworm-slim@sha256:" + "b".repeat(64);
    const ok = run(GOOD, { env: { NODE_IMAGE: pinned } });
    expect(ok.result.status).toBe(0);
    expect(ok.calls).toContain(`--build-arg NODE_IMAGE=${pinned} `);
  });

  test("refuses a Dockerfile with a literal FROM or a default base image (unpinned despite the digest check)", () => {
    for (const edit of [
      (t: string) => t.replace("FROM --platform=linux/arm64 ${NODE_IMAGE}\n", "FROM --platform=linux/arm64 node:24-bookworm-slim\n"),
      (t: string) => t.replace(/^ARG NODE_IMAGE$/m, "ARG NODE_IMAGE=node:24-bookworm-slim"),
      (t: string) => `${t}\nFROM debian:bookworm AS extra\n`,
    ]) {
      const { result, calls } = run(GOOD, { imageDir: (d) => writeFileSync(join(d, "Dockerfile"), edit(readFileSync(join(d, "Dockerfile"), "utf8"))) });
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/Dockerfile: /);
      expect(calls).not.toMatch(/docker build/);
    }
  });

  test("checks every prerequisite first and names each missing one with what to install", () => {
    const { result, calls } = run(GOOD, { without: ["nitro-cli", "blobs", "uname"], dockerDaemon: false, sealArn: "" });
    expect(result.status).toBe(1);
    const err = result.stderr;
    expect(err).toMatch(/cannot build the EIF/);
    expect(err).toMatch(/docker cannot reach its daemon .*docker\.sock/);
    expect(err).toMatch(/nitro-cli not found: install aws-nitro-enclaves-cli/);
    expect(err).toMatch(/blob .*\/Image is missing: install aws-nitro-enclaves-cli-devel/);
    expect(err).toMatch(/this machine is x86_64: build on arm64/);
    expect(err).toMatch(/SEAL_KMS_KEY_ARN must be/);
    // Nothing was built or staged.
    expect(calls).not.toMatch(/docker build|nitro-cli build/);
  });

  test("refuses to build without the lane name and admin keys that trust.json pins (P4: the image decides which admins sign key directories)", () => {
    const cases: Record<string, string>[] = [{ LANE_NAME: "" }, { ADMIN_KEYS: "" }, { ADMIN_KEYS: "[]" }, { ADMIN_KEYS: JSON.stringify([{ kid: "a", publicKey: "short" }]) }];
    for (const env of cases) {
      const { result, calls } = run(GOOD, { env });
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(env.LANE_NAME !== undefined ? /LANE_NAME must be/ : /ADMIN_KEYS must be/);
      expect(calls).not.toMatch(/docker build/);
    }
  });

  test("reports a missing docker CLI", () => {
    // PATH with the stand-ins and only the plain tools the script needs: no docker anywhere.
    const tools = tempDir("lane-eif-tools-");
    for (const t of ["bash", "sh", "dirname", "git", "jq", "grep", "cat"]) {
      const found = spawnSync("sh", ["-c", `command -v ${t}`], { encoding: "utf8" }).stdout.trim();
      if (found) symlinkSync(found, join(tools, t));
    }
    const { result } = run(GOOD, { without: ["docker"], env: { PATH: `${tools}` }, prependStandIns: true });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/docker not found: install the Docker CLI/);
    expect(result.stderr).not.toMatch(/nitro-cli not found/);
  });
});
