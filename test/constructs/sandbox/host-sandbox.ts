/**
 * Runs host scripts (user data, the units' scripts) for real, as root, in a private mount
 * namespace: /etc, /opt and /var/log are bind mounts of a temp dir, so everything they write lands
 * there and nothing touches the machine. Stand-ins for what only an EC2 host has (dnf, aws,
 * nitro-cli, systemctl, curl, the CloudWatch agent's ctl) come first on PATH and append what they
 * were asked to `calls.log`. Real bash, coreutils, useradd/usermod (on the copied /etc), jq, awk,
 * sha256sum and cmp do the rest.
 *
 * The fake S3 is a directory: `s3/<bucket>/<key>`.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export function sandboxAvailable(): string | undefined {
  if (process.getuid?.() !== 0) return "not root";
  const r = spawnSync("unshare", ["-m", "--propagation", "private", "true"]);
  if (r.error || r.status !== 0) return "unshare -m is not permitted here";
  return undefined;
}

export interface Sandbox {
  readonly root: string;
  /** Path of `p` (an absolute host path under /etc, /opt or /var/log) inside the sandbox. */
  file(p: string): string;
  put(bucket: string, key: string, content: string | Buffer): void;
  /** Every stand-in call, in order: `["aws", "s3", "cp", ...]`. */
  calls(): string[][];
  run(script: string, env?: Record<string, string>): { status: number | null; stdout: string; stderr: string };
}

const STAND_INS: Record<string, string> = {
  // dnf: the packages' effects this boot depends on (the agent package creates its user).
  dnf: `record dnf "$@"
id cwagent >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin cwagent
exit "$(cat "$SANDBOX/dnf.rc" 2>/dev/null || echo 0)"`,
  // aws: s3 cp / s3api get-object from the directory fake, everything else recorded and answered.
  aws: `record aws "$@"
args=("$@")
case "$1 $2" in
  "s3 cp")
    pos=(); skip=0
    for a in "$@"; do if [ $skip = 1 ]; then skip=0; continue; fi; case "$a" in --region) skip=1;; --*) ;; *) pos+=("$a");; esac; done
    src="\${pos[2]}"; dst="\${pos[3]}"
    f="$SANDBOX/s3/\${src#s3://}"
    if [ ! -f "$f" ]; then echo "fatal error: An error occurred (404) when calling the HeadObject operation: Key does not exist" >&2; exit 1; fi
    cp "$f" "$dst" ;;
  "s3api get-object")
    bucket=""; key=""; out=""; i=0
    while [ $i -lt $# ]; do a="\${args[$i]}"; case "$a" in --bucket) i=$((i+1)); bucket="\${args[$i]}";; --key) i=$((i+1)); key="\${args[$i]}";; --region) i=$((i+1));; *) out="$a";; esac; i=$((i+1)); done
    f="$SANDBOX/s3/$bucket/$key"
    if [ -f "$SANDBOX/s3api.error" ]; then cat "$SANDBOX/s3api.error" >&2; exit 254; fi
    if [ ! -f "$f" ]; then echo "An error occurred (NoSuchKey) when calling the GetObject operation: The specified key does not exist." >&2; exit 254; fi
    cp "$f" "$out"; echo '{"ContentLength": 1}' ;;
  "ssm get-parameter") cat "$SANDBOX/ssm.value" ;;
  *) ;;
esac`,
  // nitro-cli: describe-eif reports the PCR0 in $SANDBOX/pcr0; describe-enclaves replays
  // $SANDBOX/enclaves.N (one answer per call, the last one repeating).
  "nitro-cli": `record nitro-cli "$@"
case "$1" in
  describe-eif) printf '{"EifVersion": 4, "Measurements": {"HashAlgorithm": "Sha384 { ... }", "PCR0": "%s", "PCR1": "%s", "PCR2": "%s"}}\\n' "$(cat "$SANDBOX/pcr0")" "$(printf 'cd%.0s' $(seq 48))" "$(printf 'ef%.0s' $(seq 48))" ;;
  describe-enclaves)
    n=$(cat "$SANDBOX/enclaves.n" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$SANDBOX/enclaves.n"
    f="$SANDBOX/enclaves.$n"; [ -f "$f" ] || f=$(ls "$SANDBOX"/enclaves.[0-9]* 2>/dev/null | sort -t. -k2 -n | tail -1)
    cat "$f" ;;
  run-enclave) exit "$(cat "$SANDBOX/run-enclave.rc" 2>/dev/null || echo 0)" ;;
esac`,
  systemctl: `record systemctl "$@"
case "$1" in is-active) exit 3 ;; esac`,
  usermod: `record usermod "$@"
exec /usr/sbin/usermod "$@"`,
  curl: `record curl "$@"
exec "$SANDBOX/curl.impl" "$@"`,
  node: `record node "$@"
exec "$SANDBOX/node.impl" "$@"`,
};

