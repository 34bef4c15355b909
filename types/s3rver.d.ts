// Minimal typings for s3rver 3.x (ships none): only what the local store uses.
declare module "s3rver" {
  import type { EventEmitter } from "node:events";
  interface S3rverOptions {
    address?: string;
    port?: number;
    directory?: string;
    silent?: boolean;
    resetOnClose?: boolean;
    allowMismatchedSignatures?: boolean;
    configureBuckets?: Array<{ name: string; configs: Array<string | Buffer> }>;
  }
  class S3rver extends EventEmitter {
    constructor(options?: S3rverOptions);
    run(): Promise<{ address: string; port: number; family: string }>;
    close(): Promise<void>;
    /** s3rver extends Koa; its middleware array can be prepended to. */
    readonly middleware: Array<(ctx: unknown, next: () => Promise<void>) => Promise<void>>;
  }
  export = S3rver;
}
