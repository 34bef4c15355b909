/**
 * Host side of key provisioning: read the admin-signed key directory and (production) the wrapped
 * writer keys document (KMS ciphertexts), both fetched from the artifact bucket by user data, and
 * hand them to the signer with temporary credentials of the instance role (FrameKind.ProvisionKeys,
 * on a provision-role connection). The host forwards bytes it can neither make nor use: the
 * directory needs an admin signature, the blobs open only inside the attested enclave.
 *
 * When: at startup, every time the signer (re)connects (a restarted enclave starts empty), on
 * SIGHUP (a rotated document was fetched), and periodically. Failures retry with backoff; reads
 * answer seal_key_unavailable until the first success. No import of enclave/: the runtime only
 * forwards bytes it cannot use.
 */
import { readFile } from "node:fs/promises";
import type { ProvisionKeysRequest as ProvisionSealKeysRequest, ProvisionKeysResponse as ProvisionSealKeysResponse } from "../wire/frames";
import { parseWrappedSealKeys } from "../wire/seal-keys";
import { parseLaneKeys } from "../wire/lane-key";

/** The instance role's temporary credentials, as the ProvisionKeys frame carries them to the signer. */
export type TemporaryCredentials = NonNullable<ProvisionSealKeysRequest["credentials"]>;

export interface SealProvisioningLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface SealProvisioningOptions {
  /** The signed key directory (wire/key-directory.ts), as published. */
  readonly directoryFile: string;
  /** Production: the wrapped writer keys document (wire/seal-keys.ts). */
  readonly file?: string;
  /** Production: the lane signing keys document (wire/lane-key.ts). */
  readonly laneKeysFile?: string;
  /** The instance role's current credentials (e.g. RefreshingCredentials.resolve); with `file`. */
  readonly credentials?: () => Promise<TemporaryCredentials>;
  readonly signer: { provisionKeys(request: ProvisionSealKeysRequest): Promise<ProvisionSealKeysResponse>; readonly up: boolean };
  readonly logger?: SealProvisioningLogger;
  /** First retry delay after a failure (doubles up to retryMaxMs). @default 2000 */
  readonly retryMs?: number;
  readonly retryMaxMs?: number;
  /** Re-provision this often (picks up a rotated document; idempotent otherwise). @default 15 min */
  readonly refreshMs?: number;
}

/** An optional document: absent (not published yet) is no error. */
async function readOptional(path: string | undefined): Promise<string | undefined> {
  if (!path) return undefined;
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Reads the documents and builds the frame; exported for tests and the CLI. The directory is
 * required; the wrapped keys and lane keys documents are used when they exist (a first deploy
 * publishes them after the hosts boot).
 */
export async function buildProvisionRequest(
  directoryFile: string,
  wrappedFile?: string,
  credentials?: TemporaryCredentials,
  laneKeysPath?: string,
): Promise<ProvisionSealKeysRequest> {
  const directory = await readFile(directoryFile);
  const wrappedText = await readOptional(wrappedFile);
  const laneText = await readOptional(laneKeysPath);
  const file = wrappedText === undefined ? undefined : wrappedFile;
  const laneKeysFile = laneText === undefined ? undefined : laneKeysPath;
  if (!file && !laneKeysFile) return { directory };
  if (!credentials) throw new Error("wrapped keys need the instance role's credentials");
  const lane = laneKeysFile ? parseLaneKeys(laneText!, laneKeysFile) : undefined;
  const laneKeys = lane?.keys.map((k) => ({ kid: k.kid, ciphertextBlob: Buffer.from(k.ciphertextBlob, "base64"), notBefore: k.not_before, notAfter: k.not_after }));
  // Only the three fields: nothing else of the host's credential object crosses.
  const creds = {
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: credentials.secretAccessKey,
    ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}),
  };
  if (!file) return { directory, region: lane!.region, credentials: creds, laneKeys };
  const doc = parseWrappedSealKeys(wrappedText!, file);
  return {
    directory,
    ...(laneKeys ? { laneKeys } : {}),
    region: doc.region,
    credentials: creds,
    wrapped: doc.keys.map((k) => ({ kid: k.kid, ciphertextBlob: Buffer.from(k.ciphertextBlob, "base64") })),
  };
}

export class KeyProvisioning {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<ProvisionSealKeysResponse | undefined> | null = null;
  private again = false;
  private delay: number;
  private stopped = false;
  /** The signer's answer to the last successful provisioning. */
  last: ProvisionSealKeysResponse | null = null;
  /** Called with every successful answer (the service learns the lane keys the signer holds). */
  onProvisioned?: (reply: ProvisionSealKeysResponse) => void;

  constructor(private readonly options: SealProvisioningOptions) {
    this.delay = options.retryMs ?? 2000;
  }

  /** One attempt; rejects with the reason. */
  async provisionOnce(): Promise<ProvisionSealKeysResponse> {
    const credentials = (this.options.file || this.options.laneKeysFile) && this.options.credentials ? await this.options.credentials() : undefined;
    const request = await buildProvisionRequest(this.options.directoryFile, this.options.file, credentials, this.options.laneKeysFile);
    const reply = await this.options.signer.provisionKeys(request);
    this.last = reply;
    this.onProvisioned?.(reply);
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
        this.options.logger?.info(
          { lane: reply.lane, epoch: reply.epoch, expires_at: new Date(reply.expires_at).toISOString(), kids: reply.kids, missing: reply.missing, unwrapped: reply.unwrapped },
          "signer keys provisioned",
        );
        this.schedule(this.options.refreshMs ?? 15 * 60_000);
        return reply;
      },
      (err: unknown) => {
        const retryIn = this.delay;
        this.delay = Math.min(this.delay * 2, this.options.retryMaxMs ?? 60_000);
        this.options.logger?.warn(
          { err: (err as Error).message, retryInMs: retryIn },
          "signer key provisioning failed; the signer keeps what it had (reads of unknown kids are refused) and this retries",
        );
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