const created: string[] = [];

/** Removes every sandbox this process created (call from afterAll). */
export function removeSandboxes(): void {
  for (const dir of created.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

export function createSandbox(): Sandbox {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "host-sandbox-"));
  created.push(root);
  for (const d of ["etc", "opt", "varlog", "bin", "s3", "tmp"]) fs.mkdirSync(path.join(root, d), { recursive: true });
  const cp = spawnSync("cp", ["-a", "/etc/.", path.join(root, "etc")]);
  if (cp.status !== 0) throw new Error(`copying /etc failed: ${cp.stderr}`);
  const record = `record() { local IFS=$'\\x1f'; printf '%s\\n' "$*" >> "$SANDBOX/calls.log"; }\n`;
  for (const [name, body] of Object.entries(STAND_INS)) {
    fs.writeFileSync(path.join(root, "bin", name), `#!/bin/bash\nset -u\n${record}${body}\n`, { mode: 0o755 });
  }
  const ctl = path.join(root, "opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl");
  fs.mkdirSync(path.dirname(ctl), { recursive: true });
  fs.writeFileSync(ctl, `#!/bin/bash\n${record}record amazon-cloudwatch-agent-ctl "$@"\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(root, "calls.log"), "");
  const file = (p: string): string => {
    for (const [prefix, dir] of [
      ["/etc/", "etc"],
      ["/opt/", "opt"],
      ["/var/log/", "varlog"],
    ] as const) {
      if (p.startsWith(prefix)) return path.join(root, dir, p.slice(prefix.length));
    }
    throw new Error(`${p} is not under /etc, /opt or /var/log`);
  };
  return {
    root,
    file,
    put(bucket, key, content) {
      const f = path.join(root, "s3", bucket, key);
      fs.mkdirSync(path.dirname(f), { recursive: true });
      fs.writeFileSync(f, content);
    },
    calls() {
      return fs
        .readFileSync(path.join(root, "calls.log"), "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => l.split("\x1f"));
    },
    run(script, env = {}) {
      const f = path.join(root, `script-${Date.now()}-${Math.random().toString(36).slice(2)}.sh`);
      fs.writeFileSync(f, script, { mode: 0o755 });
      const inner = [
        "set -e",
        `mount --bind ${root}/etc /etc`,
        `mount --bind ${root}/opt /opt`,
        `mount --bind ${root}/varlog /var/log`,
        "set +e",
        `bash --norc --noprofile ${f}`,
      ].join("\n");
      const r = spawnSync("unshare", ["-m", "--propagation", "private", "bash", "--norc", "--noprofile", "-c", inner], {
        encoding: "utf8",
        timeout: 60_000,
        env: {
          HOME: path.join(root, "tmp"),
          PATH: `${root}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
          SANDBOX: root,
          TMPDIR: path.join(root, "tmp"),
          ...env,
        },
      });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
  };
}
