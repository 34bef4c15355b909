import { KmsKey } from "../../../constructs/aws";
import { KmsRotation } from "../../../constructs/policies";
import { errorsOf } from "./helpers";

describe("EL-KMS-ROTATION", () => {
  test("compliant: rotation on", () => expect(errorsOf(new KmsRotation(), (s) => new KmsKey(s, "k", { enableKeyRotation: true }))).toEqual([]));
  test("non-compliant: rotation off or unset", () => {
    expect(errorsOf(new KmsRotation(), (s) => new KmsKey(s, "k", { enableKeyRotation: false }))).toHaveLength(1);
    expect(errorsOf(new KmsRotation(), (s) => new KmsKey(s, "k", {}))).toHaveLength(1);
  });
  test("asymmetric keys (which KMS cannot rotate) are exempt; an explicit SYMMETRIC_DEFAULT is not", () => {
    expect(errorsOf(new KmsRotation(), (s) => new KmsKey(s, "k", { customerMasterKeySpec: "ECC_NIST_EDWARDS25519", keyUsage: "SIGN_VERIFY" }))).toEqual([]);
    expect(errorsOf(new KmsRotation(), (s) => new KmsKey(s, "k", { customerMasterKeySpec: "SYMMETRIC_DEFAULT" }))).toHaveLength(1);
  });
});
