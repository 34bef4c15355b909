/** The soak's short CI variant: ≈ 25 s at a moderate rate, 0 errors, RSS growth ≤ 10 % after warm-up. */
import { runSoak } from "../../scripts/soak";

it("soaks for ~25 s with 0 errors and ≤ 10 % RSS growth of runtime and signer", async () => {
  const report = await runSoak({ durationSeconds: Number(process.env.SOAK_SECONDS ?? 15), warmupSeconds: 10, rate: 200, entities: 300 });
  process.stdout.write(`soak: ${JSON.stringify(report)}\n`);
  expect(report.errors).toBe(0);
  expect(Object.keys(report.byStatus)).toEqual(["200"]);
  expect(report.rss.runtime.growthPct).toBeLessThanOrEqual(10);
  expect(report.rss.signer.growthPct).toBeLessThanOrEqual(10);
}, 120_000);
