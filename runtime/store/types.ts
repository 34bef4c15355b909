/**
 * The object store seen from the reader runtime: one GET per entity object.
 *
 * Implementations: `S3Store` (S3 wire protocol: SigV4 path-style for any S3-compatible endpoint,
 * S3 Express session auth for `--x-s3` directory buckets) and `MemoryStore` / `FileStore` for
 * benchmarks where the store must not be the bottleneck.
 */
export type StoreGetResult = { readonly found: true; readonly body: Buffer; readonly etag?: string } | { readonly found: false };

export interface ObjectStore {
  /** Fetch one object by key. Resolves `{found:false}` on 404; rejects with StoreError otherwise. */
  get(key: string, signal?: AbortSignal): Promise<StoreGetResult>;
  /** Cheap reachability probe for /health/ready (e.g. a HEAD/GET on a known key or ListObjectsV2 max-keys=0). */
  ping(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface ObjectWriter {
  /**
   * Conditional PUT. `ifMatch` / `ifNoneMatch: "*"` follow S3's conditional-write semantics:
   * a failed precondition rejects with StoreError code "precondition_failed" (HTTP 412).
   */
  put(key: string, body: Buffer, opts?: { ifMatch?: string; ifNoneMatch?: "*"; contentType?: string }): Promise<{ etag: string }>;
}

export type StoreErrorCode = "timeout" | "unavailable" | "denied" | "precondition_failed" | "bad_response";

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    readonly httpStatus?: number,
  ) {
    super(message);
    this.name = "StoreError";
  }
}
