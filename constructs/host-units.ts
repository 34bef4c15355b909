/**
 * systemd units and host scripts for a lane host, generated as text so tests, shellcheck and
 * `systemd-analyze verify` can check exactly what user data installs. Pure functions: no
 * constructs, no tokens.
 *
 * Process layout on the parent instance:
 *   express-lane-kms-proxy   vsock-proxy :8000 → kms.{region}.amazonaws.com:443 (enclave's KMS path)
 *   express-lane-enclave     enclave supervisor: nitro-cli run-enclave (CID 16, never --debug-mode),
 *                            then watches `nitro-cli describe-enclaves` and the runtime's view of
 *                            the signer; exits when the enclave is gone or its signer stays
 *                            unavailable, so systemd restarts it (Restart=always)
 *   express-lane-bridge      socat UNIX-LISTEN:/run/express-lane/signer.sock ↔ VSOCK-CONNECT:16:5000
 *   express-lane-runtime     node-24 /opt/express-lane/runtime.js (reader, 0.0.0.0:8080: the NLB's
 *                            health check and traffic reach the instance's private address)
 *   express-lane-metrics     histogram exporter (constructs/histogram-exporter.ts)
 *   express-lane-seal-keys   (timer) re-fetches seal-keys/wrapped.json; absent = not yet published
 *   express-lane-canary      (timer) one signed read, verified end to end, published as a metric
 */
export const ENCLAVE_CID = 16;
export const ENCLAVE_SIGNER_VSOCK_PORT = 5000;
export const KMS_VSOCK_PROXY_PORT = 8000;
export const SIGNER_SOCKET = "/run/express-lane/signer.sock";
export const INSTALL_DIR = "/opt/express-lane";
export const BIN_DIR = "/opt/express-lane/bin";
export const LOG_DIR = "/var/log/express-lane";
export const SERVICE_USER = "express-lane";
/** The CloudWatch agent's user (amazon-cloudwatch-agent package; `run_as_user` in its config). */
export const AGENT_USER = "cwagent";
export const ENCLAVE_NAME = "express-lane";
/** Wrapped seal keys document, fetched by user data; the runtime provisions the signer from it. */
export const SEAL_KEYS_FILE = "/opt/express-lane/seal-keys.json";
/** The admin-signed key directory (wire/key-directory.ts): which writer keys the enclave uses. */
export const KEY_DIRECTORY_FILE = "/opt/express-lane/key-directory.json";
/** The lane signing keys document (wire/lane-key.ts): one trust anchor for the lane's consumers. */
export const LANE_KEYS_FILE = "/opt/express-lane/lane-keys.json";
/** Measurements of the EIF this host runs (`nitro-cli describe-eif`), pinned by the canary. */
export const MEASUREMENTS_FILE = "/opt/express-lane/measurements.json";
/** Shell-style settings the host scripts read (written by user data). */
export const HOST_ENV_FILE = "/etc/express-lane/host.env";
/**
 * Where the runtime listens on the host. The NLB sends health checks and traffic to the
 * instance's private address ("If you specify targets using an instance ID, traffic is routed to
 * instances using the primary private IP address specified in the primary network interface for
 * the instance", ELB docs, "Target groups for your Network Load Balancers", target type), which a
 * 127.0.0.1 listener never sees. The security group limits who can connect.
 */
export const HOST_LISTEN_ADDRESS = "0.0.0.0";
/** Node.js 24 LTS from AL2023's namespaced packages (see user-data.ts). */
export const DEFAULT_NODE_PATH = "/usr/bin/node-24";

