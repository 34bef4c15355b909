/**
 * One log stream format for every lane process (runtime, signer, local store): pino JSON lines.
 * Lifecycle lines (`runtime_ready`, `signer_ready`, `store_ready`, `keys_reloaded`) carry an
 * `event` field that dev/lane/processes.ts and tests wait for, and are written whatever the
 * configured level (a child logger fixed at info), so `--log-level warn` cannot hide them.
 */
import type { Logger } from "pino";

export function lifecycleLogger(logger: Logger): Logger {
  return logger.child({}, { level: "info" });
}
