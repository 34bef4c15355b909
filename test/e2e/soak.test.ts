/**
 * The soak's short CI variant: ≈ 35 s at a moderate rate, 0 errors, live-heap growth ≤ 10 % after a
 * 20 s warm-up (scripts/soak.ts says why live heap and not RSS; RSS is printed for the record).
 */
import { runSoak, soakPassed } from "../../scripts/soak";

it("soaks for ~35 s with 0 errors and ≤ 10 % live-heap growth of runtime and signer", async () => {
  const report = await runSoak({ durationSeconds: Number(process.env.SOAK_SECONDS ?? 15), warmupSeconds: 20, rate: 200, entities: 300 });
  process.stdout.write(`soak: ${JSON.stringify(report)}\n`);
  expect(report.errors).toBe(0);
  expect(Object.keys(report.byStatus)).toEqual(["200"]);
  expect(report.liveHeap.runtime.probes).toBeGreaterThanOrEqual(2);
  expect(report.liveHeap.runtime.growthPct).toBeLessThanOrEqual(10);
  expect(report.liveHeap.signer.growthPct).toBeLessThanOrEqual(10);
  expect(soakPassed(report)).toBe(true);
}, 120_000);
