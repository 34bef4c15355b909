/**
 * A KMS customer managed key in the style of aws-cdk-lib's aws-kms `Key`: rotation on, a key
 * policy that separates administration from use, and `grant*` helpers that add key-policy
 * statements naming the grantee.
 *
 * Who may do what with a key is written out action by action (never `kms:Create*`/`kms:Put*`, which
 * hide `kms:CreateGrant` — a grant gives its grantee cryptographic use — and `kms:ReEncrypt*`):
 *  - admins (the break-glass administrator, and the administrator who applied the bootstrap) get
 *    KEY_ADMIN_ACTIONS: manage, never use, never grant;
 *  - operators (the deploy role) get a narrow list: KEY_LIFECYCLE_ACTIONS for keys the lane stack
 *    creates and destroys, KEY_POLICY_ACTIONS for a key whose policy it only sets (the seal key).
 * The key policy never names the account root, so IAM policies alone cannot widen use (KMS
 * Developer Guide, "Default key policy": the root statement "allows IAM policies to allow access to
 * the KMS key"; without it, access must be in the key policy.
 * https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
 */
import { Lazy } from "cdktf";
import { Construct } from "constructs";
import { KmsAlias, KmsKey, KmsKeyPolicy } from "./aws";
import { Conditions, Grant, IGrantable, PolicyStatement, renderPolicyDocument, resourceGrant } from "./iam";
import {
  KEY_ADMIN_ACTIONS,
  KEY_DECRYPT_ACTIONS,
  KEY_ENCRYPT_ACTIONS,
  KEY_ENCRYPT_DECRYPT_ACTIONS,
  KEY_LIFECYCLE_ACTIONS,
  KEY_POLICY_ADMINS_METADATA,
  KEY_READ_ACTIONS,
  KEY_ROLE_METADATA,
  KEY_USE_ACTIONS,
} from "./perms";

export interface KeyAccess {
  /** Principals (ARNs) with KEY_ADMIN_ACTIONS: the break-glass admin(s). At least one. */
  readonly admins: readonly string[];
  /** Principals with the narrow operator actions (the deploy role). @default none */
  readonly operators?: readonly string[];
  /** @default KEY_LIFECYCLE_ACTIONS */
  readonly operatorActions?: readonly string[];
  /** Principals that may read the key and its policy (KEY_READ_ACTIONS): the plan role. @default none */
  readonly readers?: readonly string[];
}

export interface KeyProps extends KeyAccess {
  readonly description: string;
  /** Alias without the `alias/` prefix. @default no alias */
  readonly alias?: string;
  /** @default true for symmetric keys (asymmetric keys cannot rotate automatically) */
  readonly enableKeyRotation?: boolean;
  /** @default 30 */
  readonly pendingWindowInDays?: number;
  /** @default "SYMMETRIC_DEFAULT" */
  readonly keySpec?: string;
  /** @default "ENCRYPT_DECRYPT" */
  readonly keyUsage?: "ENCRYPT_DECRYPT" | "SIGN_VERIFY" | "GENERATE_VERIFY_MAC";
  /** @default none */
  readonly tags?: Readonly<Record<string, string>>;
  /**
   * The key is created here with only the admin statements, and its policy is owned afterwards by
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
  /** Principals that may PutKeyPolicy (the only ones who can change this policy). */
  readonly policyAdmins: readonly string[];

  constructor(scope: Construct, id: string, access: KeyAccess) {
    super(scope, id);
    if (access.admins.length === 0) throw new Error(`${this.node.path}: a key needs at least one admin principal (the break-glass administrator)`);
    this.statements.push({ sid: "KeyAdministration", actions: KEY_ADMIN_ACTIONS, principals: { AWS: [...access.admins] }, resources: ["*"] });
    const operators = access.operators ?? [];
    const operatorActions = access.operatorActions ?? KEY_LIFECYCLE_ACTIONS;
    const misplaced = operatorActions.filter((a) => KEY_USE_ACTIONS.includes(a) || !KEY_ADMIN_ACTIONS.includes(a));
    if (misplaced.length > 0) throw new Error(`${this.node.path}: operator actions must be administrative, got ${misplaced.join(", ")}`);
    if (operators.length > 0) this.statements.push({ sid: "KeyOperation", actions: operatorActions, principals: { AWS: [...operators] }, resources: ["*"] });
    if ((access.readers ?? []).length > 0) this.statements.push({ sid: "KeyRead", actions: KEY_READ_ACTIONS, principals: { AWS: [...access.readers!] }, resources: ["*"] });
    this.policyAdmins = [...access.admins, ...(operatorActions.includes("kms:PutKeyPolicy") ? operators : [])];
  }

  /** The policy document, rendered when synthesized (grants may still be added until then). */
  protected renderedPolicy(): string {
    return Lazy.stringValue({ produce: () => renderPolicyDocument(this.statements) });
  }

  /** The key's ARN (a token until synthesis for a key created here). */
  abstract readonly keyArn: string;

