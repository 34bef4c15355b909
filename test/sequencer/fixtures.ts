/** What the sequencer tests share: the sequencer's writer key, 40-byte leaf values, a state dir per test, the log head. */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MemoryStore } from "../../runtime/store/memory-store";
import { entityMapValue, parseSealedCheckpoint } from "../../wire/checkpoint";
import { checkpointLogKeys, decodeLogHead } from "../../wire/checkpoint-log";

export const key = { kid: "dev-sequencer", key: randomBytes(32) };
export const value = (t: number, tag: string) => entityMapValue(t, Buffer.from(tag));

/** A fresh state directory for every test of the calling file (`.path`), removed after it. */
export function useStateDir(): { readonly path: string } {
  const dir = { path: "" };
  beforeEach(() => {
    dir.path = mkdtempSync(join(tmpdir(), "seq-"));
  });
  afterEach(() => rmSync(dir.path, { recursive: true, force: true }));
  return dir;
}

/** The published head of user_profile's log and the checkpoint it carries. */
export async function head(store: MemoryStore) {
  const got = await store.get(checkpointLogKeys("user_profile").head);
  if (!got.found) throw new Error("no head");
  const h = decodeLogHead(got.body, "user_profile");
  return { head: h, sealed: parseSealedCheckpoint(h.checkpoint) };
}
