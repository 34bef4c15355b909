/**
 * A KMS customer managed key in the style of aws-cdk-lib's aws-kms `Key`: rotation on,
 * a key policy that separates administration from use, and `grant*` helpers that add
 * key-policy statements naming the grantee.
 */
import { Lazy } from "cdktf";
import { Construct } from "constructs";
import { KmsAlias, KmsKey, KmsKeyPolicy } from "./aws";
import { Conditions, IGrantable, PolicyStatement, renderPolicyDocument } from "./iam";
import { KEY_ROLE_METADATA } from "./policies/seal-key-attestation";

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
  /**
   * The key is created here with only the admin statement, and its policy is owned afterwards by
   * an `ExistingKeyPolicy` in a later stack (Terraform ignores policy drift on this resource). Used
   * for the seal key: it must exist before the EIF build pins its ARN, while its attested grant
   * needs the PCR0 of that build. @default false
   */
  readonly policyManagedElsewhere?: boolean;
}


/**
 * A key policy assembled from grants: shared by `Key` (policy inline on the key) and
 * `ExistingKeyPolicy` (aws_kms_key_policy on a key created elsewhere), so both grant alike.
 */
abstract class KeyPolicyGrants extends Construct {
  protected readonly statements: PolicyStatement[] = [];

  constructor(scope: Construct, id: string, admins: readonly string[]) {
    super(scope, id);
    if (admins.length === 0) throw new Error(`${this.node.path}: a key needs at least one admin principal`);
    this.statements.push({ sid: "KeyAdministration", actions: KEY_ADMIN_ACTIONS, principals: { AWS: admins }, resources: ["*"] });
  }

  /** The policy document, rendered when synthesized (grants may still be added until then). */
  protected renderedPolicy(): string {
    return Lazy.stringValue({ produce: () => renderPolicyDocument(this.statements) });
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

export class Key extends KeyPolicyGrants {
  /** The L1 key. */
  readonly resource: KmsKey;
  readonly keyArn: string;
  readonly keyId: string;

  constructor(scope: Construct, id: string, props: KeyProps) {
    super(scope, id, props.admins);
    this.resource = new KmsKey(this, "Resource", {
      description: props.description,
      enableKeyRotation: props.enableKeyRotation ?? true,
      deletionWindowInDays: props.pendingWindowInDays ?? 30,
      keyUsage: "ENCRYPT_DECRYPT",
      customerMasterKeySpec: "SYMMETRIC_DEFAULT",
      policy: this.renderedPolicy(),
      tags: props.tags ? { ...props.tags } : undefined,
      lifecycle: props.policyManagedElsewhere ? { ignoreChanges: ["policy"] } : undefined,
    });
    this.keyArn = this.resource.arn;
    this.keyId = this.resource.keyId;
    if (props.alias) new KmsAlias(this, "Alias", { name: `alias/${props.alias}`, targetKeyId: this.resource.keyId });
  }

}

export interface ExistingKeyPolicyProps {
  /** ARN of a key created elsewhere (e.g. by `Key` with `policyManagedElsewhere`). */
  readonly keyArn: string;
  /** Key administrators, as in `Key`; the new policy must keep them (KMS lockout check). */
  readonly admins: readonly string[];
  /** Marks the policy resource for the policy rules (KEY_ROLE_METADATA), e.g. "seal". */
  readonly role?: string;
}

/**
 * The whole key policy of an existing key (aws_kms_key_policy), assembled from the same grants as
 * `Key`. It replaces the policy the key was created with.
 */
export class ExistingKeyPolicy extends KeyPolicyGrants {
  readonly resource: KmsKeyPolicy;
  readonly keyArn: string;

  constructor(scope: Construct, id: string, props: ExistingKeyPolicyProps) {
    super(scope, id, props.admins);
    this.keyArn = props.keyArn;
    this.resource = new KmsKeyPolicy(this, "Resource", { keyId: props.keyArn, policy: this.renderedPolicy() });
    if (props.role) this.resource.node.addMetadata(KEY_ROLE_METADATA, props.role);
  }
}
