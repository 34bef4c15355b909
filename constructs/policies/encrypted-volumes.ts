import { TerraformResource } from "cdktf";
import { Attrs, PolicyRule, block, blocks, isTrue } from "./rule";

/** EBS volumes (launch template mappings, instances, standalone volumes) must be encrypted. */
export class EncryptedVolumes extends PolicyRule {
  readonly id = "EL-EBS-ENCRYPTED";
  readonly description = "EBS volumes must be encrypted";
  protected readonly resourceTypes = ["aws_launch_template", "aws_instance", "aws_ebs_volume"];
  protected check(attrs: Attrs, resource: TerraformResource): string[] {
    switch (resource.terraformResourceType) {
      case "aws_launch_template": {
        const mappings = blocks(attrs["block_device_mappings"]);
        if (mappings.length === 0) return ["launch template must map the root volume with ebs.encrypted = true"];
        return mappings.filter((m) => !isTrue(block(m["ebs"])?.["encrypted"])).map((m) => `block device ${String(m["device_name"])} is not encrypted`);
      }
      case "aws_instance":
        return isTrue(block(attrs["root_block_device"])?.["encrypted"]) ? [] : ["root_block_device.encrypted must be true"];
      default:
        return isTrue(attrs["encrypted"]) ? [] : ["encrypted must be true"];
    }
  }
}
