/**
 * In-memory store for tests and benchmarks where the store must not be the bottleneck. Same
 * conditional-write semantics as S3: ifNoneMatch "*" fails when the key exists, ifMatch fails when
 * the current ETag differs (or the key is absent) → StoreError precondition_failed (412).
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { StoreError, type ObjectStore, type ObjectWriter, type StoreGetResult } from "./types";

interface StoredObject {
  readonly body: Buffer;
  readonly etag: string;
}

export class MemoryStore implements ObjectStore, ObjectWriter {
  private readonly objects = new Map<string, StoredObject>();

  /**
   * Optionally seeded: key → body (copied, unless `owned`: the caller hands the buffers over).
   */
  constructor(initial?: Iterable<readonly [string, Buffer]>, options: { readonly owned?: boolean } = {}) {
    if (initial) for (const [key, body] of initial) this.objects.set(key, { body: options.owned ? body : Buffer.from(body), etag: etagOf(body) });
  }

  /**
   * Preload every object of a FileStore folder (benchmarks: "the store is not the bottleneck").
   * File names are FileStore's URI-encoded keys; hashed long names cannot be mapped back and are skipped.
   */
  static fromFileStoreDir(root: string): MemoryStore {
    const entries: Array<[string, Buffer]> = [];
    for (const name of readdirSync(root)) {
      if (name.startsWith("=sha256-") || name.startsWith(".")) continue;
      entries.push([decodeURIComponent(name), readFileSync(join(root, name))]);
    }
    // The buffers were just read and nobody else holds them: no second copy (RSS, benchmarks).
    return new MemoryStore(entries, { owned: true });
  }

  async get(key: string, signal?: AbortSignal): Promise<StoreGetResult> {
    if (signal?.aborted) throw new StoreError("timeout", `GET ${key}: aborted by the caller`);
    const stored = this.objects.get(key);
    // Callers get the stored Buffer itself (no copy: benchmarks). They must not mutate it.
    return stored === undefined ? { found: false } : { found: true, body: stored.body, etag: stored.etag };
  }

  async put(key: string, body: Buffer, opts: { ifMatch?: string; ifNoneMatch?: "*"; contentType?: string } = {}): Promise<{ etag: string }> {
    const current = this.objects.get(key);
    if (opts.ifNoneMatch === "*" && current !== undefined) {
      throw new StoreError("precondition_failed", `PUT ${key}: object exists (If-None-Match: *)`, 412);
    }
    if (opts.ifMatch !== undefined && (current === undefined || current.etag !== opts.ifMatch)) {
      throw new StoreError("precondition_failed", `PUT ${key}: ETag does not match (If-Match)`, 412);
    }
    // Copy: the caller may reuse its buffer after put() returns.
    const stored = { body: Buffer.from(body), etag: etagOf(body) };
    this.objects.set(key, stored);
    return { etag: stored.etag };
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }

  get size(): number {
    return this.objects.size;
  }

  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}

/** Quoted MD5 hex, as S3 general-purpose buckets do for single-part uploads. */
export function etagOf(body: Buffer): string {
  return `"${createHash("md5").update(body).digest("hex")}"`;
}
