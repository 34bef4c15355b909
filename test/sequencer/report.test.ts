import { randomBytes } from "node:crypto";
import { MemoryStore } from "../../runtime/store/memory-store";
import { runSequencer } from "../../sequencer/server";
import { SequencerReporter } from "../../sequencer/report";
import { useStateDir, key, value } from "./fixtures";

const tmp = useStateDir();

describe("SequencerReporter", () => {
  it("SequencerReporter batches adds and counts failures without throwing", async () => {
    const running = await runSequencer({ views: ["user_profile"], lane: "local", key, store: new MemoryStore(), stateDir: tmp.path });
    try {
      const r = new SequencerReporter({ url: running.url, view: "user_profile", key, batch: 3 });
      for (let i = 0; i < 7; i++) r.add(`e${i}`, value(1000, `v${i}`));
      expect(await r.close()).toMatchObject({ reported: 7, failed: 0 });
      expect(running.sequencers.get("user_profile")!.size).toBe(7);
      const bad = new SequencerReporter({ url: running.url, view: "user_profile", key: { kid: "nobody", key: randomBytes(32) } });
      bad.add("x", value(1, "x"));
      const s = await bad.close();
      expect(s).toMatchObject({ reported: 0, failed: 1 });
      expect(s.errors[0]).toMatch(/401/);
    } finally {
      await running.stop();
    }
  });
});