export interface HostUnitOptions {
  readonly region: string;
  /** Directory bucket name the runtime reads. */
  readonly bucketName: string;
  readonly readerPort: number;
  readonly enclaveMemoryMib: number;
  /** @default 1 (c7g.large: one vCPU for the enclave, one for the parent) */
  readonly enclaveCpuCount?: number;
  /** @default DEFAULT_NODE_PATH (/usr/bin/node-24) */
  readonly nodePath?: string;
  /**
   * API keys document for the runtime (`--api-keys`): `ssm:<parameter name>`. Access control is
   * on by default; `false` turns it off explicitly.
   * @default "ssm:/express-lane/api-keys"
   */
  readonly apiKeys?: string | false;
  /** How often the enclave supervisor checks that the enclave still runs. @default 5 */
  readonly enclavePollSeconds?: number;
  /** How often wrapped seal keys are re-fetched. @default "5min" */
  readonly sealKeysRefresh?: string;
  /** How often the canary reads and verifies. @default "1min" */
  readonly canaryInterval?: string;
}

export const DEFAULT_API_KEYS = "ssm:/express-lane/api-keys";

export type UnitFiles = Readonly<Record<string, string>>;

function unit(sections: Record<string, readonly string[]>): string {
  return Object.entries(sections)
    .map(([name, lines]) => `[${name}]\n${lines.join("\n")}\n`)
    .join("\n");
}

/** The environment the runtime unit gives the runtime (also what the boot sandbox starts it with). */
export function runtimeEnvironment(o: HostUnitOptions): Readonly<Record<string, string>> {
  const apiKeys = o.apiKeys === undefined ? DEFAULT_API_KEYS : o.apiKeys;
  return {
    EXPRESS_LANE_HOST: HOST_LISTEN_ADDRESS,
    EXPRESS_LANE_PORT: String(o.readerPort),
    EXPRESS_LANE_SIGNER_SOCKET: SIGNER_SOCKET,
    EXPRESS_LANE_BUCKET: o.bucketName,
    EXPRESS_LANE_REGION: o.region,
    EXPRESS_LANE_SEAL_KEYS_FILE: SEAL_KEYS_FILE,
    EXPRESS_LANE_KEY_DIRECTORY: KEY_DIRECTORY_FILE,
    EXPRESS_LANE_LANE_KEYS_FILE: LANE_KEYS_FILE,
    // The CloudWatch agent and the histogram exporter scrape /metrics over loopback; API keys are on.
    EXPRESS_LANE_LOOPBACK_METRICS: "on",
    ...(apiKeys === false ? {} : { EXPRESS_LANE_API_KEYS: apiKeys }),
    NODE_ENV: "production",
  };
}

