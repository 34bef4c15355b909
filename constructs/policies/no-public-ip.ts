import { TerraformResource } from "cdktf";
import { Attrs, PolicyRule, blocks, isTrue } from "./rule";

/**
 * No public IPs and no path to the internet: launch templates/instances must not associate
 * public addresses, subnets must not map them on launch, and internet/NAT gateways and elastic
 * IPs are not allowed in the lane.
 */
export class NoPublicIp extends PolicyRule {
  readonly id = "EL-NO-PUBLIC-IP";
  readonly description = "no public IPs, internet gateways or NAT gateways";
  protected readonly resourceTypes = [
    "aws_launch_template",
    "aws_instance",
    "aws_subnet",
    "aws_internet_gateway",
    "aws_nat_gateway",
    "aws_eip",
    "aws_egress_only_internet_gateway",
  ];
  protected check(attrs: Attrs, resource: TerraformResource): string[] {
    switch (resource.terraformResourceType) {
      case "aws_launch_template": {
        const nics = blocks(attrs["network_interfaces"]);
        if (nics.length === 0) return ["launch template must declare network_interfaces with associate_public_ip_address = false"];
        return nics.some((n) => n["associate_public_ip_address"] !== "false" && n["associate_public_ip_address"] !== false)
          ? ["network_interfaces.associate_public_ip_address must be false"]
          : [];
      }
      case "aws_instance":
        return isTrue(attrs["associate_public_ip_address"]) ? ["associate_public_ip_address must not be true"] : [];
      case "aws_subnet":
        return isTrue(attrs["map_public_ip_on_launch"]) ? ["map_public_ip_on_launch must not be true"] : [];
      default:
        return [`${resource.terraformResourceType} is not allowed (the lane has no internet path)`];
    }
  }
}
