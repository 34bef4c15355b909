import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import type { IncomingMessage, ServerResponse } from "node:http";
import { METRIC_DECLARATIONS, renderAgentConfig, renderPrometheusConfig } from "../../constructs/cloudwatch-agent";
import { HISTOGRAM_EXPORTER_SOURCE } from "../../constructs/histogram-exporter";
import { renderHostScripts, renderHostUnits, runtimeEnvironment } from "../../constructs/host-units";
import { generateKey } from "../../runtime/auth";
import { parseRuntimeConfig } from "../../runtime/config";
import { RequestGate } from "../../runtime/gate";
import { LaneMetrics } from "../../runtime/metrics";
import { matchRoute } from "../../runtime/routes";
import { LaneError } from "../../wire/errors";
import { renderUserData } from "../../constructs/user-data";
import { SAMPLE } from "./sandbox/sample";

const units = renderHostUnits(SAMPLE);
const ud = renderUserData(SAMPLE);

describe("systemd units", () => {
  test("enclave: supervised (not a oneshot), restarted forever, production mode, CID 16, configured CPU/memory", () => {
    const u = units["express-lane-enclave.service"];
    expect(u).not.toMatch(/^Type=oneshot|^RemainAfterExit/m);
    expect(u).toMatch(/^Type=simple$/m);
    expect(u).toMatch(/^Restart=always$/m);
    expect(u).toMatch(/^StartLimitIntervalSec=0$/m);
    expect(u).toMatch(/^ExecStart=\/opt\/express-lane\/bin\/enclave-supervisor$/m);
    expect(u).toMatch(/^ExecStopPost=-\/usr\/bin\/nitro-cli terminate-enclave --enclave-name express-lane$/m);
    const supervisor = renderHostScripts(SAMPLE)["enclave-supervisor"];
    expect(supervisor).toMatch(/^nitro-cli run-enclave --eif-path \/opt\/express-lane\/enclave\.eif --cpu-count 1 --memory 1536 --enclave-cid 16 /m);
    expect(supervisor + u).not.toMatch(/debug-mode|attach-console/);
    expect(u).toMatch(/Requires=nitro-enclaves-allocator\.service/);
  });

  test("bridge: socat Unix socket to vsock CID 16 port 5000", () => {
    expect(units["express-lane-bridge.service"]).toMatch(/^ExecStart=\/usr\/bin\/socat UNIX-LISTEN:\/run\/express-lane\/signer\.sock,fork,[^ ]* VSOCK-CONNECT:16:5000$/m);
    expect(units["express-lane-bridge.service"]).toMatch(/Requires=express-lane-enclave\.service/);
  });

  test("runtime: node runtime.js with signer socket, bucket, region, port", () => {
    const u = units["express-lane-runtime.service"];
    expect(u).toMatch(/^ExecStart=\/usr\/bin\/node-24 --max-semi-space-size=2 --heap-growing-percent=50 \/opt\/express-lane\/runtime\.js$/m);
    for (const env of [
      "EXPRESS_LANE_SIGNER_SOCKET=/run/express-lane/signer.sock",
      "EXPRESS_LANE_BUCKET=lane--aps1-az1--x-s3",
      "EXPRESS_LANE_REGION=ap-south-1",
      "EXPRESS_LANE_PORT=8080",
      "EXPRESS_LANE_HOST=0.0.0.0",
      "EXPRESS_LANE_API_KEYS=ssm:/express-lane/api-keys",
    ])
      expect(u).toContain(`Environment=${env}\n`);
    // Wants, not Requires: an enclave restart must not restart (drain) the runtime; it reconnects.
    expect(u).toMatch(/^Wants=express-lane-bridge\.service/m);
    expect(u).not.toMatch(/^Requires=/m);
    expect(u).not.toMatch(/^User=root/m);
  });

  test("vsock-proxy for kms.{region}.amazonaws.com:443", () => {
    expect(units["express-lane-kms-proxy.service"]).toMatch(/^ExecStart=\/usr\/bin\/vsock-proxy 8000 kms\.ap-south-1\.amazonaws\.com 443 /m);
  });
});