/** Returns `{ "<name>.service" | "<name>.timer": "<unit text>" }` for every Express Lane unit. */
export function renderHostUnits(o: HostUnitOptions): UnitFiles {
  const node = o.nodePath ?? DEFAULT_NODE_PATH;
  const hardening = ["NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes"];
  return {
    "express-lane-kms-proxy.service": unit({
      Unit: [
        `Description=Express Lane vsock-proxy: enclave port ${KMS_VSOCK_PROXY_PORT} to kms.${o.region}.amazonaws.com:443`,
        "Wants=network-online.target",
        "After=network-online.target",
      ],
      Service: [
        `ExecStart=/usr/bin/vsock-proxy ${KMS_VSOCK_PROXY_PORT} kms.${o.region}.amazonaws.com 443 --config /etc/nitro_enclaves/vsock-proxy.yaml`,
        "DynamicUser=yes",
        ...hardening,
        "Restart=always",
        "RestartSec=2",
      ],
      Install: ["WantedBy=multi-user.target"],
    }),
    // Supervised, not a oneshot: `nitro-cli run-enclave` returns once the enclave is up, so a
    // oneshot stays "active" after the enclave (and the signer in it) died. The supervisor keeps
    // running while the enclave does and exits when it is gone; systemd starts it again.
    "express-lane-enclave.service": unit({
      Unit: [
        "Description=Express Lane signer enclave (Nitro Enclave, production mode, supervised)",
        "Requires=nitro-enclaves-allocator.service",
        "After=nitro-enclaves-allocator.service express-lane-kms-proxy.service",
        "Wants=express-lane-kms-proxy.service",
        // Never give up restarting (the default start limit would stop after 5 quick failures).
        "StartLimitIntervalSec=0",
      ],
      Service: [
        "Type=simple",
        `Environment=EXPRESS_LANE_ENCLAVE_POLL_SECONDS=${o.enclavePollSeconds ?? 5}`,
        `Environment=EXPRESS_LANE_SIGNER_PROBE_URL=http://127.0.0.1:${o.readerPort}/health/ready`,
        // 24 × 5 s: two minutes, longer than an enclave takes to boot and the runtime to reconnect.
        "Environment=EXPRESS_LANE_SIGNER_DOWN_LIMIT=24",
        `ExecStart=${BIN_DIR}/enclave-supervisor`,
        `ExecStopPost=-/usr/bin/nitro-cli terminate-enclave --enclave-name ${ENCLAVE_NAME}`,
        "TimeoutStartSec=300",
        "Restart=always",
        "RestartSec=5",
      ],
      Install: ["WantedBy=multi-user.target"],
    }),
    "express-lane-bridge.service": unit({
      Unit: [
        "Description=Express Lane signer bridge (Unix socket to enclave vsock)",
        "Requires=express-lane-enclave.service",
        "After=express-lane-enclave.service",
        "PartOf=express-lane-enclave.service",
      ],
      Service: [
        `User=${SERVICE_USER}`,
        `Group=${SERVICE_USER}`,
        "RuntimeDirectory=express-lane",
        "RuntimeDirectoryMode=0750",
        "RuntimeDirectoryPreserve=yes",
        `ExecStart=/usr/bin/socat UNIX-LISTEN:${SIGNER_SOCKET},fork,mode=0660,unlink-early VSOCK-CONNECT:${ENCLAVE_CID}:${ENCLAVE_SIGNER_VSOCK_PORT}`,
        ...hardening,
        "Restart=always",
        "RestartSec=1",
      ],
      Install: ["WantedBy=multi-user.target"],
    }),
    // Wants (not Requires) the bridge: the runtime reconnects to the signer by itself and answers
    // /health/ready 503 while it is away, which takes the host out of the NLB; a restart of the
    // enclave must not also restart (and drain) the runtime.
    "express-lane-runtime.service": unit({
      Unit: ["Description=Express Lane reader runtime", "Wants=express-lane-bridge.service network-online.target", "After=express-lane-bridge.service network-online.target"],
      Service: [
        `User=${SERVICE_USER}`,
        `Group=${SERVICE_USER}`,
        ...Object.entries(runtimeEnvironment(o)).map(([k, v]) => `Environment=${k}=${v}`),
        // A 2 MB young generation keeps peak RSS under load at 141 MB vs 156 MB by default, at no
        // measurable throughput cost (docs/performance.md, "Runtime RSS"). --heap-growing-percent=50:
        // after a full GC the old generation may grow to 1.5× what survived, not V8's up to 4× on a
        // host with this much memory — peak RSS 116–120 MB against 130–163 MB in the lane, with no
        // cap on live data (an old-space limit would crash a runtime whose entity maps outgrow it);
        // the lane uses the same flags (dev/lane/processes.ts; docs/performance.md "Session 7").
        `ExecStart=${node} --max-semi-space-size=2 --heap-growing-percent=50 ${INSTALL_DIR}/runtime.js`,
        `ReadWritePaths=${LOG_DIR}`,
        `StandardOutput=append:${LOG_DIR}/runtime.log`,
        `StandardError=append:${LOG_DIR}/runtime.log`,
        // systemd creates the log file in LOG_DIR (2750, setgid): it takes the directory's group,
        // express-lane, of which the agent's user cwagent is a member (user-data.ts); others cannot
        // enter the directory. No world-readable files from this service.
        "UMask=0027",
        "LimitNOFILE=65536",
        ...hardening,
        "Restart=always",
        "RestartSec=1",
      ],
      Install: ["WantedBy=multi-user.target"],
    }),
    "express-lane-metrics.service": unit({
      Unit: [
        "Description=Express Lane histogram exporter (Prometheus buckets to CloudWatch distributions)",
        "After=express-lane-runtime.service",
        "Wants=express-lane-runtime.service",
      ],
      Service: [
        "DynamicUser=yes",
        "StateDirectory=express-lane-metrics",
        "Environment=HOME=/var/lib/express-lane-metrics",
        `Environment=EXPRESS_LANE_REGION=${o.region}`,
        `Environment=EXPRESS_LANE_PORT=${o.readerPort}`,
        `ExecStart=${node} ${INSTALL_DIR}/histogram-exporter.js`,
        ...hardening,
        "Restart=always",
        "RestartSec=5",
      ],
      Install: ["WantedBy=multi-user.target"],
    }),
    "express-lane-seal-keys.service": unit({
      Unit: ["Description=Express Lane: fetch the wrapped seal keys (absent until the first writer publishes them)", "Wants=network-online.target", "After=network-online.target"],
      Service: ["Type=oneshot", `ExecStart=${BIN_DIR}/fetch-seal-keys`],
    }),
    "express-lane-seal-keys.timer": unit({
      Unit: ["Description=Express Lane: re-fetch wrapped seal keys (first publication, rotation)"],
      Timer: ["OnBootSec=1min", `OnUnitActiveSec=${o.sealKeysRefresh ?? "5min"}`],
      Install: ["WantedBy=timers.target"],
    }),
    "express-lane-canary.service": unit({
      Unit: ["Description=Express Lane canary: one signed read verified end to end (attestation-pinned key)", "After=express-lane-runtime.service"],
      Service: [
        "Type=oneshot",
        "DynamicUser=yes",
        "Environment=HOME=/tmp",
        `ExecStart=${BIN_DIR}/canary`,
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
      ],
    }),
    "express-lane-canary.timer": unit({
      Unit: ["Description=Express Lane canary schedule"],
      Timer: ["OnBootSec=3min", `OnUnitActiveSec=${o.canaryInterval ?? "1min"}`, "AccuracySec=5s"],
      Install: ["WantedBy=timers.target"],
    }),
  };
}

