/**
 * Which feature views this enclave serves — decided by the admin, never by the host.
 *
 *   image (measured)           →  the pinned default registry (registry/views.json), version 0
 *   registry document (host)   →  accepted only if an admin key pinned in the image signed it, for
 *                                 this lane, with a version above the one held (the same version
 *                                 with the same digest is an idempotent re-send), every view valid
 *
 * A refused document changes nothing. The host can withhold a newer document, which shows: every
 * signed answer names the registry it was built with (registry_version, registry_digest).
 */
import type { KeyObject } from "node:crypto";
import { adminKeyMap, LANE_NAME, type AdminKeyEntry } from "../wire/key-directory";
import type { Registry } from "../wire/registry";
import { REGISTRY_CLOCK_SKEW_MS, RegistryDocumentError, verifySignedRegistryDocument, type RegistryDocument, type RegistryRef } from "../wire/registry-document";

import { statusOf } from "../wire/errors";

export type RegistryRefusal = "bad_registry_document" | "registry_rollback";

export class RegistryStateError extends Error {
  /** The catalog's (wire/errors.ts): 400 not acceptable at all, 409 valid but not newer than what is held. */
  readonly status: number;
  constructor(
    readonly code: RegistryRefusal,
    message: string,
  ) {
    super(message);
    this.name = "RegistryStateError";
    this.status = statusOf(code);
  }
}

export interface RegistryTrust {
  readonly lane: string;
  readonly adminKeys: readonly AdminKeyEntry[];
}

/** What the signer reads per request: one object, swapped whole on acceptance. */
export interface CurrentRegistry {
  readonly registry: Registry;
  readonly ref: RegistryRef;
  readonly document: RegistryDocument | null;
  /** The signed bytes as delivered (null for the image default). */
  readonly signed: Buffer | null;
}

export class RegistryState {
  private readonly admins: ReadonlyMap<string, KeyObject>;
  private held: CurrentRegistry;

  constructor(
    readonly trust: RegistryTrust,
    imageDefault: { readonly registry: Registry; readonly ref: RegistryRef },
    private readonly now: () => number = Date.now,
  ) {
    if (!LANE_NAME.test(trust.lane)) throw new Error(`lane must match ${LANE_NAME.source}`);
    this.admins = adminKeyMap(trust.adminKeys);
    this.held = { registry: imageDefault.registry, ref: imageDefault.ref, document: null, signed: null };
  }

  get current(): CurrentRegistry {
    return this.held;
  }

  /** Accept a signed registry document from the host, or refuse it and keep what we hold. */
  accept(bytes: Uint8Array): CurrentRegistry {
    let parsed;
    try {
      parsed = verifySignedRegistryDocument(bytes, this.admins);
    } catch (err) {
      if (err instanceof RegistryDocumentError) throw new RegistryStateError("bad_registry_document", err.message);
      throw err;
    }
    const { document, digest } = parsed;
    if (document.lane !== this.trust.lane)
      throw new RegistryStateError("bad_registry_document", `registry document is for lane ${document.lane}, this image serves ${this.trust.lane}`);
    if (document.issued_at > this.now() + REGISTRY_CLOCK_SKEW_MS) throw new RegistryStateError("bad_registry_document", "registry document issued in the future");
    const held = this.held.ref;
    if (document.version < held.version) throw new RegistryStateError("registry_rollback", `registry version ${document.version} is older than the held version ${held.version}`);
    if (document.version === held.version) {
      if (digest === held.digest) return this.held; // idempotent re-send (start, reconnect, poll)
      throw new RegistryStateError("registry_rollback", `a different registry document with the held version ${held.version}: versions must move forward`);
    }
    this.held = { registry: parsed.registry, ref: { version: document.version, digest }, document, signed: Buffer.from(bytes) };
    return this.held;
  }
}
