/**
 * User data (bash) for lane hosts. A pure function of plain strings so the exact script can be
 * checked with shellcheck and run in a sandbox (test/constructs/boot-sandbox.test.ts); it contains
 * no `${` or `%{` sequences, which Terraform would treat as interpolation.
 *
 * Order matters:
 *  1. packages, users, directories;
 *  2. the CloudWatch agent, started *before* anything that can fail, so the bootstrap log of a
 *     host that fails to boot still reaches CloudWatch Logs;
 *  3. release artifacts, each checked against the release's published SHA256SUMS, and the EIF's
 *     PCR0 checked against the one the seal key trusts;
 *  4. wrapped seal keys if published (a first deploy has none: not an error, the runtime starts
 *     and reports not ready; the seal-keys timer picks them up when a writer publishes them);
 *  5. systemd units, enabled and started.
 */
import { AGENT_CONFIG_PATH, AgentConfigOptions, METRIC_NAMESPACE, PROMETHEUS_CONFIG_PATH, renderAgentConfig, renderPrometheusConfig } from "./cloudwatch-agent";
import { HISTOGRAM_EXPORTER_PATH, HISTOGRAM_EXPORTER_SOURCE } from "./histogram-exporter";
import {
  AGENT_USER,
  BIN_DIR,
  DEFAULT_NODE_PATH,
  HOST_ENV_FILE,
  HostUnitOptions,
  INSTALL_DIR,
  LOG_DIR,
  MEASUREMENTS_FILE,
  SERVICE_USER,
  UNIT_START_ORDER,
  renderHostScripts,
  renderHostUnits,
} from "./host-units";

/** Artifact bucket prefix of the wrapped seal keys document (wire/seal-keys.ts). */
export const SEAL_KEYS_PREFIX = "seal-keys/";
export const SEAL_KEYS_OBJECT = `${SEAL_KEYS_PREFIX}wrapped.json`;
/** The admin-signed key directory (wire/key-directory.ts), next to the wrapped keys. */
export const KEY_DIRECTORY_OBJECT = `${SEAL_KEYS_PREFIX}directory.json`;
/** The lane signing keys document (wire/lane-key.ts). */
export const LANE_KEYS_OBJECT = `${SEAL_KEYS_PREFIX}lane-keys.json`;

/**
 * Files of a release under `releases/{releaseId}/` that hosts download, each listed in the
 * release's `SHA256SUMS` (published by the deploy workflow next to them). cli.js is the verifier
 * CLI the canary runs.
 */
export const RELEASE_FILES: readonly string[] = ["runtime.js", "bench.js", "cli.js", "enclave.eif"];
export const RELEASE_CHECKSUMS = "SHA256SUMS";

/**
 * AL2023 Node.js: "Node.js in AL2023 is represented by versions 20, 22 and 24 ... The actual
 * executable names will look like node-{MAJOR_VERSION} ... persistence of the version can be
 * achieved by calling the namespaced executable"; packages are named `nodejs{MAJOR_VERSION}`
 * (https://docs.aws.amazon.com/linux/al2023/ug/nodejs.html). 24 is the current LTS, the same
 * major as the enclave image.
 */
export const DEFAULT_NODE_PACKAGE = "nodejs24";

export interface UserDataOptions extends HostUnitOptions {
  /** Versioned artifact bucket holding `releases/{releaseId}/...` (RELEASE_FILES + SHA256SUMS). */
  readonly artifactBucket: string;
  readonly releaseId: string;
  /** PCR0 the downloaded EIF must have; the host refuses to start anything else. */
  readonly expectedPcr0: string;
  readonly agent: AgentConfigOptions;
  /** AL2023 Node.js package providing `nodePath`. @default DEFAULT_NODE_PACKAGE ("nodejs24") */
  readonly nodePackage?: string;
  /** The canary's signed read (a path on the runtime). @default "/v1/features/user_profile/express-lane-canary" */
  readonly canaryPath?: string;
  /** SSM SecureString holding the canary's API key (plaintext, role reader). @default "/express-lane/canary-api-key" */
  readonly canaryApiKeyParameter?: string;
}

export const DEFAULT_CANARY_PATH = "/v1/features/user_profile/express-lane-canary";
export const DEFAULT_CANARY_API_KEY_PARAMETER = "/express-lane/canary-api-key";

const SAFE = /^[A-Za-z0-9._\-/:@+=]*$/;

function shellValue(name: string, v: string): string {
  if (!SAFE.test(v)) throw new Error(`user data: ${name} contains characters that are not safe in a shell assignment: ${JSON.stringify(v)}`);
  return `'${v}'`;
}

