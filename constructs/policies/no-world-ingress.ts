import { TerraformResource } from "cdktf";
import { Attrs, PolicyRule, asList, blocks } from "./rule";

const WORLD = ["0.0.0.0/0", "::/0"];

/** Security groups must not accept traffic from 0.0.0.0/0 or ::/0. */
export class NoWorldIngress extends PolicyRule {
  readonly id = "EL-SG-NO-WORLD-INGRESS";
  readonly description = "no 0.0.0.0/0 or ::/0 ingress in security groups";
  protected readonly resourceTypes = ["aws_security_group", "aws_security_group_rule", "aws_vpc_security_group_ingress_rule"];
  protected check(attrs: Attrs, resource: TerraformResource): string[] {
    const world = (cidrs: unknown[]) => cidrs.filter((c): c is string => typeof c === "string" && WORLD.includes(c));
    switch (resource.terraformResourceType) {
      case "aws_security_group":
        return blocks(attrs["ingress"]).flatMap((r) =>
          world([...asList(r["cidr_blocks"] as string[] | undefined), ...asList(r["ipv6_cidr_blocks"] as string[] | undefined)]).map((c) => `inline ingress from ${c}`),
        );
      case "aws_security_group_rule":
        if (attrs["type"] !== "ingress") return [];
        return world([...asList(attrs["cidr_blocks"] as string[] | undefined), ...asList(attrs["ipv6_cidr_blocks"] as string[] | undefined)]).map((c) => `ingress from ${c}`);
      default:
        return world([attrs["cidr_ipv4"], attrs["cidr_ipv6"]]).map((c) => `ingress from ${c}`);
    }
  }
}
