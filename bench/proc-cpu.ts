/** User + system CPU of a process from /proc/<pid>/stat (all its threads: a signer's workers too). */
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";

const TICKS_PER_SECOND = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/** utime + stime of a process, in µs. */
export function cpuMicros(stat: string): number {
  // Field 2 (comm) may contain spaces and parentheses: fields after the last ") " are fixed.
  const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_SECOND;
}

/** A process's CPU µs, or one of its threads' (`tid`: /proc/<pid>/task/<tid>; the main thread's tid is the pid). */
export function processCpu(pid: number | undefined, tid?: number): number {
  if (pid === undefined) return NaN;
  try {
    return cpuMicros(readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, "utf8"));
  } catch {
    return NaN;
  }
}