function heredoc(path: string, content: string, mode: string, marker: string): string {
  if (content.split("\n").includes(marker)) throw new Error(`user data: content of ${path} contains its heredoc marker ${marker}`);
  const body = content.endsWith("\n") ? content : content + "\n";
  return `install -d -m 0755 "$(dirname ${path})"\ncat > ${path} <<'${marker}'\n${body}${marker}\nchmod ${mode} ${path}\n`;
}

/** Settings the host scripts source (HOST_ENV_FILE). */
export function renderHostEnv(o: UserDataOptions): string {
  const node = o.nodePath ?? DEFAULT_NODE_PATH;
  const vars: Record<string, string> = {
    REGION: o.region,
    ARTIFACT_BUCKET: o.artifactBucket,
    SEAL_KEYS_OBJECT,
    KEY_DIRECTORY_OBJECT,
    LANE_KEYS_OBJECT,
    READER_PORT: String(o.readerPort),
    METRIC_NAMESPACE,
    NODE: node,
    CLI: `${INSTALL_DIR}/cli.js`,
    MEASUREMENTS_FILE,
    // The canary's trust anchor for attestation documents: the AWS Nitro Enclaves root pinned in
    // the verifier (verifier/roots/). Not configurable from the stack.
    ATTEST_ROOT: "aws",
    CANARY_PATH: o.canaryPath ?? DEFAULT_CANARY_PATH,
    CANARY_API_KEY_PARAMETER: o.apiKeys === false ? "" : (o.canaryApiKeyParameter ?? DEFAULT_CANARY_API_KEY_PARAMETER),
  };
  return (
    Object.entries(vars)
      .map(([k, v]) => `${k}=${shellValue(k, v)}`)
      .join("\n") + "\n"
  );
}

