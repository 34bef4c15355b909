/**
 * The lane's permissions vocabulary, defined once (the role of aws-cdk-lib's `aws-kms/lib/perms.ts`):
 * the action sets grants hand out, the condition keys and values they compare, the tags and
 * construct metadata the policy rules (constructs/policies/) read. Constructs and rules both import
 * from here; neither defines these strings itself, and constructs never import a rule.
 *
 * wire/ holds the runtime side of the two encryption-context purposes (wire/seal-keys.ts,
 * wire/lane-key.ts); constructs may not import wire/ (test/architecture/boundaries.test.ts), so
 * test/constructs/perms.test.ts checks that both spell them alike.
 */

// ---------------------------------------------------------------------------------------------
// KMS actions

/**
 * Full administration without cryptographic use and without kms:CreateGrant (KMS Developer Guide,
 * "Allows key administrators to administer the KMS key" lists these; CreateGrant is left out because
 * "a grant ... allows the grantee principal to use the KMS key in cryptographic operations",
 * https://docs.aws.amazon.com/kms/latest/developerguide/grants.html).
 */
export const KEY_ADMIN_ACTIONS: readonly string[] = [
  "kms:DescribeKey",
  "kms:GetKeyPolicy",
  "kms:GetKeyRotationStatus",
  "kms:GetPublicKey",
  "kms:ListGrants",
  "kms:ListKeyPolicies",
  "kms:ListKeyRotations",
  "kms:ListResourceTags",
  "kms:PutKeyPolicy",
  "kms:EnableKey",
  "kms:DisableKey",
  "kms:EnableKeyRotation",
  "kms:DisableKeyRotation",
  "kms:RotateKeyOnDemand",
  "kms:UpdateKeyDescription",
  "kms:TagResource",
  "kms:UntagResource",
  "kms:CreateAlias",
  "kms:UpdateAlias",
  "kms:DeleteAlias",
  "kms:RevokeGrant",
  "kms:ScheduleKeyDeletion",
  "kms:CancelKeyDeletion",
];

/**
 * What Terraform needs to read and set a key policy it owns on a key created elsewhere: the
 * provider reads the key (DescribeKey, GetKeyPolicy) and writes the policy (PutKeyPolicy).
 */
export const KEY_POLICY_ACTIONS: readonly string[] = ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"];

/**
 * What Terraform needs to create, update and destroy a key and its alias (aws_kms_key: CreateKey is
 * an IAM permission; reads DescribeKey/GetKeyPolicy/GetKeyRotationStatus/ListResourceTags; writes
 * PutKeyPolicy/EnableKeyRotation/TagResource/UntagResource/UpdateKeyDescription; destroy
 * ScheduleKeyDeletion; aws_kms_alias CreateAlias/UpdateAlias/DeleteAlias need permission on the key
 * too — KMS Developer Guide, "Controlling access to aliases").
 */
export const KEY_LIFECYCLE_ACTIONS: readonly string[] = [
  ...KEY_POLICY_ACTIONS,
  "kms:ListKeyRotations",
  "kms:EnableKeyRotation",
  "kms:TagResource",
  "kms:UntagResource",
  "kms:UpdateKeyDescription",
  "kms:CreateAlias",
  "kms:UpdateAlias",
  "kms:DeleteAlias",
  "kms:ScheduleKeyDeletion",
];

/** Read-only access to a key's metadata and policy (the plan role's `terraform plan` refresh). */
export const KEY_READ_ACTIONS: readonly string[] = ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags", "kms:ListKeyRotations"];

/** Cryptographic actions (and grants); none may appear in an admin or operator statement. */
export const KEY_USE_ACTIONS: readonly string[] = [
  "kms:Encrypt",
  "kms:Decrypt",
  "kms:ReEncryptFrom",
  "kms:ReEncryptTo",
  "kms:GenerateDataKey",
  "kms:GenerateDataKeyWithoutPlaintext",
  "kms:GenerateDataKeyPair",
  "kms:GenerateDataKeyPairWithoutPlaintext",
  "kms:GenerateMac",
  "kms:VerifyMac",
  "kms:Sign",
  "kms:Verify",
  "kms:CreateGrant",
];

export const KEY_DECRYPT_ACTIONS: readonly string[] = ["kms:Decrypt"];
export const KEY_ENCRYPT_ACTIONS: readonly string[] = ["kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"];
export const KEY_ENCRYPT_DECRYPT_ACTIONS: readonly string[] = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"];
/** What S3 Express needs on a bucket's SSE-KMS key for sessions that read or write (constructs/directory-bucket.ts). */
export const BUCKET_KEY_ACTIONS: readonly string[] = ["kms:GenerateDataKey", "kms:Decrypt"];

// ---------------------------------------------------------------------------------------------
// Condition keys and the values the lane compares them with

/** The KMS condition key carrying the attested enclave image hash (PCR0). */
export const ATTESTATION_PCR0_CONDITION_KEY = "kms:RecipientAttestation:ImageSha384";
/** Encryption context every writer key is generated under (wire/seal-keys.ts SEAL_KEY_PURPOSE). */
export const SEAL_PURPOSE_CONDITION_KEY = "kms:EncryptionContext:purpose";
export const SEAL_WRITER_CONDITION_KEY = "kms:EncryptionContext:writer";
export const LANE_CONDITION_KEY = "kms:EncryptionContext:lane";
export const DATA_KEY_PAIR_SPEC_CONDITION_KEY = "kms:DataKeyPairSpec";
/** CloudWatch PutMetricData's namespace (PutMetricData has no resource-level permissions). */
export const METRIC_NAMESPACE_CONDITION_KEY = "cloudwatch:namespace";
/** SSM SendCommand's target-instance tag condition, `ssm:resourceTag/{tag}`. */
export const SSM_RESOURCE_TAG_CONDITION_PREFIX = "ssm:resourceTag/";
/** S3 Express CreateSession's session mode ("ReadOnly" | "ReadWrite"). */
export const SESSION_MODE_CONDITION_KEY = "s3express:SessionMode";

/** The `purpose` of a writer key's encryption context (wire/seal-keys.ts). */
export const SEAL_PURPOSE = "express-lane-seal";
/**
 * The `purpose` of the lane signing key's encryption context (wire/lane-key.ts LANE_KEY_PURPOSE):
 * an admin generates it with GenerateDataKeyPairWithoutPlaintext under the seal key, context
 * {purpose, lane, kid, not_before, not_after}; only attested enclaves decrypt it.
 */
export const LANE_KEY_PURPOSE = "express-lane-lane-key";
/** The lane signing key's one key pair spec (wire/lane-key.ts: Ed25519). */
export const LANE_KEY_PAIR_SPEC = "ECC_NIST_EDWARDS25519";

// ---------------------------------------------------------------------------------------------
// Tags and construct metadata (what the policy rules read)

/** Tag every lane resource carries (provider default tags): the lane name. */
export const LANE_TAG = "ExpressLaneLane";
/** Tag that marks a KMS key's role in the lane: "seal", "bucket", "signing". */
export const KEY_ROLE_TAG = "ExpressLaneKeyRole";
/** Construct metadata on an aws_kms_key_policy naming its key's role (constructs/key.ts). */
export const KEY_ROLE_METADATA = "express-lane:key-role";
/** Construct metadata on a key / key policy listing the principals meant to hold kms:PutKeyPolicy. */
export const KEY_POLICY_ADMINS_METADATA = "express-lane:key-policy-admins";
