/**
 * Host-side exporter: Prometheus histograms → CloudWatch distributions.
 *
 * The CloudWatch agent drops Prometheus histograms, so this small program (installed by user data
 * as /opt/express-lane/histogram-exporter.js, run by express-lane-metrics.service) scrapes
 * /metrics every minute, takes the per-bucket deltas of each `lane_*_duration_seconds` histogram
 * (summed over label sets) and publishes them with `aws cloudwatch put-metric-data` as
 * `Values` (bucket upper bounds, so percentiles are conservative) and `Counts`. CloudWatch then
 * computes p50/p95/p99 on them.
 *
 * The source is plain CommonJS without `${`/`%{` so it can be embedded in Terraform strings.
 */
export const HISTOGRAM_EXPORTER_PATH = "/opt/express-lane/histogram-exporter.js";

export const HISTOGRAM_EXPORTER_SOURCE = String.raw`"use strict";
// Generated from constructs/histogram-exporter.ts. Prometheus histogram buckets -> CloudWatch Values/Counts.
const http = require("node:http");
const childProcess = require("node:child_process");

const PORT = Number(process.env.EXPRESS_LANE_PORT || "8080");
const REGION = process.env.EXPRESS_LANE_REGION || "";
const NAMESPACE = process.env.EXPRESS_LANE_METRIC_NAMESPACE || "ExpressLane";
const HISTOGRAMS = ["lane_request_duration_seconds", "lane_signer_duration_seconds", "lane_store_duration_seconds"];
const INTERVAL_MS = 60000;

// name -> Map(le -> cumulative count summed over label sets)
function parseBuckets(text) {
  const out = new Map();
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)_bucket\{(.*)\}\s+(\S+)/.exec(line);
    if (!m || HISTOGRAMS.indexOf(m[1]) < 0) continue;
    const le = /(?:^|,)le="([^"]+)"/.exec(m[2]);
    if (!le) continue;
    const bound = le[1] === "+Inf" ? Infinity : Number(le[1]);
    const value = Number(m[3]);
    if (!Number.isFinite(value) || Number.isNaN(bound)) continue;
    if (!out.has(m[1])) out.set(m[1], new Map());
    const buckets = out.get(m[1]);
    buckets.set(bound, (buckets.get(bound) || 0) + value);
  }
  return out;
}

// Per-bucket counts observed since the previous scrape. A counter reset restarts from zero.
function distributions(previous, current) {
  const result = [];
  for (const [name, buckets] of current) {
    const prev = previous.get(name) || new Map();
    const bounds = Array.from(buckets.keys()).sort((a, b) => a - b);
    let reset = false;
    for (const b of bounds) if ((buckets.get(b) || 0) < (prev.get(b) || 0)) reset = true;
    const values = [];
    const counts = [];
    let lastCum = 0;
    let lastFinite = 0;
    for (const b of bounds) {
      const cum = (buckets.get(b) || 0) - (reset ? 0 : prev.get(b) || 0);
      const n = cum - lastCum;
      lastCum = cum;
      if (Number.isFinite(b)) lastFinite = b;
      if (n <= 0) continue;
      values.push(Number.isFinite(b) ? b : lastFinite * 2 || 1);
      counts.push(n);
    }
    if (values.length > 0) result.push({ name: name, values: values.slice(0, 150), counts: counts.slice(0, 150) });
  }
  return result;
}

function toMetricData(dists) {
  return dists.map((d) => ({
    MetricName: d.name,
    Dimensions: [{ Name: "job", Value: "express-lane" }],
    Unit: "Seconds",
    Values: d.values,
    Counts: d.counts,
  }));
}

function scrape(done) {
  const req = http.get({ host: "127.0.0.1", port: PORT, path: "/metrics", timeout: 5000 }, (res) => {
    let body = "";
    res.setEncoding("utf8");
    res.on("data", (chunk) => (body += chunk));
    res.on("end", () => done(null, body));
  });
  req.on("timeout", () => req.destroy(new Error("scrape timeout")));
  req.on("error", (err) => done(err));
}

function main() {
  let previous = null;
  const tick = () =>
    scrape((err, text) => {
      if (err) return console.error("histogram-exporter: scrape failed: " + err.message);
      const current = parseBuckets(text);
      if (previous !== null) {
        const data = toMetricData(distributions(previous, current));
        if (data.length > 0) {
          const args = ["cloudwatch", "put-metric-data", "--namespace", NAMESPACE, "--metric-data", JSON.stringify(data)];
          if (REGION) args.push("--region", REGION);
          childProcess.execFile("aws", args, { timeout: 30000 }, (e, _out, stderr) => {
            if (e) console.error("histogram-exporter: put-metric-data failed: " + (stderr || e.message));
          });
        }
      }
      previous = current;
    });
  tick();
  setInterval(tick, INTERVAL_MS);
}

module.exports = { parseBuckets, distributions, toMetricData };
if (require.main === module) main();
`;