describe("user data", () => {
  test("installs nitro-cli, writes the allocator config, fetches release artifacts, verifies PCR0", () => {
    expect(ud.startsWith("#!/bin/bash\n")).toBe(true);
    expect(ud).toMatch(/^dnf install -y aws-nitro-enclaves-cli .*socat/m);
    expect(ud).toMatch(/cat > \/etc\/nitro_enclaves\/allocator\.yaml <<'ALLOCATOR'\n---\n# .*\nmemory_mib: 1536\ncpu_count: 1\nALLOCATOR/);
    expect(ud).toContain("- {address: kms.ap-south-1.amazonaws.com, port: 443}");
    expect(ud).toContain("for f in runtime.js bench.js cli.js enclave.eif; do");
    // remote-bench's default --bench-path is $INSTALL_DIR/bench.js
    expect(ud).toContain('"s3://$ARTIFACT_BUCKET/releases/$RELEASE/$f" "$INSTALL_DIR/$f"');
    expect(ud).toContain(`EXPECTED_PCR0='${"ab".repeat(48)}'`);
    expect(ud).toMatch(/if \[ "\$ACTUAL_PCR0" != "\$EXPECTED_PCR0" \]; then/);
  });

  test("embeds every generated unit verbatim and starts them under systemd in order", () => {
    for (const [name, text] of Object.entries(units)) expect(ud).toContain(`cat > /etc/systemd/system/${name} <<'UNIT'\n${text}UNIT\n`);
    expect(ud).toMatch(/systemctl enable --now express-lane-kms-proxy\.service express-lane-enclave\.service express-lane-bridge\.service express-lane-runtime\.service/);
    expect(ud).toMatch(/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:/);
  });

  // "User data is limited to 16 KB, in raw form, before it is base64-encoded" (EC2 User Guide,
  // "Run commands when you launch an EC2 instance with user data input"): the raw form here is the
  // gzip the launch template carries (Fn.base64gzip); cloud-init decompresses it.
  test("fits the 16 KB user data limit (gzipped, as sent) and has nothing Terraform would interpolate", () => {
    expect(zlib.gzipSync(ud, { level: 9 }).length).toBeLessThan(16 * 1024);
    expect(ud).not.toMatch(/\$\{|%\{/);
  });

  test("rejects unsafe values instead of quoting them", () => {
    expect(() => renderUserData({ ...SAMPLE, releaseId: "x'; rm -rf /" })).toThrow(/not safe/);
  });

  test("passes shellcheck (when installed)", () => {
    const probe = spawnSync("shellcheck", ["--version"]);
    if (probe.error) return console.warn("shellcheck not installed; `npm run lint:infra` requires it");
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ud-")), "user-data.sh");
    fs.writeFileSync(f, ud);
    const r = spawnSync("shellcheck", ["--shell=bash", f], { encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
    // the host scripts, which shellcheck does not see inside the heredocs
    for (const [name, text] of Object.entries(renderHostScripts(SAMPLE))) {
      const sf = path.join(path.dirname(f), name);
      fs.writeFileSync(sf, text);
      const rs = spawnSync("shellcheck", ["--shell=bash", sf], { encoding: "utf8" });
      expect({ name, out: rs.stdout + rs.stderr }).toEqual({ name, out: "" });
    }
  });
});

describe("CloudWatch agent config", () => {
  test("scrapes the runtime's Prometheus endpoint and emits counters/gauges in ExpressLane", () => {
    const prom = JSON.parse(renderPrometheusConfig(SAMPLE.agent));
    expect(prom.scrape_configs[0].static_configs[0].targets).toEqual(["127.0.0.1:8080"]);
    expect(prom.scrape_configs[0].metrics_path).toBe("/metrics");
    const agent = JSON.parse(renderAgentConfig(SAMPLE.agent));
    const p = agent.logs.metrics_collected.prometheus;
    expect(p.emf_processor.metric_namespace).toBe("ExpressLane");
    const selectors = p.emf_processor.metric_declaration.flatMap((d: { metric_selectors: string[] }) => d.metric_selectors);
    expect(selectors).toEqual(expect.arrayContaining(["^lane_requests_total$", "^lane_signer_up$", "^lane_entity_status_total$", "^process_cpu_seconds_total$"]));
    const requests = p.emf_processor.metric_declaration.find((d: { metric_selectors: string[] }) => d.metric_selectors[0] === "^lane_requests_total$");
    expect(requests.dimensions).toEqual([["job", "status_class"]]);
  });

  test("every series the agent publishes and the exporter reads is one the runtime exports", async () => {
    const exported = new Set((await new LaneMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    const published = METRIC_DECLARATIONS.map((d) => d.metric);
    expect(published.filter((name) => !exported.has(name))).toEqual([]);
    // The histograms reach CloudWatch through the exporter, the rest through the agent's scrape;
    // lane_canary_success and the log-filter metrics are published by the host, not the runtime.
    const fromHost = new Set(["lane_canary_success", "lane_kms_errors", "lane_create_session_errors"]);
    const histograms = [...HISTOGRAM_EXPORTER_SOURCE.matchAll(/"(lane_[a-z_]+_duration_seconds)"/g)].map((m) => m[1]!);
    expect(histograms.length).toBeGreaterThan(0);
    for (const name of [...published, ...histograms]) expect(exported.has(name) || fromHost.has(name)).toBe(true);
  });

  test("the scrape keeps working when API keys are on: loopback targets, and the runtime unit opens /metrics to loopback", () => {
    const env = runtimeEnvironment(SAMPLE);
    expect(env.EXPRESS_LANE_API_KEYS).toBeTruthy();
    const config = parseRuntimeConfig([], { ...env });
    expect(config.loopbackMetrics).toBe(true);
    const targets: string[] = JSON.parse(renderPrometheusConfig(SAMPLE.agent)).scrape_configs.flatMap((c: { static_configs: { targets: string[] }[] }) =>
      c.static_configs.flatMap((s) => s.targets),
    );
    expect(HISTOGRAM_EXPORTER_SOURCE).toContain('host: "127.0.0.1"');
    const admin = generateKey("admin", "admin");
    const match = matchRoute("GET", "/metrics");
    if (match.kind !== "route") throw new Error("no /metrics route");
    const metricsRoute = match.route;
    const scrape = (gate: RequestGate, host: string) =>
      gate.enter(
        { method: "GET", url: "/metrics", headers: {}, socket: { remoteAddress: host } } as unknown as IncomingMessage,
        { setHeader: () => undefined } as unknown as ServerResponse,
        metricsRoute,
      );
    const onHost = new RequestGate({ keys: [admin.record], maxInFlight: 4, loopbackMetrics: config.loopbackMetrics });
    for (const target of [...targets, "127.0.0.1:8080"]) {
      const host = target.replace(/:\d+$/, "");
      expect(() => scrape(onHost, host).release()).not.toThrow();
    }
    // Without the flag the same scrape is refused (what the test guards against).
    expect(() => scrape(new RequestGate({ keys: [admin.record], maxInFlight: 4 }), "127.0.0.1")).toThrow(LaneError);
  });
});

describe("histogram exporter", () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "hx-")), "histogram-exporter.js");
  fs.writeFileSync(file, HISTOGRAM_EXPORTER_SOURCE);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const hx = require(file) as {
    parseBuckets(t: string): Map<string, Map<number, number>>;
    distributions(p: Map<string, Map<number, number>>, c: Map<string, Map<number, number>>): { name: string; values: number[]; counts: number[] }[];
  };
  const scrape = (a: number, b: number, c: number) =>
    [
      "# TYPE lane_request_duration_seconds histogram",
      `lane_request_duration_seconds_bucket{route="read",status="200",le="0.001"} ${a}`,
      `lane_request_duration_seconds_bucket{route="read",status="200",le="0.005"} ${b}`,
      `lane_request_duration_seconds_bucket{route="read",status="200",le="+Inf"} ${c}`,
      `lane_request_duration_seconds_bucket{route="read",status="500",le="0.001"} 1`,
      `lane_request_duration_seconds_bucket{route="read",status="500",le="0.005"} 1`,
      `lane_request_duration_seconds_bucket{route="read",status="500",le="+Inf"} 1`,
      `lane_request_duration_seconds_sum{route="read",status="200"} 1.5`,
      `lane_requests_total{route="read",status="200"} ${c}`,
    ].join("\n");

  test("per-bucket deltas between scrapes, summed over label sets", () => {
    const d = hx.distributions(hx.parseBuckets(scrape(10, 20, 21)), hx.parseBuckets(scrape(110, 125, 130)));
    expect(d).toEqual([{ name: "lane_request_duration_seconds", values: [0.001, 0.005, 0.01], counts: [100, 5, 4] }]);
  });

  test("counter reset restarts from zero; no traffic publishes nothing", () => {
    expect(hx.distributions(hx.parseBuckets(scrape(500, 600, 700)), hx.parseBuckets(scrape(3, 3, 3)))[0].counts).toEqual([4]);
    expect(hx.distributions(hx.parseBuckets(scrape(3, 3, 3)), hx.parseBuckets(scrape(3, 3, 3)))).toEqual([]);
  });
});