export function renderUserData(o: UserDataOptions): string {
  const units = renderHostUnits(o);
  const scripts = renderHostScripts(o);
  const nodePkg = o.nodePackage ?? DEFAULT_NODE_PACKAGE;
  const allocator = `---\n# Written by Express Lane user data.\nmemory_mib: ${o.enclaveMemoryMib}\ncpu_count: ${o.enclaveCpuCount ?? 1}\n`;
  const proxyAllowlist = `allowlist:\n- {address: kms.${o.region}.amazonaws.com, port: 443}\n`;
  const parts: string[] = [
    "#!/bin/bash",
    "# Express Lane host bootstrap. Generated by constructs/user-data.ts; do not edit by hand.",
    "set -euo pipefail",
    "exec >>/var/log/express-lane-bootstrap.log 2>&1",
    "trap 'echo \"express-lane bootstrap: FAILED at line $LINENO\" >&2' ERR",
    "",
    `REGION=${shellValue("region", o.region)}`,
    `ARTIFACT_BUCKET=${shellValue("artifactBucket", o.artifactBucket)}`,
    `RELEASE=${shellValue("releaseId", o.releaseId)}`,
    `EXPECTED_PCR0=${shellValue("expectedPcr0", o.expectedPcr0)}`,
    `INSTALL_DIR=${shellValue("installDir", INSTALL_DIR)}`,
    "",
    'echo "express-lane bootstrap: release $RELEASE in $REGION"',
    `dnf install -y aws-nitro-enclaves-cli socat jq amazon-cloudwatch-agent ${shellValue("nodePackage", nodePkg)}`,
    `if ! id ${SERVICE_USER} >/dev/null 2>&1; then useradd --system --no-create-home --shell /sbin/nologin ${SERVICE_USER}; fi`,
    `install -d -m 0755 "$INSTALL_DIR" ${BIN_DIR} "$(dirname ${HOST_ENV_FILE})"`,
    // The agent runs as cwagent (`run_as_user` in its configuration; the amazon-cloudwatch-agent
    // package creates that user: CloudWatch User Guide, "Manually create or edit the CloudWatch agent
    // configuration file", agent section, https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-Configuration-File-Details.html).
    // The runtime's log directory is the
    // service user's, setgid so files in it keep its group, and cwagent is in that group: the agent
    // can read the runtime's log, nobody else can.
    `install -d -o ${SERVICE_USER} -g ${SERVICE_USER} -m 2750 ${LOG_DIR}`,
    // (The package creates cwagent; creating it here if absent keeps this step from depending on that.)
    `if ! id ${AGENT_USER} >/dev/null 2>&1; then useradd --system --no-create-home --shell /sbin/nologin ${AGENT_USER}; fi`,
    `usermod -a -G ${SERVICE_USER} ${AGENT_USER}`,
    "",
    "# CloudWatch agent first: the bootstrap log reaches CloudWatch Logs even if a later step fails.",
    heredoc(PROMETHEUS_CONFIG_PATH, renderPrometheusConfig(o.agent), "0644", "PROMETHEUS"),
    heredoc(AGENT_CONFIG_PATH, renderAgentConfig(o.agent), "0644", "AGENT"),
    `/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:${AGENT_CONFIG_PATH}`,
    "",
    "# Nitro Enclaves allocator: CPUs and memory reserved for the enclave.",
    heredoc("/etc/nitro_enclaves/allocator.yaml", allocator, "0644", "ALLOCATOR"),
    "# vsock-proxy may only reach KMS in this region.",
    heredoc("/etc/nitro_enclaves/vsock-proxy.yaml", proxyAllowlist, "0644", "PROXY"),
    "# Settings and scripts of the units.",
    heredoc(HOST_ENV_FILE, renderHostEnv(o), "0644", "HOSTENV"),
    ...Object.entries(scripts).map(([name, text]) => heredoc(`${BIN_DIR}/${name}`, text, "0755", "SCRIPT")),
    "",
    "# Release artifacts from the versioned artifact bucket, each checked against the release's SHA256SUMS.",
    `aws s3 cp --only-show-errors --region "$REGION" "s3://$ARTIFACT_BUCKET/releases/$RELEASE/${RELEASE_CHECKSUMS}" "$INSTALL_DIR/${RELEASE_CHECKSUMS}"`,
    `for f in ${RELEASE_FILES.join(" ")}; do`,
    '  aws s3 cp --only-show-errors --region "$REGION" "s3://$ARTIFACT_BUCKET/releases/$RELEASE/$f" "$INSTALL_DIR/$f"',
    "  # SHA256SUMS lines are `<sha256>  <path>`; the path may carry a directory (`release/runtime.js`).",
    `  want=$(awk -v f="$f" '{ n = $2; sub(/^[*]/, "", n); sub(/.*[/]/, "", n); if (n == f) print $1 }' "$INSTALL_DIR/${RELEASE_CHECKSUMS}")`,
    '  if ! [[ "$want" =~ ^[0-9a-f]{64}$ ]]; then',
    `    echo "express-lane bootstrap: $f has no (single) entry in ${RELEASE_CHECKSUMS}" >&2`,
    "    exit 1",
    "  fi",
    "  have=$(sha256sum \"$INSTALL_DIR/$f\" | awk '{ print $1 }')",
    '  if [ "$have" != "$want" ]; then',
    `    echo "express-lane bootstrap: $f has SHA-256 $have, ${RELEASE_CHECKSUMS} says $want" >&2`,
    "    exit 1",
    "  fi",
    '  chmod 0644 "$INSTALL_DIR/$f"',
    "done",
    "# Refuse an EIF whose measurement differs from the one the seal key is bound to.",
    `nitro-cli describe-eif --eif-path "$INSTALL_DIR/enclave.eif" > ${MEASUREMENTS_FILE}`,
    `chmod 0644 ${MEASUREMENTS_FILE}`,
    `ACTUAL_PCR0=$(jq -r '.Measurements.PCR0' ${MEASUREMENTS_FILE})`,
    'if [ "$ACTUAL_PCR0" != "$EXPECTED_PCR0" ]; then',
    '  echo "express-lane bootstrap: EIF PCR0 $ACTUAL_PCR0 does not match expected $EXPECTED_PCR0" >&2',
    "  exit 1",
    "fi",
    "",
    "# Wrapped seal keys (KMS ciphertexts, not secret) if a writer has published them; a first deploy has none.",
    `${BIN_DIR}/fetch-seal-keys`,
    "",
    heredoc(HISTOGRAM_EXPORTER_PATH, HISTOGRAM_EXPORTER_SOURCE, "0644", "EXPORTER"),
    "# systemd units.",
    ...Object.entries(units).map(([name, text]) => heredoc(`/etc/systemd/system/${name}`, text, "0644", "UNIT")),
    "systemctl daemon-reload",
    "systemctl enable --now nitro-enclaves-allocator.service",
    `systemctl enable --now ${UNIT_START_ORDER.join(" ")}`,
    'echo "express-lane bootstrap: done"',
    "",
  ];
  const script = parts.join("\n");
  const bad = /\$\{|%\{/.exec(script);
  if (bad) throw new Error(`user data contains "${bad[0]}", which Terraform would interpolate`);
  return script;
}
