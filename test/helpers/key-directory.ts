// Test fixtures for the admin-signed key directory: an admin key pair, writer keys with their
// commitments, and directories signed the way `express-lane directory sign` signs them.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { ALL_VIEWS, keyCommitment, localAdminSigner, signKeyDirectory, type AdminKeyEntry, type DirectoryKey, type KeyDirectory, type KeyUse } from "../../wire/key-directory";

export interface TestAdmin {
  readonly entry: AdminKeyEntry;
  readonly pem: string;
  sign(directory: Omit<KeyDirectory, "v">): Promise<Buffer>;
}

export function testAdmin(kid = "admin-test"): TestAdmin {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x as string, "base64url");
  const entry = { kid, publicKey: raw.toString("base64") };
  return {
    entry,
    pem,
    sign: async (directory) => Buffer.from(await signKeyDirectory({ v: 1, ...directory }, kid, localAdminSigner(pem))),
  };
}

export interface TestWriterKey {
  readonly kid: string;
  readonly key: Buffer;
  readonly writer: string;
}

export function testWriterKey(writer: string, kid = `${writer}-${randomBytes(4).toString("hex")}`): TestWriterKey {
  return { kid, key: randomBytes(32), writer };
}

/** A directory entry; a "write" key is named sequencer of every view unless `sequences` says otherwise (null: of none). */
export const listed = (k: TestWriterKey, use: KeyUse = "write", sequences: readonly string[] | null = use === "write" ? [ALL_VIEWS] : null): DirectoryKey => ({
  kid: k.kid,
  writer: k.writer,
  use,
  commitment: keyCommitment(k.key),
  ...(sequences ? { sequences } : {}),
});

/** A directory valid for a day from `now`. */
export function directoryOf(lane: string, epoch: number, now: number, keys: DirectoryKey[]): Omit<KeyDirectory, "v"> {
  return { lane, epoch, issued_at: now - 1000, expires_at: now + 24 * 3600_000, keys };
}
