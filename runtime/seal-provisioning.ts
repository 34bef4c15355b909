/**
 * Host side of production seal keys: read the wrapped seal keys document (KMS ciphertexts, fetched
 * from the artifact bucket at boot by user data) and hand it to the signer together with temporary
 * credentials of the instance role (FrameKind.ProvisionSealKeys). The signer unwraps them with its
 * attestation; the host never sees a seal key (the key policy lets the host role Decrypt only with
 * the enclave's attestation, and KMS answers with a ciphertext only the enclave opens).
 *
 * When: at startup, every time the signer (re)connects (a restarted enclave starts empty), on
 * SIGHUP (a rotated document was fetched), and periodically. Failures retry with backoff; reads
 * answer seal_key_unavailable until the first success. No import of enclave/: the runtime only
 * forwards bytes it cannot use.
 */
import { readFile } from "node:fs/promises";
import type { ProvisionSealKeysRequest, ProvisionSealKeysResponse } from "../wire/frames";
import { parseWrappedSealKeys } from "../wire/seal-keys";

export interface TemporaryCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface SealProvisioningLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface SealProvisioningOptions {
  /** The wrapped seal keys document (wire/seal-keys.ts). */
  readonly file: string;
  /** The instance role's current credentials (e.g. RefreshingCredentials.resolve). */
  readonly credentials: () => Promise<TemporaryCredentials>;
  readonly signer: { provisionSealKeys(request: ProvisionSealKeysRequest): Promise<ProvisionSealKeysResponse>; readonly up: boolean };
  readonly logger?: SealProvisioningLogger;
  /** First retry delay after a failure (doubles up to retryMaxMs). @default 2000 */
  readonly retryMs?: number;
  readonly retryMaxMs?: number;
  /** Re-provision this often (picks up a rotated document; idempotent otherwise). @default 15 min */
  readonly refreshMs?: number;
}

/** Reads the document and builds the frame; exported for tests and the CLI. */
export async function buildProvisionRequest(file: string, credentials: TemporaryCredentials): Promise<ProvisionSealKeysRequest> {
  const doc = parseWrappedSealKeys(await readFile(file, "utf8"), file);
  return {
    region: doc.region,
    // Only the three fields: nothing else of the host's credential object crosses.
    credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey, ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}) },
    wrapped: doc.keys.map((k) => ({ kid: k.kid, ciphertextBlob: Buffer.from(k.ciphertextBlob, "base64") })),
  };
}

export class SealKeyProvisioning {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<ProvisionSealKeysResponse | undefined> | null = null;
  private again = false;
  private delay: number;
  private stopped = false;
  /** The signer's answer to the last successful provisioning. */
  last: ProvisionSealKeysResponse | null = null;

  constructor(private readonly options: SealProvisioningOptions) {
    this.delay = options.retryMs ?? 2000;
  }

  /** One attempt; rejects with the reason. */
  async provisionOnce(): Promise<ProvisionSealKeysResponse> {
    const request = await buildProvisionRequest(this.options.file, await this.options.credentials());
    const reply = await this.options.signer.provisionSealKeys(request);
    this.last = reply;
    return reply;
  }

  /**
   * Provision now (coalesced: a trigger while one runs schedules exactly one more). On failure,
   * retries with backoff; on success, schedules the periodic refresh.
   */
  trigger(): Promise<ProvisionSealKeysResponse | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.clearTimer();
    this.running = this.provisionOnce().then(
      (reply) => {
        this.delay = this.options.retryMs ?? 2000;
        this.options.logger?.info({ seal_kids: reply.kids, active: reply.activeKid, unwrapped: reply.unwrapped, key: reply.keyArn }, "signer seal keys provisioned");
        this.schedule(this.options.refreshMs ?? 15 * 60_000);
        return reply;
      },
      (err: unknown) => {
        const retryIn = this.delay;
        this.delay = Math.min(this.delay * 2, this.options.retryMaxMs ?? 60_000);
        this.options.logger?.warn({ err: (err as Error).message, retryInMs: retryIn }, "signer seal key provisioning failed; reads answer seal_key_unavailable until it succeeds");
        this.schedule(retryIn);
        return undefined;
      },
    );
    return this.running.finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        void this.trigger();
      }
    });
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = null;
      // While the signer is down the reconnect hook triggers instead.
      if (this.options.signer.up) void this.trigger();
    }, ms);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
