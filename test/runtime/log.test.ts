import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { lifecycleLogger } from "../../runtime/log";

const ROOT = join(__dirname, "../..");

describe("runtime/log: one log stream format", () => {
  it("lifecycle lines are pino lines with an event, written even when the level hides info", () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) });
    const logger = pino({ level: "warn", base: { service: "express-lane-runtime" } }, sink);
    logger.info("hidden");
    lifecycleLogger(logger).info({ event: "runtime_ready", port: 8080 }, "runtime listening");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual(expect.objectContaining({ level: 30, service: "express-lane-runtime", event: "runtime_ready", port: 8080, msg: "runtime listening" }));
    logger.debug("still hidden");
    expect(lines).toHaveLength(1);
  });

  it("no lane process writes a bare JSON event line of its own (runtime, signer, lane scripts)", () => {
    const files = ["runtime", "enclave", "dev/lane"].flatMap((dir) =>
      readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
        .filter((f) => f.endsWith(".ts"))
        .map((f) => join(dir, f)),
    );
    expect(files.length).toBeGreaterThan(20);
    const bare = files.filter((f) => /stdout\.write\(\s*`\$\{JSON\.stringify\(\{\s*event:/.test(readFileSync(join(ROOT, f), "utf8")));
    expect(bare).toEqual([]);
    // Nor a hand-made pino-lookalike ({level, time, event} written by hand).
    const lookalikes = files.filter((f) => /JSON\.stringify\(line\)/.test(readFileSync(join(ROOT, f), "utf8")) && /level: 50, time:/.test(readFileSync(join(ROOT, f), "utf8")));
    expect(lookalikes).toEqual([]);
  });
});
