/**
 * The lane signing keys this enclave holds (wire/lane-key.ts): private keys that only attested
 * enclaves of the lane can unwrap, each with the validity window KMS bound into its blob. Answers
 * are signed with the valid key of the latest not_before; with none (not provisioned yet, or all
 * expired) the signer falls back to its own enclave-born key, which consumers pinned on the lane
 * key refuse — visible, never silently wrong.
 */
import type { KeyObject } from "node:crypto";
import { SigningKey } from "./key";
import { checkValidity, currentLaneKey, LaneKeyError } from "../wire/lane-key";

export interface HeldLaneKey {
  readonly key: SigningKey;
  readonly notBefore: number;
  readonly notAfter: number;
}

export class LaneKeys {
  private held: HeldLaneKey[] = [];
  /** Bumped on every change (the signer's worker threads follow it). */
  version = 0;

  /** Add (or refresh) a lane key; its kid must be the thumbprint of the key itself. */
  offer(kid: string, privateKey: KeyObject, notBefore: number, notAfter: number): void {
    checkValidity(notBefore, notAfter, `lane key ${kid}`);
    const key = SigningKey.fromPrivateKey(privateKey);
    if (key.keyid !== kid) throw new LaneKeyError(`lane key ${kid}: the private key's thumbprint is ${key.keyid}`);
    this.held = [...this.held.filter((h) => h.key.keyid !== kid), { key, notBefore, notAfter }];
    this.version++;
  }

  holds(kid: string): boolean {
    return this.held.some((h) => h.key.keyid === kid);
  }

  /** The key to sign with at `nowMs`, if any is valid then (wire/lane-key.ts currentLaneKey). */
  current(nowMs: number): SigningKey | undefined {
    return currentLaneKey(this.held, nowMs)?.key;
  }

  /** Drop what has expired; return what is held (for the provisioning reply and attestation). */
  list(nowMs: number): readonly HeldLaneKey[] {
    this.held = this.held.filter((h) => h.notAfter > nowMs);
    return this.held;
  }
}
