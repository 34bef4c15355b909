import { Annotations, IAspect, TerraformResource, TerraformStack } from "cdktf";
import { IConstruct } from "constructs";
import { block, resolvedAttributes } from "./rule";

/**
 * Every general purpose S3 bucket (the Terraform state bucket, the artifact bucket) must have an
 * aws_s3_bucket_versioning resource with status "Enabled" pointing at it.
 * Cross-resource, so it runs once per stack rather than per resource.
 */
export class BucketVersioned implements IAspect {
  readonly id = "EL-STATE-BUCKET-VERSIONED";
  readonly description = "state and artifact buckets must be versioned";

  visit(node: IConstruct): void {
    if (!(node instanceof TerraformStack)) return;
    const resources = node.node.findAll().filter((c): c is TerraformResource => c instanceof TerraformResource);
    const enabledTargets = resources
      .filter((r) => r.terraformResourceType === "aws_s3_bucket_versioning")
      .map((r) => resolvedAttributes(r))
      .filter((a) => block(a["versioning_configuration"])?.["status"] === "Enabled")
      .map((a) => String(a["bucket"]));
    for (const bucket of resources.filter((r) => r.terraformResourceType === "aws_s3_bucket")) {
      const ref = `aws_s3_bucket.${bucket.friendlyUniqueId}.`;
      const name = resolvedAttributes(bucket)["bucket"];
      const versioned = enabledTargets.some((t) => t.includes(ref) || (typeof name === "string" && t === name));
      if (!versioned) {
        Annotations.of(bucket).addError(`[${this.id}] bucket ${String(name)} has no aws_s3_bucket_versioning with status Enabled (${this.description})`);
      }
    }
  }
}
