/**
 * A KMS customer managed key in the style of aws-cdk-lib's aws-kms `Key`: rotation on,
 * a key policy that separates administration from use, and `grant*` helpers that add
 * key-policy statements naming the grantee.
 */
import { Lazy } from "cdktf";
import { Construct } from "constructs";
import { KmsAlias, KmsKey } from "./aws";
import { Conditions, IGrantable, PolicyStatement, renderPolicyDocument } from "./iam";

/** Administrative actions: manage the key, never use it for cryptography. */
export const KEY_ADMIN_ACTIONS: readonly string[] = [
  "kms:Create*",
  "kms:Describe*",
  "kms:Enable*",
  "kms:List*",
  "kms:Put*",
  "kms:Update*",
  "kms:Revoke*",
  "kms:Disable*",
  "kms:Get*",
  "kms:Delete*",
  "kms:TagResource",
  "kms:UntagResource",
  "kms:ScheduleKeyDeletion",
  "kms:CancelKeyDeletion",
  "kms:RotateKeyOnDemand",
];

/** Cryptographic actions; none of them may appear in the admin statement. */
export const KEY_USE_ACTIONS: readonly string[] = [
  "kms:Encrypt",
  "kms:Decrypt",
  "kms:ReEncrypt*",
  "kms:GenerateDataKey*",
  "kms:GenerateRandom",
  "kms:Sign",
  "kms:Verify",
];

export interface KeyProps {
  readonly description: string;
  /** Principals (role ARNs) that administer the key. They get no cryptographic use. */
  readonly admins: readonly string[];
  /** Alias without the `alias/` prefix. @default no alias */
  readonly alias?: string;
  /** @default true */
  readonly enableKeyRotation?: boolean;
  /** @default 30 */
  readonly pendingWindowInDays?: number;
  /** @default none */
  readonly tags?: Readonly<Record<string, string>>;
}

export class Key extends Construct {
  /** The L1 key. */
  readonly resource: KmsKey;
  readonly keyArn: string;
  readonly keyId: string;
  private readonly statements: PolicyStatement[] = [];

  constructor(scope: Construct, id: string, props: KeyProps) {
    super(scope, id);
    if (props.admins.length === 0) throw new Error(`${this.node.path}: a key needs at least one admin principal`);
    this.statements.push({
      sid: "KeyAdministration",
      actions: KEY_ADMIN_ACTIONS,
      principals: { AWS: props.admins },
      resources: ["*"],
    });
    this.resource = new KmsKey(this, "Resource", {
      description: props.description,
      enableKeyRotation: props.enableKeyRotation ?? true,
      deletionWindowInDays: props.pendingWindowInDays ?? 30,
      keyUsage: "ENCRYPT_DECRYPT",
      customerMasterKeySpec: "SYMMETRIC_DEFAULT",
      policy: Lazy.stringValue({ produce: () => renderPolicyDocument(this.statements) }),
      tags: props.tags ? { ...props.tags } : undefined,
    });
    this.keyArn = this.resource.arn;
    this.keyId = this.resource.keyId;
    if (props.alias) new KmsAlias(this, "Alias", { name: `alias/${props.alias}`, targetKeyId: this.resource.keyId });
  }

  /** Adds a statement to the key policy. In a key policy `Resource: "*"` means this key. */
  addToResourcePolicy(statement: PolicyStatement): void {
    this.statements.push({ ...statement, resources: statement.resources ?? ["*"] });
  }

  /** Grants `actions` on this key to `grantee`, optionally under `conditions`. */
  grant(grantee: IGrantable, sid: string, actions: readonly string[], conditions?: Conditions): void {
    this.addToResourcePolicy({ sid, actions, principals: { AWS: [grantee.grantPrincipal.principalArn] }, conditions });
  }

  grantDecrypt(grantee: IGrantable, sid = "Decrypt", conditions?: Conditions): void {
    this.grant(grantee, sid, ["kms:Decrypt"], conditions);
  }

  grantEncrypt(grantee: IGrantable, sid = "Encrypt"): void {
    this.grant(grantee, sid, ["kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]);
  }

  grantEncryptDecrypt(grantee: IGrantable, sid = "EncryptDecrypt"): void {
    this.grant(grantee, sid, ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]);
  }

  /** The current key-policy statements (for tests and reviews). */
  get policyStatements(): readonly PolicyStatement[] {
    return [...this.statements];
  }
}
