/**
 * The tail breakdown in the benchmark's outputs: one text line per percentile for the terminal and
 * an inline-SVG stacked bar per percentile (stage split of the runtime's span, GC overlap marked)
 * for the HTML report. The arithmetic is bench/breakdown.ts.
 */
import { statSync, openSync, readSync, closeSync } from "node:fs";
import { breakdownByRoute, STAGES, type RouteBreakdown } from "./breakdown";

/** The trace file's bytes appended since `from` (the runtime appends, never rewrites). */
export function traceSince(file: string, from: number): { text: string; size: number } {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return { text: "", size: from };
  }
  if (size <= from) return { text: "", size };
  const buf = Buffer.alloc(size - from);
  const fd = openSync(file, "r");
  try {
    readSync(fd, buf, 0, buf.length, from);
  } finally {
    closeSync(fd);
  }
  return { text: buf.toString("utf8"), size };
}

export function traceSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The breakdown of the reads one phase traced (the route with most reads: a phase reads one route). */
export function phaseBreakdown(text: string): RouteBreakdown | undefined {
  const routes = breakdownByRoute(text);
  return routes.sort((a, b) => b.reads - a.reads)[0];
}

const COLORS = ["#8c564b", "#1f77b4", "#bcbd22", "#17becf", "#7f7f7f", "#9467bd", "#d62728", "#c7c7c7", "#2ca02c"];
const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** One horizontal stacked bar per percentile, scaled to the largest span; GC overlap as a hatched band. */
export function stackedBarsSvg(title: string, b: RouteBreakdown): string {
  const width = 900;
  const left = 90;
  const barH = 22;
  const rows = b.at.length;
  const height = 40 + rows * (barH + 26) + 40;
  const max = Math.max(1, ...b.at.map((a) => a.totalUs));
  const px = (us: number): number => (us / max) * (width - left - 20);
  let y = 30;
  const parts: string[] = [`<text x="${left}" y="16" font-size="13">${esc(title)} — ${b.reads} traced reads; runtime span (accepted → response written)</text>`];
  for (const a of b.at) {
    let x = left;
    parts.push(`<text x="4" y="${y + 15}" font-size="12">P${a.percentile}</text>`);
    STAGES.forEach((s, i) => {
      const w = px(Math.max(0, a.stagesUs[s.name]));
      if (w > 0)
        parts.push(
          `<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[i]}"><title>${esc(s.name)}: ${(a.stagesUs[s.name] / 1000).toFixed(3)} ms — ${esc(s.what)}</title></rect>`,
        );
      x += w;
    });
    const gc = a.gcUs.runtime + a.gcUs.signer;
    if (gc > 0)
      parts.push(
        `<rect x="${left}" y="${y + barH + 2}" width="${px(gc).toFixed(1)}" height="5" fill="#000"><title>GC overlap: runtime ${(a.gcUs.runtime / 1000).toFixed(3)} ms, signer ${(a.gcUs.signer / 1000).toFixed(3)} ms</title></rect>`,
      );
    parts.push(
      `<text x="${(x + 4).toFixed(1)}" y="${y + 15}" font-size="11">${(a.totalUs / 1000).toFixed(2)} ms · dominant: ${esc(a.dominant)} · GC ${(gc / 1000).toFixed(2)} ms</text>`,
    );
    y += barH + 26;
  }
  let lx = left;
  STAGES.forEach((s, i) => {
    parts.push(`<rect x="${lx}" y="${y}" width="10" height="10" fill="${COLORS[i]}"/><text x="${lx + 13}" y="${y + 9}" font-size="10">${esc(s.name)}</text>`);
    lx += 13 + s.name.length * 6 + 12;
  });
  parts.push(`<rect x="${lx}" y="${y + 3}" width="10" height="4" fill="#000"/><text x="${lx + 13}" y="${y + 9}" font-size="10">GC overlap</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(title)}">${parts.join("")}</svg>`;
}