  /** Adds a statement to the key policy (its Sid made unique). In a key policy `Resource: "*"` means this key. */
  addToResourcePolicy(statement: PolicyStatement): PolicyStatement {
    const taken = new Set(this.statements.map((s) => s.sid));
    let sid = statement.sid;
    for (let i = 2; sid !== undefined && taken.has(sid); i++) sid = `${statement.sid}${i}`;
    const added = { ...statement, sid, resources: statement.resources ?? ["*"] };
    this.statements.push(added);
    return added;
  }

  /** Grants `actions` on this key to `grantee` in the key policy, optionally under `conditions`. */
  grant(grantee: IGrantable, sid: string, actions: readonly string[], conditions?: Conditions): Grant {
    const principal = grantee.grantPrincipal.principalArn;
    return resourceGrant(principal, this.keyArn, this.addToResourcePolicy({ sid, actions, principals: { AWS: [principal] }, conditions }));
  }

  grantDecrypt(grantee: IGrantable, sid = "Decrypt", conditions?: Conditions): Grant {
    return this.grant(grantee, sid, KEY_DECRYPT_ACTIONS, conditions);
  }

  grantEncrypt(grantee: IGrantable, sid = "Encrypt"): Grant {
    return this.grant(grantee, sid, KEY_ENCRYPT_ACTIONS);
  }

  grantEncryptDecrypt(grantee: IGrantable, sid = "EncryptDecrypt"): Grant {
    return this.grant(grantee, sid, KEY_ENCRYPT_DECRYPT_ACTIONS);
  }

  /** The current key-policy statements (for tests and reviews). */
  get policyStatements(): readonly PolicyStatement[] {
    return [...this.statements];
  }

  /** The rendered policy JSON (for tests that evaluate it). */
  get policyDocument(): string {
    return renderPolicyDocument(this.statements);
  }
}

export class Key extends KeyPolicyGrants {
  /** The L1 key. */
  readonly resource: KmsKey;
  readonly keyArn: string;
  readonly keyId: string;

  constructor(scope: Construct, id: string, props: KeyProps) {
    super(scope, id, props);
    const keySpec = props.keySpec ?? "SYMMETRIC_DEFAULT";
    this.resource = new KmsKey(this, "Resource", {
      description: props.description,
      enableKeyRotation: props.enableKeyRotation ?? keySpec === "SYMMETRIC_DEFAULT",
      deletionWindowInDays: props.pendingWindowInDays ?? 30,
      keyUsage: props.keyUsage ?? "ENCRYPT_DECRYPT",
      customerMasterKeySpec: keySpec,
      policy: this.renderedPolicy(),
      tags: props.tags ? { ...props.tags } : undefined,
      lifecycle: props.policyManagedElsewhere ? { ignoreChanges: ["policy"] } : undefined,
    });
    this.resource.node.addMetadata(KEY_POLICY_ADMINS_METADATA, this.policyAdmins);
    this.keyArn = this.resource.arn;
    this.keyId = this.resource.keyId;
    if (props.alias) new KmsAlias(this, "Alias", { name: `alias/${props.alias}`, targetKeyId: this.resource.keyId });
  }
}

export interface ExistingKeyPolicyProps extends KeyAccess {
  /** ARN of a key created elsewhere (e.g. by `Key` with `policyManagedElsewhere`). */
  readonly keyArn: string;
  /** Marks the policy resource for the policy rules (KEY_ROLE_METADATA), e.g. "seal". */
  readonly role?: string;
  /**
   * Leave the last applied policy on the key when this resource is destroyed. The AWS provider's
   * aws_kms_key_policy otherwise *resets the key to the default key policy* on destroy (which lets
   * every IAM principal of the account use the key); with bypass_policy_lockout_safety_check set,
   * "if this value is set, and the resource is destroyed, a warning will be shown, and the resource
   * will be removed from state" (provider docs, kms_key_policy; resourceKeyPolicyDelete only
   * restores the default policy when the flag is false). The price is that KMS skips its lockout
   * check on PutKeyPolicy: the constructor checks it instead (some admin keeps PutKeyPolicy), and
   * test/iam evaluates it for the synthesized policy. @default true
   */
  readonly keepOnDestroy?: boolean;
}

/**
 * The whole key policy of an existing key (aws_kms_key_policy), assembled from the same grants as
 * `Key`. It replaces the policy the key was created with.
 */
export class ExistingKeyPolicy extends KeyPolicyGrants {
  readonly resource: KmsKeyPolicy;
  readonly keyArn: string;

  constructor(scope: Construct, id: string, props: ExistingKeyPolicyProps) {
    super(scope, id, props);
    if (this.policyAdmins.length === 0) throw new Error(`${this.node.path}: nobody could change this key policy again (no principal keeps kms:PutKeyPolicy)`);
    this.keyArn = props.keyArn;
    this.resource = new KmsKeyPolicy(this, "Resource", {
      keyId: props.keyArn,
      policy: this.renderedPolicy(),
      bypassPolicyLockoutSafetyCheck: props.keepOnDestroy ?? true,
    });
    if (props.role) this.resource.node.addMetadata(KEY_ROLE_METADATA, props.role);
    this.resource.node.addMetadata(KEY_POLICY_ADMINS_METADATA, this.policyAdmins);
  }
}
