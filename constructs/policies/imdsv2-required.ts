import { Attrs, PolicyRule, block } from "./rule";

/** Instances must require IMDSv2 session tokens (http_tokens = "required"). */
export class Imdsv2Required extends PolicyRule {
  readonly id = "EL-IMDSV2";
  readonly description = "instances must require IMDSv2";
  protected readonly resourceTypes = ["aws_launch_template", "aws_instance"];
  protected check(attrs: Attrs): string[] {
    const md = block(attrs["metadata_options"]);
    return md?.["http_tokens"] === "required" ? [] : ['metadata_options.http_tokens must be "required"'];
  }
}
