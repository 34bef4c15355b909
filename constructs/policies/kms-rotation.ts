import { Attrs, PolicyRule, isTrue } from "./rule";

/** Customer managed symmetric keys must rotate. */
export class KmsRotation extends PolicyRule {
  readonly id = "EL-KMS-ROTATION";
  readonly description = "KMS keys must have rotation enabled";
  protected readonly resourceTypes = ["aws_kms_key"];
  protected check(attrs: Attrs): string[] {
    const spec = attrs["customer_master_key_spec"];
    if (spec !== undefined && spec !== "SYMMETRIC_DEFAULT") return [];
    return isTrue(attrs["enable_key_rotation"]) ? [] : ["enable_key_rotation must be true"];
  }
}
