/**
 * The policy rules' small synchronous evaluator (constructs/policies/evaluate.ts) agrees with
 * iam-simulate on the synthesized key policies, for every principal they name, a stranger, and the
 * requests the rules ask about. (The rules must never say "cannot" where AWS would allow.)
 */
import { couldAllow } from "../../constructs/policies/evaluate";
import { IamStatementJson } from "../../constructs/policies/rule";
import { ACCOUNT, STRANGER, evaluate, kmsKey, kmsKeyArn, resources, synth } from "./simulate";

const s = synth({ previousPcr0: "cd".repeat(48), writers: "loader,backfill" });
const PCR0 = s.config.measurements.pcr0;
const policies: [string, string, string][] = [
  ["seal (lane)", kmsKeyArn(s, "SealKey"), resources(s.lane, "aws_kms_key_policy")[0].policy],
  ["seal (bootstrap)", kmsKeyArn(s, "SealKey"), kmsKey(s, "SealKey").policy],
  ["bucket key", kmsKeyArn(s, "Keys_BucketKey"), kmsKey(s, "Keys_BucketKey").policy],
  ["signing key", kmsKeyArn(s, "DirectorySigningKey"), kmsKey(s, "DirectorySigningKey").policy],
];
const seal = { "kms:EncryptionContext:purpose": "express-lane-seal" };
const contexts: Record<string, string>[] = [
  {},
  seal,
  { "kms:EncryptionContext:purpose": "other" },
  { ...seal, "kms:EncryptionContext:writer": "loader" },
  { ...seal, "kms:EncryptionContext:writer": "backfill" },
  { ...seal, "kms:RecipientAttestation:ImageSha384": PCR0 },
  { ...seal, "kms:RecipientAttestation:ImageSha384": "cd".repeat(48) },
  { ...seal, "kms:RecipientAttestation:ImageSha384": "0".repeat(96) },
];
const actions = ["kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:CreateGrant", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DescribeKey"];

describe.each(policies)("%s policy", (_name, keyArn, policy) => {
  const statements = JSON.parse(policy).Statement as IamStatementJson[];
  const principals = [
    ...new Set(
      statements.flatMap((st) => {
        const p = st.Principal as { AWS?: string | string[] } | string | undefined;
        return typeof p === "object" && p.AWS ? (Array.isArray(p.AWS) ? p.AWS : [p.AWS]) : [];
      }),
    ),
    STRANGER,
  ];

  test("the rules' evaluator and iam-simulate agree on every request", async () => {
    const disagreements: string[] = [];
    for (const principal of principals) {
      for (const action of actions) {
        for (const context of contexts) {
          const ours = couldAllow(statements, { principal, action, context }).length > 0;
          const theirs = (await evaluate({ principal, action, resource: keyArn, context: { ...context, "aws:PrincipalAccount": ACCOUNT }, resourcePolicy: policy })) === "Allowed";
          if (ours !== theirs) disagreements.push(`${principal} ${action} ${JSON.stringify(context)}: ours ${ours}, iam-simulate ${theirs}`);
        }
      }
    }
    expect(disagreements).toEqual([]);
  });
});
