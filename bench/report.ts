/**
 * Benchmark output: the seed's table on the terminal, a JSON result file, and a self-contained
 * HTML report (inline SVG latency CDF and histogram; no scripts, fonts or other external assets).
 */
import type { LatencySummary } from "../dev/stats";
import { describeBreakdown, type RouteBreakdown } from "./breakdown";
import { stackedBarsSvg } from "./trace-report";

export interface ScenarioResult {
  readonly name: string;
  readonly label: string;
  readonly target: "lane" | "direct" | "wrk" | "peer";
  readonly mode: "closed" | "open";
  readonly concurrency?: number;
  readonly rate?: number;
  readonly seconds: number;
  readonly summary: LatencySummary;
  /** Open loop: latency from the actual send (uncorrected), for comparison. */
  readonly service?: LatencySummary;
  readonly sendLag?: LatencySummary;
  readonly statuses: Record<string, number>;
  readonly errorKinds: Record<string, number>;
  readonly verify?: { checked: number; failed: number; byCode: Record<string, number> };
  /** Benchmark-process CPU per completed request (µs): the client's cost (direct = store client). */
  readonly clientCpuUsPerRequest?: number;
  /** Runtime RSS peak while this scenario ran (bytes), from the runtime's /metrics. */
  readonly runtimeRssPeakBytes?: number;
  readonly cdf: Array<{ p: number; ms: number }>;
  readonly bins: Array<{ lo: number; hi: number; count: number }>;
  /** Compressed base64 HDR histogram (microseconds). */
  readonly hdr?: string;
  readonly simulation?: string;
  readonly notes?: string[];
  /** Stage tracing (--trace-stages): where the runtime's span went at P50/P99/P99.9 (bench/breakdown.ts). */
  readonly breakdown?: RouteBreakdown;
}

export interface Goal {
  readonly goal: string;
  readonly target: string;
  readonly measured: string;
  readonly met: boolean | null;
  readonly note?: string;
}

export interface BenchResult {
  readonly tool: "express-lane-bench";
  readonly version: 1;
  readonly startedAt: string;
  readonly machine: { hostname: string; cpus: number; cpuModel: string; memoryBytes: number; node: string; platform: string; kernel: string; loadavg: number[] };
  readonly config: Record<string, unknown>;
  readonly lane: { url: string; storeKind?: string; pinning?: Record<string, string>; simulation?: string; keyid?: string };
  readonly scenarios: ScenarioResult[];
  readonly added?: { rate: number; p50: number; p90: number; p95: number; p99: number; p999: number };
  readonly hedging?: {
    model: string;
    rate: number;
    p99Off: number;
    p99On: number;
    ratio: number;
    hedgesSent: number;
    hedgesWon: number;
    gets: number;
    /** Store level, in-process (no lane CPU in the path). */
    store?: { rate: number; p99Off: number; p99On: number; ratio: number; hedgesSent: number; hedgesWon: number; gets: number };
  };
  /** Issue #15 goal 4: lane processes' CPU per 10-feature read (the wrk run), µs. */
  readonly cpuPerRead?: { runtimeUs: number; signerUs: number; requests: number; tracing: boolean; peerSkipped?: string };
  readonly goals: Goal[];
}

const fmtMs = (ms: number | undefined): string => {
  if (ms === undefined || Number.isNaN(ms)) return "–";
  if (Math.abs(ms) < 1) return `${(ms * 1000).toFixed(0)} µs`;
  return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
};
const fmtRps = (n: number): string => (n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0));

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + " ".repeat(width - text.length);
}

