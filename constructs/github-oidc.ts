/**
 * GitHub Actions OIDC federation: the identity provider and a deploy role that only workflow
 * jobs of one repository running in one named environment can assume. No long-lived keys.
 */
import { Construct } from "constructs";
import { IamOpenidConnectProvider } from "./aws";
import { PolicyStatement, Role } from "./iam";

export const GITHUB_OIDC_HOST = "token.actions.githubusercontent.com";

export interface GithubOidcProps {
  /** `owner/name` */
  readonly repository: string;
  /** GitHub environment whose jobs may assume the role (e.g. `production`). */
  readonly environment: string;
  readonly roleName: string;
  /** @default 3600 */
  readonly maxSessionDuration?: number;
}

export class GithubOidc extends Construct {
  /** The L1 OIDC provider. */
  readonly resource: IamOpenidConnectProvider;
  readonly providerArn: string;
  readonly deployRole: Role;
  /** `repo:{owner/name}:environment:{environment}` */
  readonly subject: string;

  constructor(scope: Construct, id: string, props: GithubOidcProps) {
    super(scope, id);
    this.resource = new IamOpenidConnectProvider(this, "Resource", {
      url: `https://${GITHUB_OIDC_HOST}`,
      clientIdList: ["sts.amazonaws.com"],
    });
    this.providerArn = this.resource.arn;
    this.subject = `repo:${props.repository}:environment:${props.environment}`;
    const trust: PolicyStatement = {
      sid: "GithubEnvironmentOnly",
      actions: ["sts:AssumeRoleWithWebIdentity"],
      principals: { Federated: [this.providerArn] },
      conditions: {
        StringEquals: {
          [`${GITHUB_OIDC_HOST}:aud`]: "sts.amazonaws.com",
          [`${GITHUB_OIDC_HOST}:sub`]: this.subject,
        },
      },
    };
    this.deployRole = new Role(this, "DeployRole", {
      roleName: props.roleName,
      description: `Deploys Express Lane from ${props.repository} (environment ${props.environment})`,
      assumedBy: [trust],
      maxSessionDuration: props.maxSessionDuration ?? 3600,
    });
  }
}
