// bench/phase.ts: the runtime's RSS read from /proc for a local lane (no /metrics scrape in the measured tail).
import { spawnSync } from "node:child_process";
import { procRss, rssSampler } from "../../bench/phase";

const linux = process.platform === "linux";

(linux ? describe : describe.skip)("procRss / rssSampler from /proc", () => {
  it("reads this process's VmRSS in bytes, close to what Node reports", () => {
    const rss = procRss(process.pid)!;
    const node = process.memoryUsage().rss;
    expect(rss).toBeGreaterThan(node / 2);
    expect(rss).toBeLessThan(node * 2);
  });

  it("is undefined for no pid or a process that has exited", () => {
    const gone = spawnSync(process.execPath, ["-e", ""]).pid;
    expect(procRss(undefined)).toBeUndefined();
    expect(procRss(gone)).toBeUndefined();
  });

  it("the sampler keeps the peak it saw and stops", async () => {
    const sampler = rssSampler({ pid: () => process.pid });
    await new Promise((r) => setTimeout(r, 250));
    const peak = await sampler.stop();
    expect(peak).toBeGreaterThan(0);
    expect(await rssSampler(undefined).stop()).toBeUndefined();
  });
});
