/**
 * The local dev CA: a P-384 chain shaped like AWS's (root → intermediate → short-lived leaf) that
 * signs LocalNsm's attestation documents. Created on first use in an ignored folder (default
 * .lane/dev-ca/), reused afterwards; the leaf is re-issued when it nears expiry, as the real NSM's
 * ~3-hour leaves are.
 *
 * Every key here sits on the developer's disk, so a document under this root proves nothing about
 * hardware: it exists so the whole attestation path (format, chain, PCRs, keyid binding) runs and
 * is verified locally exactly as in production. docs/trust.md says the same to consumers.
 *
 *   root.pem           self-signed, 20 years, CA pathLen 1 — what `--root local` pins
 *   intermediate.pem   10 years, CA pathLen 0, with intermediate.key (PKCS#8) to issue leaves
 *   leaf.pem           3 hours, not a CA, digitalSignature; certificate and key in one file so a
 *                      re-issue replaces both at once (write + rename)
 *
 * The root key is used once, to issue the intermediate, and then dropped: nothing else needs it.
 */
import "reflect-metadata"; // @peculiar/x509 (tsyringe) needs a Reflect polyfill loaded first
import * as x509 from "@peculiar/x509";
import { createPrivateKey, KeyObject, randomBytes, webcrypto, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALGORITHM = { name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" } as const;
const HOUR_MS = 3_600_000;
const YEAR_MS = 365 * 24 * HOUR_MS;
export const LEAF_LIFETIME_MS = 3 * HOUR_MS;
/** A leaf with less than this left is replaced, so no document is issued under a dying leaf. */
export const LEAF_RENEW_BEFORE_MS = HOUR_MS;
/** notBefore is back-dated a little: verifiers' clocks may run slightly behind ours. */
const BACKDATE_MS = 5 * 60_000;

const NAMES = {
  root: "C=US, O=Express Lane, OU=local dev, CN=express-lane.local-dev-root",
  intermediate: "C=US, O=Express Lane, OU=local dev, CN=express-lane.local-dev-intermediate",
  leaf: "C=US, O=Express Lane, OU=local dev, CN=express-lane.local-nsm",
};

type CryptoKeyPair = webcrypto.CryptoKeyPair;

export interface DevLeaf {
  /** DER of the leaf certificate (the document's `certificate`). */
  readonly certificate: Buffer;
  readonly privateKey: KeyObject;
  readonly notAfter: Date;
}

export class DevCertificateAuthority {
  private constructor(
    readonly dir: string,
    readonly root: X509Certificate,
    readonly intermediate: X509Certificate,
    private readonly intermediateKeyPem: string,
  ) {}

  /** Opens the dev CA in `dir`, creating it if it does not exist yet. */
  static async open(dir: string, now: Date = new Date()): Promise<DevCertificateAuthority> {
    if (!existsSync(join(dir, "root.pem"))) await createCa(dir, now);
    return new DevCertificateAuthority(
      dir,
      new X509Certificate(readFileSync(join(dir, "root.pem"))),
      new X509Certificate(readFileSync(join(dir, "intermediate.pem"))),
      readFileSync(join(dir, "intermediate.key"), "utf8"),
    );
  }

  /** The root first, like the NSM's `cabundle`. */
  get cabundle(): Buffer[] {
    return [this.root.raw, this.intermediate.raw];
  }

  /** The current leaf, re-issued (and saved) when it has less than an hour left at `now`. */
  async currentLeaf(now: Date): Promise<DevLeaf> {
    const path = join(this.dir, "leaf.pem");
    if (existsSync(path)) {
      const leaf = parseLeafFile(readFileSync(path, "utf8"));
      const cert = new X509Certificate(leaf.certificate);
      const usable = now >= new Date(cert.validFrom) && leaf.notAfter.getTime() - now.getTime() > LEAF_RENEW_BEFORE_MS;
      if (usable && cert.checkIssued(this.intermediate)) return leaf;
    }
    const issuerKey = await importSigningKey(this.intermediateKeyPem);
    const keys = await generateKeys();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject: NAMES.leaf,
      issuer: new x509.X509Certificate(this.intermediate.raw).subject,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + LEAF_LIFETIME_MS),
      publicKey: keys.publicKey,
      signingKey: issuerKey,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(new x509.X509Certificate(this.intermediate.raw)),
      ],
    });
    const keyPem = await exportPkcs8Pem(keys);
    writeAtomically(path, cert.toString("pem") + "\n" + keyPem);
    return parseLeafFile(readFileSync(path, "utf8"));
  }
}

async function createCa(dir: string, now: Date): Promise<void> {
  const rootKeys = await generateKeys();
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: NAMES.root,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + 20 * YEAR_MS),
    keys: rootKeys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const intermediateKeys = await generateKeys();
  const intermediate = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: NAMES.intermediate,
    issuer: root.subject,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + 10 * YEAR_MS),
    publicKey: intermediateKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(intermediateKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(root),
    ],
  });

  // Build the whole CA in a private folder, then rename it into place: two processes starting at
  // once (signer and a test) must not see, or write, half a CA. The loser of the race keeps the
  // winner's CA.
  mkdirSync(dirname(dir), { recursive: true });
  const staging = `${dir}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  mkdirSync(staging, { mode: 0o700 });
  writeFileSync(join(staging, "root.pem"), root.toString("pem") + "\n");
  writeFileSync(join(staging, "intermediate.pem"), intermediate.toString("pem") + "\n");
  writeFileSync(join(staging, "intermediate.key"), await exportPkcs8Pem(intermediateKeys), { mode: 0o600 });
  try {
    if (existsSync(dir) && readdirSync(dir).length === 0) rmSync(dir, { recursive: true });
    renameSync(staging, dir);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(join(dir, "root.pem"))) throw err;
  }
}

function parseLeafFile(text: string): DevLeaf {
  const certPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
  const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(text)?.[0];
  if (!certPem || !keyPem) throw new Error("dev CA leaf.pem must hold a certificate and a private key");
  const cert = new X509Certificate(certPem);
  return { certificate: cert.raw, privateKey: createPrivateKey(keyPem), notAfter: new Date(cert.validTo) };
}

function writeAtomically(path: string, contents: string): void {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  writeFileSync(temp, contents, { mode: 0o600 });
  renameSync(temp, path);
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
}

async function exportPkcs8Pem(keys: CryptoKeyPair): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  return x509.PemConverter.encode(der, "PRIVATE KEY") + "\n";
}

async function importSigningKey(pkcs8Pem: string): Promise<webcrypto.CryptoKey> {
  const der = createPrivateKey(pkcs8Pem).export({ format: "der", type: "pkcs8" });
  return webcrypto.subtle.importKey("pkcs8", der, ALGORITHM, false, ["sign"]);
}

/** 16 random bytes, top bit clear so the DER INTEGER stays positive (RFC 5280 §4.1.2.2). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString("hex");
}
