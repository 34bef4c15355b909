import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadPinnedRoot } from "../../verifier/attestation";
import { AWS_NITRO_ROOT_G1_PEM, AWS_NITRO_ROOT_G1_SHA256 } from "../../verifier/roots/aws-nitro-enclaves-root-g1";

// Published at https://docs.aws.amazon.com/enclaves/latest/user/verify-root.html. Written out here
// again on purpose: the test must not take the expected value from the file it checks.
const PUBLISHED_FINGERPRINT = "64:1A:03:21:A3:E2:44:EF:E4:56:46:31:95:D6:06:31:7E:D7:CD:CC:3C:17:56:E0:98:93:F3:C6:8F:79:BB:5B";

describe("AWS Nitro Enclaves Root-G1", () => {
  const pemFile = readFileSync(join(__dirname, "../../verifier/roots/aws-nitro-enclaves-root-g1.pem"), "utf8");

  test("the checked-in PEM has the published SHA-256 fingerprint", () => {
    const cert = new X509Certificate(pemFile);
    const sha256 = createHash("sha256").update(cert.raw).digest("hex").toUpperCase().match(/../g)!.join(":");
    expect(sha256).toBe(PUBLISHED_FINGERPRINT);
    expect(cert.fingerprint256).toBe(PUBLISHED_FINGERPRINT);
  });

  test("the embedded copy is the same certificate", () => {
    expect(AWS_NITRO_ROOT_G1_PEM).toBe(pemFile);
    expect(AWS_NITRO_ROOT_G1_SHA256).toBe(PUBLISHED_FINGERPRINT);
    expect(loadPinnedRoot("aws").fingerprint256).toBe(PUBLISHED_FINGERPRINT);
  });

  test("it is the self-signed P-384 root CN=aws.nitro-enclaves, valid to 2049", () => {
    const cert = loadPinnedRoot("aws");
    expect(cert.subject).toContain("CN=aws.nitro-enclaves");
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.ca).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe("secp384r1");
    expect(new Date(cert.validTo).getUTCFullYear()).toBe(2049);
  });
});
