/**
 * Objects as files under one root directory (benchmarks, fixtures). Each key maps to one flat file
 * name: the key URI-encoded as a whole ("/" becomes %2F), so no key can name a path outside the
 * root, a directory, "." or "..". Over-long names (file systems cap names at 255 bytes) fall back
 * to a SHA-256 name, prefixed with "=" which the encoding never produces, so the two never collide.
 *
 * Writes go to a temporary file then rename(), so readers never see a partial object. Conditional
 * writes are checked in-process only (no cross-process lock): fine for a benchmark's single writer.
 */
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { uriEncode } from "./sigv4";
import { etagOf } from "./memory-store";
import { StoreError, type ObjectStore, type ObjectWriter, type StoreGetResult } from "./types";

const MAX_FILE_NAME_BYTES = 240;

export function fileNameForKey(key: string): string {
  if (key === "") throw new StoreError("bad_response", "empty object key");
  const encoded = uriEncode(key).replace(/^\./, "%2E"); // "." and ".." (and hidden files) never appear
  if (encoded.length <= MAX_FILE_NAME_BYTES) return encoded;
  return "=sha256-" + createHash("sha256").update(key).digest("hex");
}

export interface FileStoreOptions {
  readonly root: string;
  /** Compute an MD5 ETag on every get (costs a hash per read). Default true. */
  readonly etags?: boolean;
}

export class FileStore implements ObjectStore, ObjectWriter {
  readonly root: string;
  private readonly etags: boolean;
  /** Serialises writers per key inside this process so conditional checks are not racy here. */
  private readonly writeLocks = new Map<string, Promise<unknown>>();

  constructor(options: FileStoreOptions) {
    this.root = options.root;
    this.etags = options.etags ?? true;
  }

  pathForKey(key: string): string {
    return join(this.root, fileNameForKey(key));
  }

  async get(key: string, signal?: AbortSignal): Promise<StoreGetResult> {
    try {
      const body = await fs.readFile(this.pathForKey(key), { signal });
      return this.etags ? { found: true, body, etag: etagOf(body) } : { found: true, body };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { found: false };
      throw this.mapError(error, key);
    }
  }

  async put(key: string, body: Buffer, opts: { ifMatch?: string; ifNoneMatch?: "*"; contentType?: string } = {}): Promise<{ etag: string }> {
    const previous = this.writeLocks.get(key) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.putUnlocked(key, body, opts));
    this.writeLocks.set(key, run);
    try {
      return await run;
    } finally {
      if (this.writeLocks.get(key) === run) this.writeLocks.delete(key);
    }
  }

  private async putUnlocked(key: string, body: Buffer, opts: { ifMatch?: string; ifNoneMatch?: "*" }): Promise<{ etag: string }> {
    const path = this.pathForKey(key);
    if (opts.ifMatch !== undefined || opts.ifNoneMatch !== undefined) {
      const current = await fs.readFile(path).catch((e: NodeJS.ErrnoException) => {
        if (e.code === "ENOENT") return undefined;
        throw this.mapError(e, key);
      });
      if (opts.ifNoneMatch === "*" && current !== undefined) {
        throw new StoreError("precondition_failed", `PUT ${key}: object exists (If-None-Match: *)`, 412);
      }
      if (opts.ifMatch !== undefined && (current === undefined || etagOf(current) !== opts.ifMatch)) {
        throw new StoreError("precondition_failed", `PUT ${key}: ETag does not match (If-Match)`, 412);
      }
    }
    await fs.mkdir(this.root, { recursive: true });
    const temporary = join(this.root, `.tmp-${randomBytes(8).toString("hex")}`);
    try {
      await fs.writeFile(temporary, body);
      await fs.rename(temporary, path);
    } catch (error) {
      await fs.rm(temporary, { force: true });
      throw this.mapError(error, key);
    }
    return { etag: etagOf(body) };
  }

  async ping(): Promise<void> {
    try {
      await fs.access(this.root);
    } catch (error) {
      throw this.mapError(error, "(root)");
    }
  }

  async close(): Promise<void> {}

  private mapError(error: unknown, key: string): StoreError {
    if (error instanceof StoreError) return error;
    const e = error as NodeJS.ErrnoException;
    if (e.name === "AbortError") return new StoreError("timeout", `${key}: aborted by the caller`);
    if (e.code === "EACCES" || e.code === "EPERM") return new StoreError("denied", `${key}: ${e.message}`);
    return new StoreError("unavailable", `${key}: ${e.code ?? e.name}: ${e.message}`);
  }
}
