import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpuMicros } from "../../bench/cpu";

describe("bench/cpu", () => {
  const ticks = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

  it("reads utime + stime from /proc/<pid>/stat, whatever the process name holds", () => {
    // Fields after the name: state, ppid, … utime is field 14, stime field 15 (1-based).
    const rest = "S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
    expect(cpuMicros(`123 (node) ${rest}`)).toBe(((250 + 50) * 1e6) / ticks);
    // A name with spaces and ") " inside must not shift the fields.
    expect(cpuMicros(`123 (a) b) c) ${rest}`)).toBe(((250 + 50) * 1e6) / ticks);
  });

  it("agrees with process.cpuUsage() for this process, to the kernel's tick", () => {
    const fromProc = cpuMicros(readFileSync("/proc/self/stat", "utf8"));
    const usage = process.cpuUsage();
    const tickMicros = 1e6 / ticks;
    expect(Math.abs(fromProc - (usage.user + usage.system))).toBeLessThan(3 * tickMicros + 20_000);
  });
});
