/**
 * Host side of the registry: forward admin-signed registry documents to the signer and keep the
 * one it accepted, for the runtime's own request grammar (early 4xx, what to fetch) and for
 * GET /v1/views. The host can neither make nor alter a document (the enclave checks the admin
 * signature and the forward-only version); it can only deliver or withhold, and withholding shows
 * in every signed answer (registry_version, registry_digest).
 *
 * Sources, newest version wins: the `--registry-document` file (forwarded at start, on every
 * signer reconnect and on SIGHUP, like the key directory) and the fleet-wide copy in the store at
 * REGISTRY_STORE_KEY, polled (`PUT /v1/registry` on any host writes it there, so every host picks
 * it up within one poll). No import of enclave/.
 */
import { readFile } from "node:fs/promises";
import type { ProvisionRegistryResponse } from "../wire/frames";
import type { Registry } from "../wire/registry";
import { defaultRegistryRef, parseSignedRegistryDocument, REGISTRY_STORE_KEY, viewDocumentFromSpec, type RegistryDocument, type RegistryRef } from "../wire/registry-document";
import type { ObjectStore, ObjectWriter } from "./store/types";

export interface RegistryLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** The registry the signer holds, as the runtime knows it. */
export interface HeldRegistry {
  readonly ref: RegistryRef;
  readonly registry: Registry;
  /** The signed document (null: the image default, version 0). */
  readonly signed: Buffer | null;
  readonly document: RegistryDocument | null;
}

/**
 * A registry that never changes, named like an image default (version 0, its own digest), for
 * services that publish nothing (unit tests, tools embedding a ReaderService).
 */
export function fixedRegistry(registry: Registry): { readonly current: HeldRegistry } {
  return { current: { ref: defaultRegistryRef(registry.all.map(viewDocumentFromSpec)), registry, signed: null, document: null } };
}

export interface RegistrySyncOptions {
  readonly signer: { provisionRegistry(document?: Uint8Array): Promise<ProvisionRegistryResponse>; readonly up: boolean };
  /** The image default the runtime was built with (registry/views.json), until the signer says otherwise. */
  readonly imageDefault: { readonly registry: Registry; readonly ref: RegistryRef };
  /** `--registry-document`: a signed document file. */
  readonly file?: string;
  /** The store holding the fleet copy (read), and where `publish` writes it. */
  readonly store?: ObjectStore & Partial<ObjectWriter>;
  /** Object key prefix (runtime --key-prefix). */
  readonly keyPrefix?: string;
  /** Poll the store copy this often. @default 30 s */
  readonly pollMs?: number;
  readonly logger?: RegistryLogger;
  /** Called whenever the signer names another registry (e.g. the build_info metric's registry_version). */
  readonly onChange?: (held: HeldRegistry) => void;
}

export class RegistrySync {
  private held: HeldRegistry;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly options: RegistrySyncOptions) {
    this.held = { ref: options.imageDefault.ref, registry: options.imageDefault.registry, signed: null, document: null };
  }

  get current(): HeldRegistry {
    return this.held;
  }

  /** The signer's answer: keep the document it names (the runtime parses it for its own grammar only). */
  private adopt(reply: ProvisionRegistryResponse): HeldRegistry {
    if (reply.version === this.held.ref.version && reply.digest === this.held.ref.digest) return this.held;
    if (!reply.document) {
      // Version 0: the image default (a restarted enclave before any document).
      this.held = { ref: { version: reply.version, digest: reply.digest }, registry: this.options.imageDefault.registry, signed: null, document: null };
    } else {
      const parsed = parseSignedRegistryDocument(reply.document);
      if (parsed.digest !== reply.digest || parsed.document.version !== reply.version) throw new Error("signer named a registry its document does not match");
      this.held = { ref: { version: reply.version, digest: reply.digest }, registry: parsed.registry, signed: Buffer.from(reply.document), document: parsed.document };
    }
    this.options.logger?.info({ registry_version: this.held.ref.version, registry_digest: this.held.ref.digest }, "signer registry");
    this.options.onChange?.(this.held);
    return this.held;
  }

  private async candidates(): Promise<Buffer[]> {
    const out: Buffer[] = [];
    if (this.options.file) {
      try {
        out.push(await readFile(this.options.file));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") this.options.logger?.warn({ err: (err as Error).message, file: this.options.file }, "registry document unreadable");
      }
    }
    if (this.options.store) {
      try {
        const got = await this.options.store.get(`${this.options.keyPrefix ?? ""}${REGISTRY_STORE_KEY}`);
        if (got.found) out.push(Buffer.from(got.body));
      } catch (err) {
        this.options.logger?.warn({ err: (err as Error).message }, "registry store copy unreadable");
      }
    }
    return out;
  }

  /** Learn what the signer holds, then forward any candidate newer than that. Never throws. */
  sync(): Promise<void> {
    if (this.running) return this.running;
    this.running = this.syncNow().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async syncNow(): Promise<void> {
    try {
      this.adopt(await this.options.signer.provisionRegistry());
      const docs = (await this.candidates())
        .map((bytes) => {
          try {
            return { bytes, version: parseSignedRegistryDocument(bytes).document.version };
          } catch (err) {
            this.options.logger?.warn({ err: (err as Error).message }, "registry document malformed; not forwarded");
            return null;
          }
        })
        .filter((d): d is { bytes: Buffer; version: number } => d !== null && d.version > this.held.ref.version)
        .sort((a, b) => b.version - a.version);
      for (const d of docs) {
        try {
          this.adopt(await this.options.signer.provisionRegistry(d.bytes));
          break;
        } catch (err) {
          this.options.logger?.warn({ err: (err as Error).message, version: d.version }, "signer refused a registry document; it keeps the registry it has");
        }
      }
    } catch (err) {
      this.options.logger?.warn({ err: (err as Error).message }, "registry sync failed; retried at the next poll or reconnect");
    }
  }

  /**
   * PUT /v1/registry: forward to the signer; only when it accepts, write the fleet copy (so a
   * document no enclave accepts never reaches the other hosts). Refusals are the signer's.
   */
  async publish(bytes: Buffer): Promise<{ held: HeldRegistry; stored: boolean }> {
    const reply = await this.options.signer.provisionRegistry(bytes);
    const held = this.adopt(reply);
    const store = this.options.store;
    let stored = false;
    if (store && typeof store.put === "function" && held.signed && held.signed.equals(bytes)) {
      try {
        await store.put(`${this.options.keyPrefix ?? ""}${REGISTRY_STORE_KEY}`, bytes, { contentType: "application/json" });
        stored = true;
      } catch (err) {
        // The enclave accepted it either way; a host with a read-only store session (production
        // readers) cannot write the fleet copy: the answer says stored: false and apply says what to do.
        this.options.logger?.warn({ err: (err as Error).message }, "registry fleet copy not written");
      }
    }
    return { held, stored };
  }

  start(): void {
    void this.sync();
    const every = this.options.pollMs ?? 30_000;
    this.timer = setInterval(() => {
      if (this.options.signer.up) void this.sync();
    }, every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
