/**
 * The strict systemd unit parse check `npm run lint:infra` runs when systemd-analyze is not
 * installed (a machine with only Node and npm): every line a `Key=value` of a directive this list
 * knows for its section, and every Exec* an absolute path. systemd-analyze verify is the real check
 * (CI has it); this one must still accept every unit constructs/host-units.ts renders, which
 * test/scripts/unit-parse-check.test.ts asserts on every run — so a new directive in a unit fails a
 * test in CI, not only `npm test` on a machine without systemd (as UMask= did, unnoticed, in session 2).
 */
const KNOWN: Record<string, RegExp> = {
  Unit: /^(Description|Requires|Wants|After|Before|PartOf|StartLimitIntervalSec)$/,
  Timer: /^(OnBootSec|OnUnitActiveSec|AccuracySec)$/,
  Service:
    /^(Type|RemainAfterExit|ExecStart|ExecStop|ExecStopPost|User|Group|DynamicUser|Environment|RuntimeDirectory\w*|StateDirectory|ReadWritePaths|Standard(Output|Error)|Limit\w+|NoNewPrivileges|Protect\w+|PrivateTmp|Restart|RestartSec|TimeoutStartSec|UMask)$/,
  Install: /^WantedBy$/,
};

/** The lines of each unit the check refuses (units with none are left out). */
export function unitParseProblems(units: Readonly<Record<string, string>>): Array<{ readonly unit: string; readonly lines: readonly string[] }> {
  const problems: Array<{ unit: string; lines: string[] }> = [];
  for (const [unit, text] of Object.entries(units)) {
    let section = "";
    const bad: string[] = [];
    for (const line of text.split("\n")) {
      if (line === "") continue;
      const sec = /^\[(\w+)\]$/.exec(line);
      if (sec) section = sec[1];
      else if (!/^[A-Za-z]+=.+$/.test(line) || !KNOWN[section]?.test(line.split("=")[0])) bad.push(line);
      else if (/^Exec\w+=/.test(line) && !/^Exec\w+=-?\//.test(line)) bad.push(`${line} (not an absolute path)`);
    }
    if (bad.length > 0) problems.push({ unit, lines: bad });
  }
  return problems;
}
