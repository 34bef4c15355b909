import { createHash, X509Certificate } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NsmError } from "../../../enclave/nsm/codec";
import { LEAF_LIFETIME_MS } from "../../../enclave/nsm/dev-ca";
import { LocalNsm, localPcrs, measureLocalBundle } from "../../../enclave/nsm/local-nsm";
import { loadPinnedRoot, verifyAttestation } from "../../../verifier/attestation";
import { decodeDocument, localSetup } from "./fixtures";

const leafOf = (doc: Buffer) => new X509Certificate(decodeDocument(doc).payload.get("certificate") as Buffer);

describe("LocalNsm dev CA", () => {
  test("is created on first use, then reused by later instances", async () => {
    const lane = localSetup();
    const first = await lane.nsm.attest({});
    const rootPem = readFileSync(join(lane.devCaDir, "root.pem"), "utf8");
    expect(statSync(join(lane.devCaDir, "intermediate.key")).mode & 0o077).toBe(0);
    expect(statSync(join(lane.devCaDir, "leaf.pem")).mode & 0o077).toBe(0);

    const again = new LocalNsm({ bundlePath: lane.bundlePath, devCaDir: lane.devCaDir });
    const second = await again.attest({});
    expect(readFileSync(join(lane.devCaDir, "root.pem"), "utf8")).toBe(rootPem);
    expect(leafOf(second).serialNumber).toBe(leafOf(first).serialNumber); // leaf still fresh: reused
    expect(again.moduleId).not.toBe(lane.nsm.moduleId); // a new "enclave" gets a new module id
  });

  test("chain shape: root (CA) → intermediate (CA) → 3-hour leaf, all P-384", async () => {
    const lane = localSetup();
    const doc = await lane.nsm.attest({});
    const [root, intermediate] = (decodeDocument(doc).payload.get("cabundle") as Buffer[]).map((der) => new X509Certificate(der));
    const leaf = leafOf(doc);
    expect(root!.ca && intermediate!.ca && !leaf.ca).toBe(true);
    expect(intermediate!.verify(root!.publicKey) && leaf.verify(intermediate!.publicKey)).toBe(true);
    const lifetime = new Date(leaf.validTo).getTime() - new Date(leaf.validFrom).getTime();
    expect(lifetime).toBeGreaterThanOrEqual(LEAF_LIFETIME_MS);
    expect(lifetime).toBeLessThan(LEAF_LIFETIME_MS + 10 * 60_000);
    for (const cert of [root!, intermediate!, leaf]) expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe("secp384r1");
  });

  test("re-issues the leaf when it nears expiry; the new leaf verifies", async () => {
    let now = Date.now();
    const lane = localSetup(undefined, { clock: () => now });
    const early = await lane.nsm.attest({});
    now += 2.5 * 3600_000; // half an hour before the first leaf expires
    const late = await lane.nsm.attest({});
    expect(leafOf(late).serialNumber).not.toBe(leafOf(early).serialNumber);
    expect(() => verifyAttestation(late, { root: lane.root(), measurements: lane.measurements(), now: new Date(now) })).not.toThrow();
  });

  test("two processes creating the CA at once end up with one root", async () => {
    const lane = localSetup();
    const other = new LocalNsm({ bundlePath: lane.bundlePath, devCaDir: lane.devCaDir });
    const docs = await Promise.all([lane.nsm.attest({}), other.attest({}), lane.nsm.attest({})]);
    const root = loadPinnedRoot("local", lane.devCaDir);
    for (const doc of docs) {
      expect(Buffer.from((decodeDocument(doc).payload.get("cabundle") as Buffer[])[0]!).equals(root.raw)).toBe(true);
    }
  });
});

describe("LocalNsm PCRs", () => {
  const zero = Buffer.alloc(48);
  const sha384 = (...parts: (Buffer | string)[]) => parts.reduce((h, p) => h.update(p), createHash("sha384")).digest();

  test("follow the documented derivation", () => {
    const bundle = Buffer.from("the signer");
    const pcrs = localPcrs(bundle, "node v20.0.0 linux/arm64");
    const pcr1 = sha384(zero, sha384("express-lane/local-runtime\0", "node v20.0.0 linux/arm64"));
    const pcr2 = sha384(zero, sha384(bundle));
    expect(pcrs.get(1)).toEqual(pcr1);
    expect(pcrs.get(2)).toEqual(pcr2);
    expect(pcrs.get(0)).toEqual(sha384(sha384(zero, pcr1), pcr2));
    for (const i of [3, 4, 8, 15]) expect(pcrs.get(i)).toEqual(zero);
    expect(pcrs.size).toBe(16);
  });

  test("a one-byte change to the bundle changes PCR0 and PCR2, not PCR1", () => {
    const lane = localSetup("console.log(1)\n");
    const before = measureLocalBundle(lane.bundlePath).Measurements;
    writeFileSync(lane.bundlePath, "console.log(2)\n");
    const after = measureLocalBundle(lane.bundlePath).Measurements;
    expect(after.PCR0).not.toBe(before.PCR0);
    expect(after.PCR2).not.toBe(before.PCR2);
    expect(after.PCR1).toBe(before.PCR1);
    expect(after.HashAlgorithm).toBe("Sha384 { ... }");
  });

  test("the document carries the bundle's PCRs; debug mode zeroes them", async () => {
    const lane = localSetup();
    const pcrs = decodeDocument(await lane.nsm.attest({})).payload.get("pcrs") as Map<number, Buffer>;
    expect(Buffer.from(pcrs.get(0)!).toString("hex")).toBe(measureLocalBundle(lane.bundlePath).Measurements.PCR0);
    const debug = localSetup(undefined, { debug: true });
    const debugPcrs = decodeDocument(await debug.nsm.attest({})).payload.get("pcrs") as Map<number, Buffer>;
    expect([...debugPcrs.values()].every((v) => Buffer.from(v).equals(zero))).toBe(true);
  });
});

describe("LocalNsm limits", () => {
  test("refuses oversized fields like the NSM (InputTooLarge)", async () => {
    const { nsm } = localSetup();
    await expect(nsm.attest({ nonce: Buffer.alloc(513) })).rejects.toMatchObject({ code: "InputTooLarge" });
    await expect(nsm.attest({ userData: Buffer.alloc(513) })).rejects.toBeInstanceOf(NsmError);
    await expect(nsm.attest({ publicKey: Buffer.alloc(1025) })).rejects.toMatchObject({ code: "InputTooLarge" });
    await expect(nsm.attest({ nonce: Buffer.alloc(512), userData: Buffer.alloc(512), publicKey: Buffer.alloc(1024) })).resolves.toBeInstanceOf(Buffer);
  });
});
