/**
 * A small, synchronous IAM statement evaluator for the policy rules (Aspects run synchronously
 * during synth, and the full evaluator, @cloud-copilot/iam-simulate, is AGPL and therefore kept to
 * tests: test/iam/ cross-checks these answers against it).
 *
 * It answers one question conservatively: "could this policy allow this request?" — an Allow
 * statement counts when its action, principal and every condition it can evaluate match, and a
 * condition it cannot evaluate (unknown operator) is assumed to match; a Deny counts only when it
 * certainly applies. So a rule that asks "can the host Decrypt without attestation?" never answers
 * "no" when the real evaluation could say "yes".
 *
 * Semantics followed (IAM User Guide, "Condition operators" and "Policy evaluation logic",
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
 * "If the key that you specify in a policy condition is not present in the request context, the
 * values do not match" for positive operators, negated operators then match, `...IfExists` matches
 * when the key is absent, and `Null` tests presence.
 */
import { IamStatementJson, asList } from "./rule";

export type ContextValue = string | readonly string[] | undefined;

export interface EvalRequest {
  /** The calling principal exactly as it is written in policies (ARN or unresolved token). */
  readonly principal: string;
  readonly action: string;
  /** Request context keys (case-insensitive names); absent keys are absent. */
  readonly context?: Readonly<Record<string, ContextValue>>;
}

const glob = (pattern: string, value: string, caseInsensitive = true): boolean => {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
    caseInsensitive ? "i" : "",
  );
  return re.test(value);
};

/** IAM action matching: service prefix and action name are case-insensitive, `*` and `?` wildcards. */
export function actionMatches(pattern: string, action: string): boolean {
  return pattern === "*" || glob(pattern, action);
}

export function statementMatchesAction(s: IamStatementJson, action: string): boolean {
  if (s.NotAction !== undefined) return !asList(s.NotAction).some((p) => actionMatches(p, action));
  return asList(s.Action).some((p) => actionMatches(p, action));
}

/** `arn:aws:iam::123456789012:root`, a bare account id, or a token ending in `:root`. */
export const isAccountPrincipal = (p: string): boolean => /:root$/.test(p) || /^\d{12}$/.test(p) || /:root\}?$/.test(p);

/** AWS principals of a resource-policy statement (`"*"` for everyone). */
export function awsPrincipals(s: IamStatementJson): string[] {
  const p = s.Principal;
  if (p === undefined) return [];
  if (p === "*") return ["*"];
  return asList((p as { AWS?: string | string[] }).AWS);
}

/**
 * Whether the statement's Principal covers `principal`. A statement naming the account (`:root`)
 * delegates to IAM: any identity of the account may then be allowed by its own IAM policy, so it is
 * treated as matching every principal (conservative). Statements without Principal (identity
 * policies) match the principal they are attached to.
 */
export function principalMatches(s: IamStatementJson, principal: string): boolean {
  if (s.Principal === undefined && (s as { NotPrincipal?: unknown }).NotPrincipal === undefined) return true;
  if ((s as { NotPrincipal?: unknown }).NotPrincipal !== undefined) return true;
  const ps = awsPrincipals(s);
  return ps.some((p) => p === "*" || p === principal || isAccountPrincipal(p));
}

type Tri = "yes" | "no" | "unknown";

function lookup(context: Readonly<Record<string, ContextValue>>, key: string): string[] | undefined {
  const k = Object.keys(context).find((c) => c.toLowerCase() === key.toLowerCase());
  const v = k === undefined ? undefined : context[k];
  return v === undefined ? undefined : [...asList(v as string | string[])];
}

function compare(base: string, pattern: string, value: string): Tri {
  switch (base) {
    case "StringEquals":
    case "ArnEquals":
      return base === "ArnEquals" ? (glob(pattern, value, false) ? "yes" : "no") : pattern === value ? "yes" : "no";
    case "StringEqualsIgnoreCase":
      return pattern.toLowerCase() === value.toLowerCase() ? "yes" : "no";
    case "StringLike":
    case "ArnLike":
      return glob(pattern, value, false) ? "yes" : "no";
    case "Bool":
      return String(pattern).toLowerCase() === value.toLowerCase() ? "yes" : "no";
    default:
      return "unknown";
  }
}

const NEGATED: Readonly<Record<string, string>> = {
  StringNotEquals: "StringEquals",
  StringNotEqualsIgnoreCase: "StringEqualsIgnoreCase",
  StringNotLike: "StringLike",
  ArnNotEquals: "ArnEquals",
  ArnNotLike: "ArnLike",
};

/** Evaluates one `operator: {key: values}` block against the context. */
function conditionBlock(operator: string, entries: Record<string, unknown>, context: Readonly<Record<string, ContextValue>>): Tri {
  let op = operator;
  let set: "any" | "all" | undefined;
  if (op.startsWith("ForAnyValue:")) [set, op] = ["any", op.slice("ForAnyValue:".length)];
  else if (op.startsWith("ForAllValues:")) [set, op] = ["all", op.slice("ForAllValues:".length)];
  const ifExists = op.endsWith("IfExists");
  if (ifExists) op = op.slice(0, -"IfExists".length);
  let result: Tri = "yes";
  for (const [key, raw] of Object.entries(entries)) {
    const patterns = asList(raw as string | string[]).map(String);
    const values = lookup(context, key);
    let r: Tri;
    if (op === "Null") {
      r = patterns.some((p) => (p === "true") === (values === undefined)) ? "yes" : "no";
    } else if (values === undefined) {
      r = ifExists || NEGATED[op] !== undefined || set === "all" ? "yes" : "no";
    } else {
      const negated = NEGATED[op] !== undefined;
      const base = NEGATED[op] ?? op;
      const one = (v: string): Tri => {
        const rs = patterns.map((p) => compare(base, p, v));
        if (rs.includes("yes")) return negated ? "no" : "yes";
        if (rs.includes("unknown")) return "unknown";
        return negated ? "yes" : "no";
      };
      const per = values.map(one);
      if (set === "all") r = per.includes("no") ? "no" : per.includes("unknown") ? "unknown" : "yes";
      else r = per.includes("yes") ? "yes" : per.includes("unknown") ? "unknown" : "no";
    }
    if (r === "no") return "no";
    if (r === "unknown") result = "unknown";
  }
  return result;
}

export function conditionsMatch(s: IamStatementJson, context: Readonly<Record<string, ContextValue>>): Tri {
  let result: Tri = "yes";
  for (const [operator, entries] of Object.entries(s.Condition ?? {})) {
    const r = conditionBlock(operator, entries, context);
    if (r === "no") return "no";
    if (r === "unknown") result = "unknown";
  }
  return result;
}

/** Whether `s` applies to `req` ("unknown" when a condition cannot be evaluated here). */
export function statementApplies(s: IamStatementJson, req: EvalRequest): Tri {
  if (!statementMatchesAction(s, req.action) || !principalMatches(s, req.principal)) return "no";
  return conditionsMatch(s, req.context ?? {});
}

/**
 * Could `statements` (one resource policy, Resource assumed to be this resource) allow `req`?
 * Returns the statements that could allow it (empty: it cannot), after certain Denies.
 */
export function couldAllow(statements: readonly IamStatementJson[], req: EvalRequest): IamStatementJson[] {
  const denied = statements.some((s) => s.Effect === "Deny" && statementApplies(s, req) === "yes");
  if (denied) return [];
  return statements.filter((s) => (s.Effect ?? "Allow") === "Allow" && statementApplies(s, req) !== "no");
}
