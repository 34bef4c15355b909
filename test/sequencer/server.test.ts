import { randomBytes } from "node:crypto";
import { generateKeyPairSync } from "node:crypto";
import { MemoryStore } from "../../runtime/store/memory-store";
import { runSequencer } from "../../sequencer/server";
import { signedReport, sendReport, reportPath } from "../../sequencer/report";
import { useStateDir, key, value, head } from "./fixtures";

const tmp = useStateDir();

describe("sequencer endpoint", () => {
  it("takes writer-signed reports, refuses bad signatures, replays, unknown views and bad values with JSON errors; heartbeats", async () => {
    const store = new MemoryStore();
    const running = await runSequencer({ views: ["user_profile"], lane: "local", key, store, stateDir: tmp.path, heartbeatMs: 100 });
    try {
      const ok = await sendReport(running.url, "user_profile", [["a", value(1000, "a")]], key);
      expect(ok.seq).toBeGreaterThan(1);

      const post = (path: string, body: Buffer, headers: Record<string, string>) => fetch(`${running.url}${path}`, { method: "POST", body, headers });
      const wrongKey = signedReport("user_profile", [["a", value(5000, "forged")]], { kid: key.kid, key: randomBytes(32) });
      let res = await post(wrongKey.path, wrongKey.body, wrongKey.headers);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("report_signature_invalid");

      const good = signedReport("user_profile", [["b", value(1000, "b")]], key);
      const tampered = Buffer.from(good.body.toString().replace('"b"', '"c"'));
      res = await post(good.path, tampered, good.headers);
      expect(res.status).toBe(401);
      res = await post(good.path, good.body, { "content-type": "application/json" });
      expect(res.status).toBe(401);
      res = await post(good.path, good.body, good.headers);
      expect(res.status).toBe(200);
      res = await post(good.path, good.body, good.headers);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("report_replayed");

      const other = signedReport("other_view", [], key);
      res = await post(other.path, other.body, other.headers);
      expect(res.status).toBe(404);
      const short = signedReport("user_profile", [["a", Buffer.alloc(39)]], key);
      res = await post(short.path, short.body, short.headers);
      expect(res.status).toBe(400);
      res = await post(reportPath("user_profile", "push-answer"), Buffer.from("{}"), { "content-type": "application/json" });
      expect(res.status).toBe(404); // no lane key pinned: no push answers

      const seqBefore = (await head(store)).head.seq;
      const rootBefore = (await head(store)).sealed.checkpoint.root;
      await new Promise((r) => setTimeout(r, 450));
      const after = await head(store);
      expect(after.head.seq).toBeGreaterThan(seqBefore); // heartbeat: new seq…
      expect(after.sealed.checkpoint.root.equals(rootBefore)).toBe(true); // …same root
      const listing = (await (await fetch(`${running.url}/v1/checkpoints`)).json()) as { views: Array<{ view: string; entities: number }> };
      expect(listing.views).toEqual([expect.objectContaining({ view: "user_profile", entities: 2 })]);
    } finally {
      await running.stop();
    }
  });

  it("refuses push answers that do not verify against the pinned lane key", async () => {
    const { publicKey } = generateKeyPairSync("ed25519");
    const jwk = { ...(publicKey.export({ format: "jwk" }) as { kty: "OKP"; crv: "Ed25519"; x: string }), kid: "lane-x" };
    const running = await runSequencer({ views: ["user_profile"], lane: "local", key, store: new MemoryStore(), stateDir: tmp.path, pinned: [jwk] });
    try {
      const body = JSON.stringify({
        request: { path: "/v1/features/user_profile/_push", body: Buffer.from("{}").toString("base64") },
        answer: { status: 200, headers: { "content-type": "application/json" }, body: Buffer.from(JSON.stringify({ view: "user_profile", results: [] })).toString("base64") },
      });
      const res = await fetch(`${running.url}${reportPath("user_profile", "push-answer")}`, { method: "POST", body, headers: { "content-type": "application/json" } });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("push_answer_unverified");
    } finally {
      await running.stop();
    }
  });
});
