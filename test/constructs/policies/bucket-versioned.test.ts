import { S3Bucket, S3BucketVersioning } from "../../../constructs/aws";
import { BucketVersioned } from "../../../constructs/policies";
import { errorsOf } from "./helpers";

describe("EL-STATE-BUCKET-VERSIONED", () => {
  test("compliant: versioning Enabled on the bucket", () => {
    expect(
      errorsOf(new BucketVersioned(), (s) => {
        const b = new S3Bucket(s, "state", { bucket: "state-bucket" });
        new S3BucketVersioning(s, "v", { bucket: b.id, versioningConfiguration: { status: "Enabled" } });
      }),
    ).toEqual([]);
  });
  test("non-compliant: no versioning, or Suspended", () => {
    expect(errorsOf(new BucketVersioned(), (s) => new S3Bucket(s, "state", { bucket: "state-bucket" }))).toEqual([
      expect.stringMatching(/EL-STATE-BUCKET-VERSIONED.*state-bucket/),
    ]);
    expect(
      errorsOf(new BucketVersioned(), (s) => {
        const b = new S3Bucket(s, "state", { bucket: "state-bucket" });
        new S3BucketVersioning(s, "v", { bucket: b.id, versioningConfiguration: { status: "Suspended" } });
      }),
    ).toHaveLength(1);
  });
});