/** The seed's table ("| Metric (4 KB object) | P50 | P95 | P99 |"), extended with the tail and throughput. */
export function renderTable(result: BenchResult): string {
  const size = Number(result.config.objectBytes ?? 4096);
  const head = [`Metric (${size >= 1024 ? `${Math.round(size / 1024)} KB` : `${size} B`} object)`, "P50", "P95", "P99", "P99.9", "max", "req/s", "errors", "verified"];
  const rows: string[][] = result.scenarios.map((s) => [
    s.label,
    fmtMs(s.summary.p50),
    fmtMs(s.summary.p95),
    fmtMs(s.summary.p99),
    fmtMs(s.summary.p999),
    fmtMs(s.summary.max),
    fmtRps(s.summary.rps),
    String(s.summary.errors),
    s.verify ? `${s.verify.checked - s.verify.failed}/${s.verify.checked}` : "",
  ]);
  if (result.added) {
    const a = result.added;
    const sign = (v: number) => (v >= 0 ? "+" : "") + fmtMs(v);
    rows.push([`Lane added latency @ ${fmtRps(a.rate)} req/s (lane − direct)`, sign(a.p50), sign(a.p95), sign(a.p99), sign(a.p999), "", "", "", ""]);
  }
  if (result.hedging) {
    const h = result.hedging;
    if (h.store) rows.push([`Hedging P99 ratio (on/off), store level @ ${fmtRps(h.store.rate)} req/s, SIMULATION`, "", "", `${h.store.ratio.toFixed(2)}×`, "", "", "", "", ""]);
    rows.push([`Hedging P99 ratio (on/off), lane @ ${fmtRps(h.rate)} req/s, SIMULATION`, "", "", `${h.ratio.toFixed(2)}×`, "", "", "", "", ""]);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => pad(c, widths[i])).join(" | ")} |`;
  const out = [line(head), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...rows.map(line)];
  if (result.goals.length) {
    out.push("", "Goals:");
    for (const g of result.goals) out.push(`  ${g.met === null ? "·" : g.met ? "✔" : "✘"} ${g.goal}: ${g.measured} (target ${g.target})${g.note ? ` — ${g.note}` : ""}`);
  }
  const traced = result.scenarios.filter((s) => s.breakdown && s.breakdown.at.length > 0);
  if (traced.length) {
    out.push("", "Tail breakdown (stage tracing; runtime span, mean of the 5 reads around each rank):");
    for (const s of traced) for (const l of describeBreakdown(s.breakdown!)) out.push(`  [${s.name}] ${l}`);
  }
  const sim = result.scenarios.find((s) => s.simulation)?.simulation ?? result.lane.simulation;
  if (sim) out.push("", `NOTE: rows marked SIMULATION use a simulated store latency model (${sim}).`);
  return out.join("\n");
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];

interface Axis {
  readonly min: number;
  readonly max: number;
  readonly log: boolean;
}
const scale = (a: Axis, v: number, px: number): number => {
  const t = a.log ? (Math.log10(v) - Math.log10(a.min)) / (Math.log10(a.max) - Math.log10(a.min)) : (v - a.min) / (a.max - a.min);
  return Math.max(0, Math.min(1, t)) * px;
};

function svgFrame(width: number, height: number, body: string, title: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(title)}"><rect width="100%" height="100%" fill="#fff"/>${body}</svg>`;
}

function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++)
    for (const m of [1, 2, 5]) {
      const v = m * Math.pow(10, e);
      if (v >= min && v <= max) ticks.push(v);
    }
  return ticks;
}

