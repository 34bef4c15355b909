/**
 * What the benchmark calls: the lane over HTTP (single, projected and batch reads, a share of the
 * answers verified with the verifier library) and the store directly with the runtime's own store
 * client (the baseline the lane's added latency is measured against).
 */
import { Pool } from "undici";
import type { Ed25519Jwk } from "../wire/keys";
import { objectKey, encodeObject, type FeatureObject } from "../wire/object";
import { verifyResponse, VerificationError } from "../verifier/response";
import type { ObjectStore, ObjectWriter } from "../runtime/store/types";
import { seededRandom } from "../dev/random";

import type { Outcome, Send } from "../dev/load";
// The dataset (view, ids, sized objects) is shared with `express-lane bench-data` (cli/): dev/bench-data.ts.
import { BENCH_VIEW, benchEntityId, PROJECTED_FEATURES, sizedFeatureObject, sizedObject } from "../dev/bench-data";
export { BENCH_VIEW, benchEntityId, PROJECTED_FEATURES, sizedFeatureObject, sizedObject };

export type ReadKind = "single" | "projected" | "batch";

export interface Workload {
  readonly view: string;
  readonly entities: number;
  readonly batchSize: number;
  readonly features: readonly string[];
}

export const defaultWorkload = (entities: number, batchSize = 100): Workload => ({
  view: BENCH_VIEW,
  entities,
  batchSize,
  features: PROJECTED_FEATURES,
});

/** The feature string padded to reach the size (declared `string` in the registry view). */
/** Write `count` objects of ~`bytes` bytes for demo entity ids 0..count-1, encoded by `encode` (e.g. sealed). */
export async function seedObjects(
  store: ObjectWriter,
  count: number,
  bytes: number,
  encode: (object: FeatureObject) => Buffer = encodeObject,
  onProgress?: (done: number) => void,
): Promise<number> {
  const now = Date.now();
  let next = 0;
  let size = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const body = encode(sizedFeatureObject(i, bytes, now));
      size = body.length;
      await store.put(objectKey(BENCH_VIEW, benchEntityId(i)), body, { contentType: "application/msgpack" });
      if (i % 200 === 0) onProgress?.(i);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return size;
}

export interface VerifyStats {
  checked: number;
  failed: number;
  readonly byCode: Record<string, number>;
}

export class LaneTarget {
  readonly pool: Pool;
  readonly verify: VerifyStats = { checked: 0, failed: 0, byCode: {} };
  private readonly random: () => number;
  private nonceCounter = 0;

  constructor(
    readonly url: string,
    connections: number,
    private readonly key: Ed25519Jwk | undefined,
    private readonly verifyShare: number,
    seed = 1,
  ) {
    this.pool = new Pool(url, { connections, pipelining: 1, keepAliveTimeout: 30_000 });
    this.random = seededRandom(seed);
  }

  /** Fetch the signer's public key from /v1/signer (the bench verifies against it). */
  static async signerKey(url: string): Promise<{ keyid: string; jwk: Ed25519Jwk }> {
    const res = await fetch(new URL("/v1/signer", url));
    if (!res.ok) throw new Error(`GET /v1/signer: HTTP ${res.status}`);
    return (await res.json()) as { keyid: string; jwk: Ed25519Jwk };
  }

  private entity(w: Workload): string {
    return benchEntityId(Math.floor(this.random() * w.entities));
  }

  sender(kind: ReadKind, w: Workload): Send {
    const base = `/v1/features/${w.view}/`;
    const query = kind === "projected" ? `?features=${w.features.join(",")}` : "";
    return async (): Promise<Outcome> => {
      let path: string;
      let body: string | undefined;
      if (kind === "batch") {
        path = `${base}batch`;
        const entities = new Set<string>();
        while (entities.size < Math.min(w.batchSize, w.entities)) entities.add(this.entity(w));
        body = JSON.stringify({ entities: [...entities], features: w.features });
      } else {
        path = base + encodeURIComponent(this.entity(w));
      }
      const check = this.key !== undefined && this.verifyShare > 0 && this.random() < this.verifyShare;
      const nonce = check ? `bench-${++this.nonceCounter}` : undefined;
      const headers: Record<string, string> = {};
      if (nonce) headers["accept-signature"] = `sig1=("@status" "content-digest");nonce="${nonce}"`;
      if (body) headers["content-type"] = "application/json";
      const res = await this.pool.request({ method: body ? "POST" : "GET", path: path + query, headers, body });
      // Runtime-made errors (429/503 shedding, 5xx) are unsigned by design: count them as HTTP
      // errors, not as verification failures. Signed answers (200, 404, 4xx from the signer) verify.
      const signed = res.headers["signature-input"] !== undefined || res.statusCode < 500;
      if (!check || !signed) {
        await res.body.dump({ limit: 16 * 1024 * 1024 });
      } else {
        const bytes = Buffer.from(await res.body.arrayBuffer());
        const flat: Record<string, string | undefined> = {};
        for (const [k, v] of Object.entries(res.headers)) flat[k] = Array.isArray(v) ? v.join(", ") : v;
        this.verify.checked++;
        try {
          verifyResponse(
            { status: res.statusCode, headers: flat, body: bytes },
            { method: body ? "POST" : "GET", path, query, body: body === undefined ? undefined : Buffer.from(body) },
            // EXPRESS_LANE_BENCH_SEQUENCER=off (no checkpoints): answers carry fresh_as_of null by design; do not count them as failures.
            { key: this.key!, nonce, skewSeconds: 30, ...(process.env.EXPRESS_LANE_BENCH_SEQUENCER === "off" ? { maxStaleness: Infinity } : {}) },
          );
        } catch (err) {
          const code = err instanceof VerificationError ? err.code : "verify_error";
          this.verify.failed++;
          this.verify.byCode[code] = (this.verify.byCode[code] ?? 0) + 1;
          return { ok: false, status: res.statusCode, error: `verify_${code}` };
        }
      }
      return res.statusCode === 200 ? { ok: true, status: 200 } : { ok: false, status: res.statusCode, error: `http_${res.statusCode}` };
    };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** The baseline: one GET of the same objects with the runtime's store client, in this process. */
export function directSender(store: ObjectStore, w: Workload, seed = 2): Send {
  const random = seededRandom(seed);
  return async (): Promise<Outcome> => {
    const r = await store.get(objectKey(w.view, benchEntityId(Math.floor(random() * w.entities))));
    return r.found ? { ok: true, status: 200 } : { ok: false, status: 404, error: "not_found" };
  };
}
