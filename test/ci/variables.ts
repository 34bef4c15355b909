/**
 * Every GitHub Actions variable the workflows read, and where it must be defined.
 *
 * GitHub makes an environment's variables visible only to jobs that reference that environment
 * ("environment variables reach only jobs that reference the environment"); repository variables
 * reach every job and the workflow-level keys (concurrency). test/ci/workflows.test.ts checks each
 * `vars.X` a job reads against this table, and docs/deploy.md lists the same table for operators.
 *
 * One lane = two GitHub environments:
 *   lane  `<env>`       protected: required reviewers, default branch only. Holds only the role a
 *                        deploy assumes; the deploy role's OIDC trust names this environment.
 *   plan  `<env>-plan`  default branch only, no reviewers. Holds the lane's configuration and the
 *                        read-only plan role, so the build and the plan run before the approval.
 */
export type VariableScope = "repository" | "plan" | "lane";

export interface WorkflowVariable {
  readonly scope: VariableScope;
  /** The workflows stop with a message naming it when it is empty. */
  readonly required: boolean;
  readonly meaning: string;
}

export const WORKFLOW_VARIABLES: Readonly<Record<string, WorkflowVariable>> = {
  EXPRESS_LANE_MAIN_ENVIRONMENT: { scope: "repository", required: false, meaning: "the lane environment a push to main deploys (default production)" },
  AWS_PLAN_ROLE_ARN: { scope: "plan", required: true, meaning: "read-only plan role (bootstrap output), trusted for environment:<env>-plan" },
  EXPRESS_LANE_NAME: { scope: "plan", required: true, meaning: "lane name: part of every resource name, the state key and the default bucket base name" },
  EXPRESS_LANE_REGION: { scope: "plan", required: true, meaning: "AWS region of the lane" },
  EXPRESS_LANE_AZ_ID: { scope: "plan", required: false, meaning: "AZ ID of the directory bucket and hosts" },
  EXPRESS_LANE_BUCKET_BASE: { scope: "plan", required: false, meaning: "directory bucket base name (default derived from account id and lane name)" },
  EXPRESS_LANE_STATE_BUCKET: { scope: "plan", required: true, meaning: "Terraform state bucket (bootstrap output)" },
  EXPRESS_LANE_ARTIFACT_BUCKET: { scope: "plan", required: true, meaning: "release artifact bucket (bootstrap output)" },
  EXPRESS_LANE_CLIENT_CIDRS: { scope: "plan", required: false, meaning: "client networks allowed to reach the NLB" },
  EXPRESS_LANE_HOST_COUNT: { scope: "plan", required: false, meaning: "number of enclave hosts" },
  EXPRESS_LANE_INSTANCE_TYPE: { scope: "plan", required: false, meaning: "host instance type (default c7g.large)" },
  EXPRESS_LANE_ENCLAVE_CPU_COUNT: { scope: "plan", required: false, meaning: "enclave vCPUs (default 1; ≤ the instance's vCPUs − 1)" },
  EXPRESS_LANE_SEAL_KEY_ARN: { scope: "plan", required: true, meaning: "seal KMS key ARN (bootstrap output seal_key_arn), baked into the EIF" },
  EXPRESS_LANE_ADMIN_KEYS: {
    scope: "plan",
    required: true,
    meaning: "admin public keys that sign key directories, JSON [{kid, publicKey}] (express-lane admin-key public), baked into the EIF",
  },
  EXPRESS_LANE_DIRECTORY_BUCKET: { scope: "plan", required: false, meaning: "lane output directory_bucket, for bench.yml's direct-GET baseline and seeding" },
  AWS_DEPLOY_ROLE_ARN: { scope: "lane", required: true, meaning: "deploy role (bootstrap output deploy_role_arn), trusted for environment:<env>" },
  EXPRESS_LANE_WRITER_ROLE_ARN: { scope: "lane", required: false, meaning: "lane output writer_role_arn, for bench.yml's seeding" },
};

/** Secrets the workflows may read: none (OIDC, no stored keys). */
export const WORKFLOW_SECRETS: readonly string[] = [];
