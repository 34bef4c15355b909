/**
 * Soak instrumentation, preloaded into a lane child with `--expose-gc --require` (dev/lane/children.ts
 * `heapProbe`): on SIGUSR2 it runs a full garbage collection and prints the live heap on stderr as
 * `heap_probe {"heapUsed":…,"external":…,"arrayBuffers":…,"rss":…}`.
 *
 * Why: RSS of a Node process under steady load is a sawtooth — the old generation fills with
 * promoted garbage until the next mark-compact, which can be minutes apart — so RSS growth over a
 * short window measures where the sawtooth happens to be, not a leak. The heap that survives a full
 * GC is what a leak grows. Never loaded in production (the runtime and signer bundles do not import it).
 */
"use strict";
process.on("SIGUSR2", () => {
  if (typeof global.gc !== "function") {
    process.stderr.write('heap_probe {"error":"start node with --expose-gc"}\n');
    return;
  }
  global.gc();
  const m = process.memoryUsage();
  process.stderr.write(`heap_probe ${JSON.stringify({ heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss })}\n`);
});
