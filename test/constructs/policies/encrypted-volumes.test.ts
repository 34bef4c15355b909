import { EncryptedVolumes } from "../../../constructs/policies";
import { errorsOf, lt } from "./helpers";

describe("EL-EBS-ENCRYPTED", () => {
  test("compliant: encrypted root", () => expect(errorsOf(new EncryptedVolumes(), (s) => lt(s))).toEqual([]));
  test("non-compliant: unencrypted or unmapped root", () => {
    expect(errorsOf(new EncryptedVolumes(), (s) => lt(s, { blockDeviceMappings: [{ deviceName: "/dev/xvda", ebs: { encrypted: "false" } }] }))).toEqual([
      expect.stringMatching(/not encrypted/),
    ]);
    expect(errorsOf(new EncryptedVolumes(), (s) => lt(s, { blockDeviceMappings: [] }))).toHaveLength(1);
  });
});
