/**
 * Which writer keys this enclave uses — decided by the admin, never by the host.
 *
 *   image trust (measured, pinned)  →  admin public keys, lane name
 *   key directory (host delivers)   →  accepted only if an admin signed it, for this lane, with an
 *                                       epoch ≥ the one held, not expired
 *   key material (host delivers)    →  dev files or KMS-unwrapped blobs; used only for a kid the
 *                                       directory lists, and only if it matches the commitment
 *
 * The keyring the signer uses is exactly (directory ∩ held material), rebuilt whenever either
 * changes. A kid the directory no longer lists is dropped with its material at once: the host
 * cannot bring it back without an admin-signed directory that lists it again (P4). Withholding a
 * new directory only lasts until the held one expires; after that every object and push is refused
 * (fail closed) until a fresh directory arrives.
 */
import { createHash, type KeyObject } from "node:crypto";
import {
  adminKeyMap,
  DIRECTORY_CLOCK_SKEW_MS,
  keyCommitment,
  KeyDirectory,
  KeyDirectoryError,
  keySequences,
  LANE_NAME,
  verifySignedKeyDirectory,
  type AdminKeyEntry,
} from "../wire/key-directory";
import { SealKeyring, SEAL_KEY_BYTES, type SealKey } from "./seal";

/** What the measured image pins about keys (image trust config; see enclave/trust-config.ts). */
export interface KeyTrust {
  readonly lane: string;
  readonly adminKeys: readonly AdminKeyEntry[];
}

export class KeyStateError extends Error {
  constructor(
    readonly code: "bad_key_directory" | "key_directory_rollback" | "key_commitment_mismatch",
    message: string,
  ) {
    super(message);
    this.name = "KeyStateError";
  }
}

export class KeyState {
  private readonly admins: ReadonlyMap<string, KeyObject>;
  private directory: KeyDirectory | null = null;
  private directoryDigest = "";
  /** kid → 32-byte key: material received, kept only while the directory lists the kid. */
  private readonly held = new Map<string, Buffer>();
  private current: SealKeyring | null = null;

  constructor(
    readonly trust: KeyTrust,
    private readonly now: () => number = Date.now,
  ) {
    if (!LANE_NAME.test(trust.lane)) throw new Error(`lane must match ${LANE_NAME.source}`);
    if (trust.adminKeys.length === 0) throw new Error("the image pins no admin key: no key directory could ever be accepted");
    this.admins = adminKeyMap(trust.adminKeys);
  }

  /** The keyring of the current directory; null before any directory (everything is refused). */
  get keyring(): SealKeyring | null {
    return this.current;
  }

  get epoch(): number {
    return this.directory?.epoch ?? 0;
  }

  get expiresAt(): number {
    return this.directory?.expires_at ?? 0;
  }

  /** The writer the current directory names for a kid (used to unwrap its KMS blob). */
  writerOf(kid: string): string | undefined {
    return this.directory?.keys.find((k) => k.kid === kid)?.writer;
  }

  /** Whether the current directory names `kid` (a write key) as a sequencer of `view` (P8: only it may seal the view's checkpoints). */
  maySequence(kid: string, view: string): boolean {
    const key = this.directory?.keys.find((k) => k.kid === kid);
    return key !== undefined && keySequences(key, view);
  }

  /** Kids the directory lists that have no matching material yet. */
  get missing(): string[] {
    return (this.directory?.keys ?? []).filter((k) => !this.held.has(k.kid)).map((k) => k.kid);
  }

  /**
   * Accept a signed directory from the host: admin signature, lane, forward-only epoch (an equal
   * epoch only with identical content: idempotent re-sends), issued not in the future, not expired.
   */
  acceptDirectory(bytes: Uint8Array): KeyDirectory {
    let directory: KeyDirectory;
    try {
      directory = verifySignedKeyDirectory(bytes, this.admins);
    } catch (err) {
      if (err instanceof KeyDirectoryError) throw new KeyStateError("bad_key_directory", err.message);
      throw err;
    }
    const now = this.now();
    if (directory.lane !== this.trust.lane) throw new KeyStateError("bad_key_directory", `directory is for lane ${directory.lane}, this image serves ${this.trust.lane}`);
    if (directory.issued_at > now + DIRECTORY_CLOCK_SKEW_MS) throw new KeyStateError("bad_key_directory", "directory issued in the future");
    if (directory.expires_at <= now) throw new KeyStateError("bad_key_directory", "directory has expired");
    const digest = createHash("sha256").update(JSON.stringify(directory)).digest("base64url");
    if (this.directory) {
      if (directory.epoch < this.directory.epoch)
        throw new KeyStateError("key_directory_rollback", `directory epoch ${directory.epoch} is older than the held epoch ${this.directory.epoch}`);
      if (directory.epoch === this.directory.epoch && digest !== this.directoryDigest) {
        throw new KeyStateError("key_directory_rollback", `a different directory with the held epoch ${directory.epoch}: epochs must move forward`);
      }
    }
    this.directory = directory;
    this.directoryDigest = digest;
    const listed = new Map(directory.keys.map((k) => [k.kid, k]));
    for (const [kid, key] of this.held) {
      const entry = listed.get(kid);
      // Revoked (not listed) or re-issued under another commitment: the old material is gone.
      if (!entry || entry.commitment !== keyCommitment(key)) this.held.delete(kid);
    }
    this.rebuild();
    return directory;
  }

  /**
   * Offer key material (dev key files, KMS-unwrapped blobs). Material for a kid the directory
   * lists must match its commitment; material for an unlisted kid is dropped (without a directory
   * yet, it waits: the first directory decides).
   */
  offerKeys(keys: readonly { readonly kid: string; readonly key: Buffer }[]): void {
    for (const { kid, key } of keys) {
      if (key.length !== SEAL_KEY_BYTES) throw new KeyStateError("key_commitment_mismatch", `key ${kid} is not ${SEAL_KEY_BYTES} bytes`);
      const entry = this.directory?.keys.find((k) => k.kid === kid);
      if (this.directory && !entry) continue;
      if (entry && entry.commitment !== keyCommitment(key)) throw new KeyStateError("key_commitment_mismatch", `key ${kid} does not match the directory's commitment`);
      this.held.set(kid, Buffer.from(key));
    }
    this.rebuild();
  }

  /** Whether we hold material for `kid` that matches the directory (no KMS call needed). */
  holds(kid: string): boolean {
    return this.held.has(kid) && this.directory?.keys.some((k) => k.kid === kid) === true;
  }

  private rebuild(): void {
    const directory = this.directory;
    if (!directory) {
      this.current = null;
      return;
    }
    const keys: SealKey[] = [];
    for (const entry of directory.keys) {
      const key = this.held.get(entry.kid);
      if (key && entry.commitment === keyCommitment(key)) keys.push({ kid: entry.kid, key, writer: entry.writer, use: entry.use });
    }
    this.current = new SealKeyring(keys, "", { expiresAt: directory.expires_at });
  }
}
