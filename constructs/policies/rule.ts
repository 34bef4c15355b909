/**
 * Base for our own "nag" rules (checkov/cdk-nag cannot run on cdktf here).
 *
 * Each rule is a cdktf Aspect that inspects L1 resources after tokens are resolved and adds an
 * error annotation for every violation. cdktf 0.21's synthesizer (StackSynthesizer.synthesize)
 * throws "Encountered Annotation with level ERROR" when any error annotation exists, so a
 * violation fails `app.synth()` (and therefore `npm run synth` and `cdktf deploy`).
 */
import { Annotations, DefaultTokenResolver, IAspect, StringConcat, TerraformResource, TerraformStack, Tokenization } from "cdktf";
import { IConstruct } from "constructs";

export type Attrs = Record<string, unknown>;

export abstract class PolicyRule implements IAspect {
  /** Short rule ID, e.g. `EL-IMDSV2`. */
  abstract readonly id: string;
  abstract readonly description: string;
  /** Terraform resource types the rule looks at. */
  protected abstract readonly resourceTypes: readonly string[];

  /** Returns violation messages for one resource (empty when compliant). */
  protected abstract check(attrs: Attrs, resource: TerraformResource): string[];

  visit(node: IConstruct): void {
    if (!(node instanceof TerraformResource)) return;
    if (!this.resourceTypes.includes(node.terraformResourceType)) return;
    for (const message of this.check(resolvedAttributes(node), node)) {
      Annotations.of(node).addError(`[${this.id}] ${message} (${this.description})`);
    }
  }
}

/** The resource's Terraform attributes with tokens resolved and overrides applied. */
export function resolvedAttributes(resource: TerraformResource): Attrs {
  const stack = TerraformStack.of(resource);
  const tf = Tokenization.resolve(resource.toTerraform(), {
    scope: stack,
    resolver: new DefaultTokenResolver(new StringConcat()),
    preparing: false,
  }) as { resource?: Record<string, Record<string, Attrs>> };
  const byType = tf.resource?.[resource.terraformResourceType] ?? {};
  return Object.values(byType)[0] ?? {};
}

/** Any value (e.g. construct metadata holding ARNs) with tokens resolved as in the synthesized JSON. */
export function resolvedValue<T>(resource: TerraformResource, value: T): T {
  return Tokenization.resolve(value, { scope: TerraformStack.of(resource), resolver: new DefaultTokenResolver(new StringConcat()), preparing: false }) as T;
}

/** First element of a block list (`[ {...} ]`) or the block itself. */
export function block(v: unknown): Attrs | undefined {
  if (Array.isArray(v)) return (v[0] as Attrs | undefined) ?? undefined;
  if (v !== null && typeof v === "object") return v as Attrs;
  return undefined;
}

export function blocks(v: unknown): Attrs[] {
  if (Array.isArray(v)) return v as Attrs[];
  if (v !== null && typeof v === "object") return [v as Attrs];
  return [];
}

export function isTrue(v: unknown): boolean {
  return v === true || v === "true";
}

export interface IamStatementJson {
  Sid?: string;
  Effect?: string;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** Parses a policy JSON string; returns undefined if it is not (yet) a literal JSON document. */
export function parsePolicy(v: unknown): IamStatementJson[] | undefined {
  if (typeof v !== "string") return undefined;
  try {
    const doc = JSON.parse(v) as { Statement?: IamStatementJson | IamStatementJson[] };
    if (!doc.Statement) return [];
    return Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
  } catch {
    return undefined;
  }
}

export function asList(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/** Collects error annotations of a stack (useful in tests without a full synth). */
export function policyErrors(stack: TerraformStack): string[] {
  return stack.node
    .findAll()
    .flatMap((c) => c.node.metadata)
    .filter((m) => m.type === "@cdktf/error")
    .map((m) => String(m.data));
}