/** Start order used by user data (services first, then the timers). */
export const UNIT_START_ORDER: readonly string[] = [
  "express-lane-kms-proxy.service",
  "express-lane-enclave.service",
  "express-lane-bridge.service",
  "express-lane-runtime.service",
  "express-lane-metrics.service",
  "express-lane-seal-keys.timer",
  "express-lane-canary.timer",
];

/** Host scripts installed under BIN_DIR by user data, by file name. */
export type HostScripts = Readonly<Record<string, string>>;

/**
 * The scripts the units run. Bash, `set -euo pipefail`, no `${`/`%{` (they are embedded in user
 * data, which Terraform would interpolate). Settings come from HOST_ENV_FILE.
 */
export function renderHostScripts(o: HostUnitOptions): HostScripts {
  const cpu = o.enclaveCpuCount ?? 1;
  return {
    // nitro-cli describe-enclaves prints a JSON array of {EnclaveName, EnclaveID, State, ...};
    // State is "RUNNING" for a live enclave (Nitro Enclaves User Guide, "nitro-cli
    // describe-enclaves": https://docs.aws.amazon.com/enclaves/latest/user/cmd-nitro-describe-enclaves.html).
    "enclave-supervisor": [
      "#!/bin/bash",
      "# Generated by constructs/host-units.ts. Starts the signer enclave and stays up while it runs.",
      "set -euo pipefail",
      `NAME=${ENCLAVE_NAME}`,
      'POLL="$EXPRESS_LANE_ENCLAVE_POLL_SECONDS"',
      'PROBE_URL="$EXPRESS_LANE_SIGNER_PROBE_URL"',
      'DOWN_LIMIT="$EXPRESS_LANE_SIGNER_DOWN_LIMIT"',
      "# A previous enclave of ours (e.g. after this supervisor was killed) would hold the CPUs and memory.",
      'nitro-cli terminate-enclave --enclave-name "$NAME" >/dev/null 2>&1 || true',
      `nitro-cli run-enclave --eif-path ${INSTALL_DIR}/enclave.eif --cpu-count ${cpu} --memory ${o.enclaveMemoryMib} --enclave-cid ${ENCLAVE_CID} --enclave-name "$NAME"`,
      'echo "enclave $NAME started"',
      "# An enclave can stay RUNNING with its signer dead or wedged: the runtime's readiness says",
      '# so (checks.signer). Only explicit "unavailable" answers count (a runtime that is down or',
      "# restarting says nothing about the signer); DOWN_LIMIT of them in a row restart the enclave.",
      "down=0",
      "while true; do",
      '  sleep "$POLL"',
      '  if ! state=$(nitro-cli describe-enclaves | jq -r --arg n "$NAME" \'[.[] | select(.EnclaveName == $n)][0].State // "GONE"\'); then',
      '    state="UNKNOWN (describe-enclaves failed)"',
      "  fi",
      '  if [ "$state" != "RUNNING" ]; then',
      '    echo "enclave $NAME is $state: exiting so that systemd restarts it" >&2',
      "    exit 1",
      "  fi",
      "  signer=$(curl -s --max-time 2 \"$PROBE_URL\" | jq -r '.checks.signer // empty' 2>/dev/null || true)",
      '  if [ "$signer" = "unavailable" ]; then down=$((down + 1)); else down=0; fi',
      '  if [ "$down" -ge "$DOWN_LIMIT" ]; then',
      '    echo "signer unavailable to the runtime for $down checks in a row while enclave $NAME runs: exiting so that systemd restarts it" >&2',
      "    exit 1",
      "  fi",
      "done",
      "",
    ].join("\n"),
    // Absent wrapped keys are the normal state of a first deploy (the writer can only wrap them
    // once the lane stack has set the seal key's policy): not an error. Anything else is.
    "fetch-seal-keys": [
      "#!/bin/bash",
      "# Generated by constructs/host-units.ts. Fetches the key documents under seal-keys/ that are published:",
      "# the admin-signed key directory, the wrapped writer keys and the lane signing keys (docs/keys.md).",
      "set -euo pipefail",
      `# shellcheck source=/dev/null`,
      `. ${HOST_ENV_FILE}`,
      "changed=0",
      "fetch() {",
      "  local key=$1 dest=$2 tmp err",
      '  tmp=$(mktemp "$dest.XXXXXX")',
      // With s3:ListBucket on the bucket, a missing key answers 404 NoSuchKey instead of 403
      // ("If you have the s3:ListBucket permission on the bucket, Amazon S3 returns an HTTP status
      // code 404 (Not Found) error", GetObject API reference); the host role has it.
      '  if ! err=$(aws s3api get-object --region "$REGION" --bucket "$ARTIFACT_BUCKET" --key "$key" "$tmp" 2>&1 >/dev/null); then',
      '    rm -f "$tmp"',
      '    if grep -q -e NoSuchKey -e "(404)" -e "Not Found" <<<"$err"; then',
      '      echo "express-lane: no s3://$ARTIFACT_BUCKET/$key yet; the runtime reports not ready until the key documents are published"',
      "      return 0",
      "    fi",
      '    echo "express-lane: fetching s3://$ARTIFACT_BUCKET/$key failed: $err" >&2',
      "    return 1",
      "  fi",
      '  if [ -f "$dest" ] && cmp -s "$tmp" "$dest"; then rm -f "$tmp"; return 0; fi',
      '  chmod 0644 "$tmp"',
      '  mv -f "$tmp" "$dest"',
      '  echo "express-lane: $key updated"',
      "  changed=1",
      "}",
      `fetch "$KEY_DIRECTORY_OBJECT" ${KEY_DIRECTORY_FILE}`,
      `fetch "$SEAL_KEYS_OBJECT" ${SEAL_KEYS_FILE}`,
      `fetch "$LANE_KEYS_OBJECT" ${LANE_KEYS_FILE}`,
      "# The runtime re-reads the files on SIGHUP (and retries on its own otherwise).",
      'if [ "$changed" = 1 ] && systemctl is-active --quiet express-lane-runtime.service; then systemctl kill --signal=SIGHUP express-lane-runtime.service; fi',
      "",
    ].join("\n"),
    // One signed read, verified the way a consumer would (docs/trust.md): the signer's key comes
    // from an attestation document checked against the AWS Nitro root and this host's EIF
    // measurements (`express-lane attest`), then `express-lane verify` checks the read's
    // signature, digest, request binding and nonce with that key. 1 = verified, 0 = anything else.
    canary: [
      "#!/bin/bash",
      "# Generated by constructs/host-units.ts. Publishes lane_canary_success (1 or 0).",
      "set -euo pipefail",
      `# shellcheck source=/dev/null`,
      `. ${HOST_ENV_FILE}`,
      'BASE="http://127.0.0.1:$READER_PORT"',
      "WORK=$(mktemp -d)",
      "trap 'rm -rf \"$WORK\"' EXIT",
      "publish() {",
      '  aws cloudwatch put-metric-data --region "$REGION" --namespace "$METRIC_NAMESPACE" --metric-name lane_canary_success --dimensions job=express-lane --unit Count --value "$1"',
      "}",
      "fail() {",
      '  echo "express-lane canary: FAIL $1" >&2',
      "  publish 0 || true",
      "  exit 1",
      "}",
      "nonce() { head -c 18 /dev/urandom | base64 | tr '+/' '-_'; }",
      "KEY=",
      'if [ -n "$CANARY_API_KEY_PARAMETER" ]; then',
      '  KEY=$(aws ssm get-parameter --region "$REGION" --with-decryption --name "$CANARY_API_KEY_PARAMETER" --query Parameter.Value --output text) || fail "cannot read the canary API key $CANARY_API_KEY_PARAMETER"',
      "fi",
      "# Sends the API key when there is one (access control on), as a consumer would.",
      'lane_curl() { if [ -n "$KEY" ]; then curl -H "x-api-key: $KEY" "$@"; else curl "$@"; fi; }',
      "N1=$(nonce)",
      'lane_curl -fsS --max-time 5 -o "$WORK/attestation.json" "$BASE/v1/attestation?nonce=$N1" || fail "GET /v1/attestation"',
      '"$NODE" "$CLI" attest --document "$WORK/attestation.json" --nonce "$N1" --root "$ATTEST_ROOT" --measurements "$MEASUREMENTS_FILE" --json >"$WORK/facts.json" || fail "attestation did not verify against the $ATTEST_ROOT root and this host\'s EIF measurements"',
      'X=$(jq -er .publicKey "$WORK/facts.json") || fail "attestation carries no public key"',
      'jq -n --arg x "$X" \'{kty: "OKP", crv: "Ed25519", x: $x}\' >"$WORK/signer.jwk"',
      "N2=$(nonce)",
      'lane_curl -sS --max-time 5 -i -H "accept-signature: sig1=(\\"@status\\" \\"content-digest\\");nonce=\\"$N2\\"" -o "$WORK/read.http" "$BASE$CANARY_PATH" || fail "GET $CANARY_PATH"',
      '"$NODE" "$CLI" verify "$BASE$CANARY_PATH" --response "$WORK/read.http" --nonce "$N2" --jwk "$WORK/signer.jwk" || fail "signed read of $CANARY_PATH did not verify"',
      "publish 1",
      'echo "express-lane canary: OK $CANARY_PATH"',
      "",
    ].join("\n"),
  };
}