/** Latency (log y) against percentile on a "nines" x axis (0, 90, 99, 99.9, 99.99). */
export function cdfSvg(scenarios: readonly ScenarioResult[]): string {
  const W = 860,
    H = 420,
    L = 70,
    R = 200,
    T = 20,
    B = 50;
  const pw = W - L - R,
    ph = H - T - B;
  const all = scenarios.flatMap((s) => s.cdf.map((c) => c.ms)).filter((v) => v > 0);
  if (all.length === 0) return "";
  const y: Axis = { min: Math.max(0.001, Math.min(...all) * 0.8), max: Math.max(...all) * 1.2, log: true };
  const nines = (p: number) => (p >= 100 ? 5 : Math.min(5, -Math.log10(1 - p / 100)));
  let body = "";
  for (const t of logTicks(y.min, y.max)) {
    const py = T + ph - scale(y, t, ph);
    body += `<line x1="${L}" x2="${L + pw}" y1="${py}" y2="${py}" stroke="#eee"/><text x="${L - 6}" y="${py + 4}" font-size="11" text-anchor="end">${t < 1 ? `${t * 1000} µs` : `${t} ms`}</text>`;
  }
  ["0", "90", "99", "99.9", "99.99", "99.999"].forEach((label, i) => {
    const px = L + (i / 5) * pw;
    body += `<line x1="${px}" x2="${px}" y1="${T}" y2="${T + ph}" stroke="#eee"/><text x="${px}" y="${T + ph + 16}" font-size="11" text-anchor="middle">${label}%</text>`;
  });
  body += `<text x="${L + pw / 2}" y="${H - 8}" font-size="12" text-anchor="middle">percentile</text><text x="14" y="${T + ph / 2}" font-size="12" transform="rotate(-90 14 ${T + ph / 2})" text-anchor="middle">latency</text>`;
  scenarios.forEach((s, i) => {
    const pts = s.cdf.filter((c) => c.ms > 0).map((c) => `${(L + (nines(c.p) / 5) * pw).toFixed(1)},${(T + ph - scale(y, c.ms, ph)).toFixed(1)}`);
    const color = COLORS[i % COLORS.length];
    body += `<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${pts.join(" ")}"/>`;
    body += `<rect x="${L + pw + 12}" y="${T + i * 18}" width="12" height="3" fill="${color}"/><text x="${L + pw + 30}" y="${T + i * 18 + 5}" font-size="11">${escapeHtml(s.name)}</text>`;
  });
  body += `<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`;
  return svgFrame(W, H, body, "latency CDF");
}

/** Share of requests per log-spaced latency bin. */
export function histogramSvg(scenarios: readonly ScenarioResult[]): string {
  const W = 860,
    H = 360,
    L = 70,
    R = 200,
    T = 20,
    B = 50;
  const pw = W - L - R,
    ph = H - T - B;
  const bins = scenarios.flatMap((s) => s.bins);
  if (bins.length === 0) return "";
  const x: Axis = { min: Math.min(...bins.map((b) => b.lo)), max: Math.max(...bins.map((b) => b.hi)), log: true };
  const shares = scenarios.map((s) => {
    const total = s.bins.reduce((n, b) => n + b.count, 0) || 1;
    return s.bins.map((b) => ({ ...b, share: b.count / total }));
  });
  const yMax = Math.max(...shares.flat().map((b) => b.share)) * 1.1;
  const y: Axis = { min: 0, max: yMax, log: false };
  let body = "";
  for (const t of logTicks(x.min, x.max)) {
    const px = L + scale(x, t, pw);
    body += `<line x1="${px}" x2="${px}" y1="${T}" y2="${T + ph}" stroke="#eee"/><text x="${px}" y="${T + ph + 16}" font-size="11" text-anchor="middle">${t < 1 ? `${Math.round(t * 1000)}µs` : `${t}ms`}</text>`;
  }
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    const py = T + ph - scale(y, v, ph);
    body += `<text x="${L - 6}" y="${py + 4}" font-size="11" text-anchor="end">${(v * 100).toFixed(1)}%</text>`;
  }
  body += `<text x="${L + pw / 2}" y="${H - 8}" font-size="12" text-anchor="middle">latency (log)</text>`;
  shares.forEach((bs, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = bs.map((b) => `${(L + scale(x, Math.sqrt(b.lo * b.hi), pw)).toFixed(1)},${(T + ph - scale(y, b.share, ph)).toFixed(1)}`);
    body += `<polyline fill="none" stroke="${color}" stroke-width="1.6" points="${pts.join(" ")}"/>`;
    body += `<rect x="${L + pw + 12}" y="${T + i * 18}" width="12" height="3" fill="${color}"/><text x="${L + pw + 30}" y="${T + i * 18 + 5}" font-size="11">${escapeHtml(scenarios[i].name)}</text>`;
  });
  body += `<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`;
  return svgFrame(W, H, body, "latency histogram");
}

