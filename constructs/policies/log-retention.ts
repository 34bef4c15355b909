import { Attrs, PolicyRule } from "./rule";

/** Log groups must set a retention (never "keep forever" by omission). */
export class LogRetention extends PolicyRule {
  readonly id = "EL-LOG-RETENTION";
  readonly description = "log groups must set retention_in_days";
  protected readonly resourceTypes = ["aws_cloudwatch_log_group"];
  protected check(attrs: Attrs): string[] {
    const r = attrs["retention_in_days"];
    return typeof r === "number" && r > 0 ? [] : ["retention_in_days must be set to a positive number of days"];
  }
}
