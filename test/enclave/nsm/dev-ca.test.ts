import { X509Certificate } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DevCertificateAuthority, LEAF_LIFETIME_MS, LEAF_RENEW_BEFORE_MS } from "../../../enclave/nsm/dev-ca";
import { tempDir } from "./fixtures";

const T0 = new Date("2030-01-01T00:00:00Z");
const HOUR = 3_600_000;

describe("DevCertificateAuthority", () => {
  it("creates root → intermediate, shaped like AWS's chain, and keeps only the intermediate's key", async () => {
    const dir = join(tempDir(), "ca");
    const ca = await DevCertificateAuthority.open(dir, T0);
    expect(readdirSync(dir).sort()).toEqual(["intermediate.key", "intermediate.pem", "root.pem"]);
    expect(ca.root.ca).toBe(true);
    expect(ca.intermediate.ca).toBe(true);
    expect(ca.intermediate.checkIssued(ca.root)).toBe(true);
    expect(ca.intermediate.verify(ca.root.publicKey)).toBe(true);
    expect(ca.root.publicKey.asymmetricKeyDetails?.namedCurve).toBe("secp384r1");
    expect(ca.cabundle).toEqual([ca.root.raw, ca.intermediate.raw]); // root first, like the NSM's cabundle
  });

  it("re-opening reuses the CA on disk", async () => {
    const dir = join(tempDir(), "ca");
    const a = await DevCertificateAuthority.open(dir, T0);
    const b = await DevCertificateAuthority.open(dir, T0);
    expect(b.root.fingerprint256).toBe(a.root.fingerprint256);
  });

  it("two opening at once end with one CA (no half-written folder)", async () => {
    const dir = join(tempDir(), "ca");
    const [a, b] = await Promise.all([DevCertificateAuthority.open(dir, T0), DevCertificateAuthority.open(dir, T0)]);
    const onDisk = new X509Certificate(readFileSync(join(dir, "root.pem")));
    expect([a.root.fingerprint256, b.root.fingerprint256]).toEqual([onDisk.fingerprint256, onDisk.fingerprint256]);
    expect(readdirSync(join(dir, "..")).filter((n) => n.includes(".tmp-"))).toEqual([]);
  });

  it("issues a 3-hour leaf (not a CA) under the intermediate, back-dated a little, and reuses it while fresh", async () => {
    const ca = await DevCertificateAuthority.open(join(tempDir(), "ca"), T0);
    const leaf = await ca.currentLeaf(T0);
    const cert = new X509Certificate(leaf.certificate);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(ca.intermediate)).toBe(true);
    expect(cert.verify(ca.intermediate.publicKey)).toBe(true);
    expect(new Date(cert.validFrom).getTime()).toBeLessThan(T0.getTime());
    expect(leaf.notAfter.getTime() - T0.getTime()).toBeLessThanOrEqual(LEAF_LIFETIME_MS);
    expect(leaf.privateKey.type).toBe("private");
    const again = await ca.currentLeaf(new Date(T0.getTime() + HOUR));
    expect(new X509Certificate(again.certificate).serialNumber).toBe(cert.serialNumber);
  });

  it("re-issues the leaf when less than the renewal margin is left", async () => {
    const ca = await DevCertificateAuthority.open(join(tempDir(), "ca"), T0);
    const first = new X509Certificate((await ca.currentLeaf(T0)).certificate);
    const late = new Date(T0.getTime() + LEAF_LIFETIME_MS - LEAF_RENEW_BEFORE_MS + 1000);
    const second = new X509Certificate((await ca.currentLeaf(late)).certificate);
    expect(second.serialNumber).not.toBe(first.serialNumber);
    expect(new Date(second.validTo).getTime()).toBeGreaterThan(late.getTime() + LEAF_RENEW_BEFORE_MS);
  });

  it("re-issues a leaf that another CA issued (a leaf.pem copied in from elsewhere)", async () => {
    const a = await DevCertificateAuthority.open(join(tempDir(), "ca"), T0);
    const b = await DevCertificateAuthority.open(join(tempDir(), "ca"), T0);
    const foreign = await a.currentLeaf(T0);
    writeFileSync(join(b.dir, "leaf.pem"), readFileSync(join(a.dir, "leaf.pem")));
    const leaf = new X509Certificate((await b.currentLeaf(T0)).certificate);
    expect(leaf.serialNumber).not.toBe(new X509Certificate(foreign.certificate).serialNumber);
    expect(leaf.checkIssued(b.intermediate)).toBe(true);
  });

  it("refuses a leaf file without both a certificate and a key", async () => {
    const ca = await DevCertificateAuthority.open(join(tempDir(), "ca"), T0);
    writeFileSync(join(ca.dir, "leaf.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    await expect(ca.currentLeaf(T0)).rejects.toThrow(/must hold a certificate and a private key/);
  });
});