export function renderHtml(result: BenchResult): string {
  const table = renderTable(result);
  const plotted = result.scenarios.filter((s) => s.cdf.length > 0);
  const sim = result.scenarios.some((s) => s.simulation) || result.lane.simulation;
  const scenarioRows = result.scenarios
    .map(
      (s) =>
        `<tr><td>${escapeHtml(s.name)}${s.simulation ? ' <b class="sim">SIMULATION</b>' : ""}</td><td>${s.target}</td><td>${s.mode === "open" ? `open, ${s.rate} req/s` : `closed, c=${s.concurrency}`}</td><td>${s.summary.count}</td><td>${s.summary.rps.toFixed(0)}</td>` +
        [s.summary.p50, s.summary.p90, s.summary.p95, s.summary.p99, s.summary.p999, s.summary.max].map((v) => `<td>${fmtMs(v)}</td>`).join("") +
        `<td>${s.summary.errors}</td><td>${s.verify ? `${s.verify.checked - s.verify.failed}/${s.verify.checked}` : ""}</td><td>${s.clientCpuUsPerRequest?.toFixed(1) ?? ""}</td><td>${s.runtimeRssPeakBytes ? (s.runtimeRssPeakBytes / 1048576).toFixed(0) + " MB" : ""}</td></tr>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Express Lane benchmark ${escapeHtml(result.startedAt)}</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:24px;max-width:1100px;color:#222}table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}pre{background:#f6f6f6;padding:10px;overflow:auto}.sim{color:#b00}.met{color:#070}.miss{color:#b00}</style></head>
<body>
<h1>Express Lane benchmark</h1>
<p>${escapeHtml(result.startedAt)} · ${escapeHtml(result.machine.cpuModel)} × ${result.machine.cpus} · Node ${escapeHtml(result.machine.node)} · load avg ${result.machine.loadavg.map((l) => l.toFixed(2)).join(" ")} · lane ${escapeHtml(result.lane.url)} (store ${escapeHtml(result.lane.storeKind ?? "?")}) · pinning ${escapeHtml(JSON.stringify(result.lane.pinning ?? {}))}</p>
${sim ? `<p class="sim"><b>SIMULATION</b>: some rows use a simulated store latency model (${escapeHtml(String(result.lane.simulation ?? result.scenarios.find((s) => s.simulation)?.simulation))}); they show what-if behaviour, not measured store latency.</p>` : ""}
<h2>Summary</h2>
<pre>${escapeHtml(table)}</pre>
<h2>Scenarios</h2>
<table><tr><th>scenario</th><th>target</th><th>load</th><th>requests</th><th>req/s</th><th>P50</th><th>P90</th><th>P95</th><th>P99</th><th>P99.9</th><th>max</th><th>errors</th><th>verified</th><th>bench CPU µs/req</th><th>runtime RSS peak</th></tr>
${scenarioRows}</table>
<p>Open-loop latencies are measured from each request's scheduled send time (coordinated-omission corrected).</p>
<h2>Latency CDF</h2>
${cdfSvg(plotted)}
<h2>Latency histogram</h2>
${histogramSvg(plotted)}
${
  result.scenarios.some((s) => s.breakdown?.at.length)
    ? `<h2>Tail breakdown (stage tracing)</h2>\n<p>Per percentile of the runtime's span, the mean split of the five reads around that rank; the black band is GC pause time overlapping them (runtime + signer). Signer stages are placed by centring the signer's own span in the runtime's transit window (hops get half each).</p>\n${result.scenarios
        .filter((s) => s.breakdown?.at.length)
        .map((s) => stackedBarsSvg(s.label, s.breakdown!))
        .join("\n")}`
    : ""
}
<h2>Goals</h2>
<table><tr><th>goal</th><th>target</th><th>measured</th><th>met</th><th>note</th></tr>
${result.goals.map((g) => `<tr><td>${escapeHtml(g.goal)}</td><td>${escapeHtml(g.target)}</td><td>${escapeHtml(g.measured)}</td><td class="${g.met ? "met" : "miss"}">${g.met === null ? "n/a" : g.met ? "met" : "not met"}</td><td>${escapeHtml(g.note ?? "")}</td></tr>`).join("\n")}
</table>
<h2>Configuration</h2>
<pre>${escapeHtml(JSON.stringify({ config: result.config, machine: result.machine, lane: result.lane }, null, 2))}</pre>
</body></html>
`;
}
