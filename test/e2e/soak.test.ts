/** The soak's short CI variant: ≈ 35 s at a moderate rate, 0 errors, RSS growth ≤ 10 % after a 20 s warm-up (V8's heap is still growing towards its steady size for the first ~15 s on a loaded CI machine). */
import { runSoak } from "../../scripts/soak";

it("soaks for ~35 s with 0 errors and ≤ 10 % RSS growth of runtime and signer", async () => {
  const report = await runSoak({ durationSeconds: Number(process.env.SOAK_SECONDS ?? 15), warmupSeconds: 20, rate: 200, entities: 300 });
  process.stdout.write(`soak: ${JSON.stringify(report)}\n`);
  expect(report.errors).toBe(0);
  expect(Object.keys(report.byStatus)).toEqual(["200"]);
  expect(report.rss.runtime.growthPct).toBeLessThanOrEqual(10);
  expect(report.rss.signer.growthPct).toBeLessThanOrEqual(10);
}, 120_000);
