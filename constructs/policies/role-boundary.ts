import { TerraformResource } from "cdktf";
import { Attrs, PolicyRule } from "./rule";
import { PolicySuppressions } from "./suppressions";

/**
 * Every IAM role carries a permissions boundary (the lane's roles get the bootstrap's boundary via
 * `PermissionsBoundary.of(stack).apply`), so the deploy role cannot create a role more powerful than
 * the boundary. A role created by the administrator (the deploy role) is suppressed on its construct.
 */
export class RolePermissionsBoundary extends PolicyRule {
  readonly id = "EL-IAM-ROLE-BOUNDARY";
  readonly description = "IAM roles must have a permissions boundary";
  protected readonly resourceTypes = ["aws_iam_role"];
  protected check(attrs: Attrs, resource: TerraformResource): string[] {
    const b = attrs["permissions_boundary"];
    if (typeof b === "string" && b.length > 0) return [];
    return PolicySuppressions.of(resource, this.id).length > 0 ? [] : [`role ${String(attrs["name"] ?? resource.node.id)} has no permissions_boundary`];
  }
}
