/**
 * Credential sources for S3Store. The hot path only ever calls `current()` (synchronous, a field
 * read); fetching or refreshing credentials happens at startup and in the background, never per
 * request.
 */
import type { AwsCredentials } from "./sigv4";
import { StoreError } from "./types";

export interface CredentialSource {
  /** Valid cached credentials, or undefined when none are (yet / any longer) usable. */
  current(): AwsCredentials | undefined;
  /** Slow path: obtain credentials (first use, or after the cache ran dry). Single-flight. */
  resolve(): Promise<AwsCredentials>;
  close(): void;
}

/** Fixed keys: the local store (s3rver ignores signatures) or long-lived IAM user keys. */
export class StaticCredentials implements CredentialSource {
  constructor(private readonly credentials: AwsCredentials) {}
  current(): AwsCredentials {
    return this.credentials;
  }
  async resolve(): Promise<AwsCredentials> {
    return this.credentials;
  }
  close(): void {}
}

export interface RefreshingCredentialsOptions {
  /** Any async provider, e.g. fromNodeProviderChain() from @aws-sdk/credential-providers. */
  readonly provider: () => Promise<AwsCredentials>;
  /** Refresh this long before `expiration`. Default 5 min (STS/IMDS creds live ≥ 15 min). */
  readonly refreshBeforeExpiryMs?: number;
  readonly now?: () => number;
}

/**
 * Wraps an async provider (instance role, env, SSO …): keeps the last credentials and refreshes
 * them in the background before they expire, so requests never wait on IMDS/STS.
 */
export class RefreshingCredentials implements CredentialSource {
  private credentials: AwsCredentials | undefined;
  private inflight: Promise<AwsCredentials> | undefined;
  private readonly refreshBeforeExpiryMs: number;
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly options: RefreshingCredentialsOptions) {
    this.refreshBeforeExpiryMs = options.refreshBeforeExpiryMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
  }

  current(): AwsCredentials | undefined {
    const creds = this.credentials;
    if (creds === undefined) return undefined;
    const expiresAt = creds.expiration?.getTime();
    if (expiresAt !== undefined) {
      const now = this.now();
      if (now >= expiresAt) return undefined;
      // Inside the refresh window: hand out the still-valid creds and refresh behind them.
      if (now >= expiresAt - this.refreshBeforeExpiryMs && this.inflight === undefined && !this.closed) {
        void this.resolve().catch(() => undefined);
      }
    }
    return creds;
  }

  resolve(): Promise<AwsCredentials> {
    if (this.inflight) return this.inflight;
    this.inflight = this.options
      .provider()
      .then((creds) => {
        this.credentials = creds;
        return creds;
      })
      .catch((err: unknown) => {
        throw new StoreError("denied", `cannot obtain AWS credentials: ${(err as Error)?.message ?? String(err)}`);
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }

  close(): void {
    this.closed = true;
  }
}

/**
 * The AWS default chain (env, SSO, web identity, ECS, instance metadata …), loaded lazily so local
 * runs never import it. Call once at startup.
 */
export function awsDefaultCredentials(): RefreshingCredentials {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { defaultProvider } = require("@aws-sdk/credential-provider-node") as typeof import("@aws-sdk/credential-provider-node");
  const provider = defaultProvider();
  return new RefreshingCredentials({
    provider: async () => {
      const identity = await provider();
      return {
        accessKeyId: identity.accessKeyId,
        secretAccessKey: identity.secretAccessKey,
        sessionToken: identity.sessionToken,
        expiration: identity.expiration,
      };
    },
  });
}
