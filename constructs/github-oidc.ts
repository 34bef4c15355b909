/**
 * GitHub Actions OIDC federation: the identity provider (or the account's existing one) and a
 * deploy role that only named workflows of one repository, run from its default branch in one
 * named environment, can assume. No long-lived keys.
 *
 * Subjects. GitHub's default `sub` is `repo:OWNER/REPO:environment:NAME` for jobs that reference an
 * environment; repositories on the immutable subject format (created or renamed on or after
 * 2026-07-15, or opted in) get `repo:OWNER@OWNER_ID/REPO@REPO_ID:environment:NAME` ("The immutable
 * ID is appended to each name with an @ delimiter", GitHub Docs, OpenID Connect, "Immutable subject
 * claims"). The trust accepts either or both (`subjectFormats`).
 *
 * Ref and workflow. AWS STS evaluates the GitHub token's `sub` and `aud` as condition keys
 * (`token.actions.githubusercontent.com:sub`; IAM User Guide, "Available keys for OIDC federation"),
 * so the branch and the workflow are pinned *inside* `sub`: with `restrictToWorkflows` the
 * repository's subject template must include `job_workflow_ref` (GitHub REST: PUT
 * /repos/{owner}/{repo}/actions/oidc/customization/sub with
 * {"use_default": false, "include_claim_keys": ["repo", "context", "job_workflow_ref"]}), which
 * yields `repo:OWNER/REPO:environment:NAME:job_workflow_ref:OWNER/REPO/.github/workflows/FILE@refs/heads/BRANCH`
 * (GitHub Docs, "Customizing the subject claims for an organization or repository"). A workflow
 * file on another branch, or another workflow, then gets a `sub` the trust does not list.
 */
import { Construct } from "constructs";
import { DataAwsCallerIdentity, IamOpenidConnectProvider } from "./aws";
import { PolicyStatement, Role } from "./iam";

export const GITHUB_OIDC_HOST = "token.actions.githubusercontent.com";

export type GithubSubjectFormat = "classic" | "immutable";

export interface GithubOidcProps {
  /** `owner/name` */
  readonly repository: string;
  /** Numeric ids for the immutable subject format (`owner@ownerId/name@repositoryId`). @default none */
  readonly repositoryIds?: { readonly ownerId: string; readonly repositoryId: string };
  /** Subject formats the trust accepts. @default ["classic"], plus "immutable" when repositoryIds are given */
  readonly subjectFormats?: readonly GithubSubjectFormat[];
  /** GitHub environment whose jobs may assume the role (e.g. `production`). */
  readonly environment: string;
  /**
   * Workflow files (under .github/workflows/) that may assume the role, each only from
   * `defaultBranch`. Requires the subject template described above. @default any workflow (subject
   * without job_workflow_ref)
   */
  readonly restrictToWorkflows?: readonly string[];
  /** @default "main" */
  readonly defaultBranch?: string;
  /**
   * Use the account's existing GitHub OIDC provider (one per issuer URL per account) instead of
   * creating one. @default false: create it
   */
  readonly useExistingProvider?: boolean;
  readonly roleName: string;
  /** @default 3600 */
  readonly maxSessionDuration?: number;
  /**
   * A second, read-only role for the workflows' plan jobs, trusted for its own environment (e.g.
   * `production-plan`) with the same workflows, branch and subject formats. @default none
   */
  readonly planRole?: { readonly roleName: string; readonly environment: string };
}

/** Every `sub` value the trust accepts, in a stable order. */
export function githubSubjects(
  props: Pick<GithubOidcProps, "repository" | "repositoryIds" | "subjectFormats" | "environment" | "restrictToWorkflows" | "defaultBranch">,
): string[] {
  const formats = props.subjectFormats ?? (props.repositoryIds ? ["classic", "immutable"] : ["classic"]);
  const [owner, name] = props.repository.split("/");
  const repos = formats.map((f) => {
    if (f === "classic") return props.repository;
    if (!props.repositoryIds) throw new Error("GithubOidc: the immutable subject format needs repositoryIds (owner and repository ids)");
    return `${owner}@${props.repositoryIds.ownerId}/${name}@${props.repositoryIds.repositoryId}`;
  });
  const branch = props.defaultBranch ?? "main";
  return repos.flatMap((repo) => {
    const base = `repo:${repo}:environment:${props.environment}`;
    if (props.restrictToWorkflows === undefined) return [base];
    // job_workflow_ref names the workflow by its own repository path (owner/name, never ids).
    return props.restrictToWorkflows.map((w) => `${base}:job_workflow_ref:${props.repository}/.github/workflows/${w}@refs/heads/${branch}`);
  });
}

export class GithubOidc extends Construct {
  /** The L1 OIDC provider, when this construct creates it. */
  readonly resource?: IamOpenidConnectProvider;
  readonly providerArn: string;
  readonly deployRole: Role;
  /** Every `sub` the deploy role trusts. */
  readonly subjects: readonly string[];
  /** The read-only plan role, when `planRole` is given. */
  readonly planRole?: Role;
  readonly planSubjects?: readonly string[];

  constructor(scope: Construct, id: string, props: GithubOidcProps) {
    super(scope, id);
    if (props.useExistingProvider) {
      const account = new DataAwsCallerIdentity(this, "Account");
      this.providerArn = `arn:aws:iam::${account.accountId}:oidc-provider/${GITHUB_OIDC_HOST}`;
    } else {
      this.resource = new IamOpenidConnectProvider(this, "Resource", { url: `https://${GITHUB_OIDC_HOST}`, clientIdList: ["sts.amazonaws.com"] });
      this.providerArn = this.resource.arn;
    }
    this.subjects = githubSubjects(props);
    const trust = (subjects: readonly string[]): PolicyStatement => ({
      sid: "GithubWorkflowsOnly",
      actions: ["sts:AssumeRoleWithWebIdentity"],
      principals: { Federated: [this.providerArn] },
      conditions: {
        StringEquals: {
          [`${GITHUB_OIDC_HOST}:aud`]: "sts.amazonaws.com",
          [`${GITHUB_OIDC_HOST}:sub`]: subjects.length === 1 ? subjects[0] : [...subjects],
        },
      },
    });
    this.deployRole = new Role(this, "DeployRole", {
      roleName: props.roleName,
      description: `Deploys Express Lane from ${props.repository} (environment ${props.environment})`,
      assumedBy: [trust(this.subjects)],
      maxSessionDuration: props.maxSessionDuration ?? 3600,
    });
    if (props.planRole) {
      this.planSubjects = githubSubjects({ ...props, environment: props.planRole.environment });
      this.planRole = new Role(this, "PlanRole", {
        roleName: props.planRole.roleName,
        description: `Read-only plans of Express Lane from ${props.repository} (environment ${props.planRole.environment})`,
        assumedBy: [trust(this.planSubjects)],
        maxSessionDuration: props.maxSessionDuration ?? 3600,
      });
    }
  }
}
