/**
 * The fallback unit parse check (scripts/unit-parse-check.ts) that `npm run lint:infra` runs where
 * systemd-analyze is missing: it accepts every unit the hosts get, and refuses what systemd would not.
 */
import { renderHostUnits } from "../../constructs/host-units";
import { unitParseProblems } from "../../scripts/unit-parse-check";

const UNITS = renderHostUnits({ region: "ap-south-1", bucketName: "lane--aps1-az1--x-s3", readerPort: 8080, enclaveMemoryMib: 1536 });

describe("unitParseProblems", () => {
  it("accepts every unit constructs/host-units.ts renders (a new directive must be added to the check)", () => {
    expect(Object.keys(UNITS).length).toBeGreaterThan(5);
    expect(unitParseProblems(UNITS)).toEqual([]);
  });

  it("refuses an unknown directive, a directive in the wrong section and a relative Exec path", () => {
    const unit = "[Unit]\nDescription=x\nUMask=0027\n[Service]\nExecStart=node runtime.js\nFrobnicate=yes\n[Install]\nWantedBy=multi-user.target\n";
    expect(unitParseProblems({ "bad.service": unit })).toEqual([
      { unit: "bad.service", lines: ["UMask=0027", "ExecStart=node runtime.js (not an absolute path)", "Frobnicate=yes"] },
    ]);
  });
});
