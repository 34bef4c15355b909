/**
 * The synthesized stacks' IAM, evaluated for concrete requests (identity policies, permissions
 * boundaries, trust, key and bucket policies together) with @cloud-copilot/iam-simulate.
 */
import { ACCOUNT, BOOTSTRAP_ADMIN, REGION, ROOT, STRANGER, Synth, evaluate, kmsKey, kmsKeyArn, principalPolicies, resources, role, roleArn, synth } from "./simulate";

const s: Synth = synth();
const PCR0 = s.config.measurements.pcr0;
const host = "express-lane-host";
const writer = "express-lane-writer-loader";
const deploy = "express-lane-deploy";
const bucket = resources(s.lane, "aws_s3_directory_bucket")[0].bucket as string;
const bucketArn = `arn:aws:s3express:${REGION}:${ACCOUNT}:bucket/${bucket}`;
const bucketPolicy = resources(s.lane, "aws_s3_bucket_policy").find((p) => p.bucket === bucket)!.policy as string;
const bucketKeyArn = kmsKeyArn(s, "Keys_BucketKey");
const bucketKeyPolicy = kmsKey(s, "Keys_BucketKey").policy as string;
const laneTagged = { "aws:ResourceTag/ExpressLaneLane": "main" };
const bucketKeyTags = { "aws:ResourceTag/ExpressLaneLane": "main", "aws:ResourceTag/ExpressLaneKeyRole": "bucket" };
const sealKeyArn = kmsKeyArn(s, "SealKey");
const sealKeyInitialPolicy = kmsKey(s, "SealKey").policy as string;
const sealPolicyResource = resources(s.lane, "aws_kms_key_policy")[0];
const sealKeyPolicy = sealPolicyResource.policy as string;
const seal = { "kms:EncryptionContext:purpose": "express-lane-seal" };
const attested = (pcr0: string) => ({ ...seal, "kms:RecipientAttestation:ImageSha384": pcr0 });

/** A request by one of the stacks' roles, with its identity policies and boundary. */
const as = (roleName: string) => ({ principal: roleArn(roleName), ...principalPolicies(s, roleName) });
/** An account principal whose own IAM policy allows everything (an administrator of another team). */
const powerful = (principal: string) => ({
  principal,
  identityPolicies: [{ name: "admin", policy: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] } }],
});

describe("B4/B5: directory bucket SSE-KMS", () => {
  test("the host role can open ReadOnly sessions (GetObject/HeadObject) and GenerateDataKey + Decrypt on the bucket key", async () => {
    expect(
      await evaluate({ ...as(host), action: "s3express:CreateSession", resource: bucketArn, context: { "s3express:SessionMode": "ReadOnly" }, resourcePolicy: bucketPolicy }),
    ).toBe("Allowed");
    for (const action of ["kms:GenerateDataKey", "kms:Decrypt"]) {
      expect(await evaluate({ ...as(host), action, resource: bucketKeyArn, context: bucketKeyTags, resourcePolicy: bucketKeyPolicy })).toBe("Allowed");
    }
  });

  test("the host role cannot open ReadWrite sessions", async () => {
    expect(
      await evaluate({ ...as(host), action: "s3express:CreateSession", resource: bucketArn, context: { "s3express:SessionMode": "ReadWrite" }, resourcePolicy: bucketPolicy }),
    ).not.toBe("Allowed");
  });

  test("the writer role can open ReadWrite sessions and GenerateDataKey + Decrypt on the bucket key", async () => {
    expect(
      await evaluate({ ...as(writer), action: "s3express:CreateSession", resource: bucketArn, context: { "s3express:SessionMode": "ReadWrite" }, resourcePolicy: bucketPolicy }),
    ).toBe("Allowed");
    for (const action of ["kms:GenerateDataKey", "kms:Decrypt"]) {
      expect(await evaluate({ ...as(writer), action, resource: bucketKeyArn, context: bucketKeyTags, resourcePolicy: bucketKeyPolicy })).toBe("Allowed");
    }
  });

  test("the deploy role can PutBucketEncryption: s3express:PutEncryptionConfiguration and GenerateDataKey + Decrypt on the bucket key", async () => {
    expect(await evaluate({ ...as(deploy), action: "s3express:PutEncryptionConfiguration", resource: bucketArn })).toBe("Allowed");
    for (const action of ["kms:GenerateDataKey", "kms:Decrypt"]) {
      expect(await evaluate({ ...as(deploy), action, resource: bucketKeyArn, context: bucketKeyTags, resourcePolicy: bucketKeyPolicy })).toBe("Allowed");
    }
  });

  test("the deploy role may empty the bucket on destroy (ReadWrite session, force_destroy)", async () => {
    expect(resources(s.lane, "aws_s3_directory_bucket")[0].force_destroy).toBe(true);
    expect(
      await evaluate({ ...as(deploy), action: "s3express:CreateSession", resource: bucketArn, context: { "s3express:SessionMode": "ReadWrite" }, resourcePolicy: bucketPolicy }),
    ).toBe("Allowed");
  });

  test("nobody outside the named principals may use the bucket key, even with an allow-everything IAM policy", async () => {
    expect(await evaluate({ ...powerful(STRANGER), action: "kms:Decrypt", resource: bucketKeyArn, context: bucketKeyTags, resourcePolicy: bucketKeyPolicy })).not.toBe("Allowed");
  });
});

describe("B1: bootstrap can create its keys", () => {
  test("the bootstrap caller can PutKeyPolicy after CreateKey (seal key and admin signing key)", async () => {
    expect(await evaluate({ principal: BOOTSTRAP_ADMIN, action: "kms:PutKeyPolicy", resource: sealKeyArn, resourcePolicy: sealKeyInitialPolicy })).toBe("Allowed");
    const signing = kmsKey(s, "DirectorySigningKey");
    expect(await evaluate({ principal: BOOTSTRAP_ADMIN, action: "kms:PutKeyPolicy", resource: kmsKeyArn(s, "DirectorySigningKey"), resourcePolicy: signing.policy })).toBe(
      "Allowed",
    );
  });

  test("a configured break-glass admin and the caller both keep PutKeyPolicy", async () => {
    const breakGlass = `arn:aws:iam::${ACCOUNT}:role/express-lane-break-glass`;
    const other = synth({ breakGlassAdminArn: breakGlass });
    const policy = kmsKey(other, "SealKey").policy;
    for (const principal of [breakGlass, BOOTSTRAP_ADMIN]) {
      expect(await evaluate({ principal, action: "kms:PutKeyPolicy", resource: kmsKeyArn(other, "SealKey"), resourcePolicy: policy })).toBe("Allowed");
    }
  });

  test("the deploy role can set the seal key's policy (the lane stack's aws_kms_key_policy), and keeps that right under the new policy", async () => {
    for (const policy of [sealKeyInitialPolicy, sealKeyPolicy]) {
      expect(await evaluate({ ...as(deploy), action: "kms:PutKeyPolicy", resource: sealKeyArn, resourcePolicy: policy })).toBe("Allowed");
    }
  });

  test("the lane's bucket key: the deploy role that creates it can PutKeyPolicy (lockout check) and schedule its deletion", async () => {
    for (const action of ["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"]) {
      expect(await evaluate({ ...as(deploy), action, resource: bucketKeyArn, context: bucketKeyTags, resourcePolicy: bucketKeyPolicy })).toBe("Allowed");
    }
  });
});

describe("least privilege that holds", () => {
  test("the deploy role cannot PutRolePolicy, AttachRolePolicy or UpdateAssumeRolePolicy on itself", async () => {
    for (const action of ["iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:DeleteRolePermissionsBoundary", "iam:PutRolePermissionsBoundary"]) {
      const d = await evaluate({
        ...as(deploy),
        action,
        resource: roleArn(deploy),
        context: { "iam:PermissionsBoundary": `arn:aws:iam::${ACCOUNT}:policy/express-lane-boundary`, "iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess" },
      });
      expect([action, d]).toEqual([action, "ExplicitlyDenied"]);
    }
  });

  test("the deploy role creates lane roles only with the boundary", async () => {
    const boundary = `arn:aws:iam::${ACCOUNT}:policy/express-lane-boundary`;
    expect(await evaluate({ ...as(deploy), action: "iam:CreateRole", resource: roleArn("express-lane-anything"), context: { "iam:PermissionsBoundary": boundary } })).toBe(
      "Allowed",
    );
    expect(await evaluate({ ...as(deploy), action: "iam:CreateRole", resource: roleArn("express-lane-anything") })).not.toBe("Allowed");
    expect(await evaluate({ ...as(deploy), action: "iam:PutRolePolicy", resource: roleArn("express-lane-anything") })).not.toBe("Allowed");
    expect(await evaluate({ ...as(deploy), action: "iam:CreateRole", resource: roleArn("someone-elses-role"), context: { "iam:PermissionsBoundary": boundary } })).not.toBe(
      "Allowed",
    );
    expect(await evaluate({ ...as(deploy), action: "iam:CreatePolicyVersion", resource: boundary })).not.toBe("Allowed");
  });

  test("every role the lane creates carries the boundary, and the boundary caps it (no IAM, no key administration, no grants)", async () => {
    for (const r of resources(s.lane, "aws_iam_role")) expect([r.name, r.permissions_boundary]).toEqual([r.name, `arn:aws:iam::${ACCOUNT}:policy/express-lane-boundary`]);
    const boundary = principalPolicies(s, host).permissionBoundaryPolicies!;
    const everything = powerful(roleArn(host));
    for (const [action, resource] of [
      ["iam:CreateUser", `arn:aws:iam::${ACCOUNT}:user/x`],
      ["iam:PutRolePolicy", roleArn(host)],
      ["kms:PutKeyPolicy", sealKeyArn],
      ["kms:CreateGrant", sealKeyArn],
      ["sts:AssumeRole", roleArn(deploy)],
    ]) {
      expect([action, await evaluate({ ...everything, permissionBoundaryPolicies: boundary, action, resource })]).toEqual([action, "ImplicitlyDenied"]);
    }
  });

  test("no region-wide KMS, logs or IAM for the deploy role: other keys, log groups and roles are out of reach", async () => {
    const foreignKey = `arn:aws:kms:${REGION}:${ACCOUNT}:key/0b0b0b0b-0000-0000-0000-000000000000`;
    // A key with the default key policy (delegates to IAM): only the deploy role's IAM policy decides.
    const defaultPolicy = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: ROOT }, Action: "kms:*", Resource: "*" }] };
    for (const action of ["kms:Decrypt", "kms:PutKeyPolicy", "kms:CreateGrant", "kms:ScheduleKeyDeletion"]) {
      expect([action, await evaluate({ ...as(deploy), action, resource: foreignKey, resourcePolicy: defaultPolicy, context: { "aws:ResourceTag/Team": "payments" } })]).toEqual([
        action,
        "ImplicitlyDenied",
      ]);
    }
    expect(await evaluate({ ...as(deploy), action: "logs:GetLogEvents", resource: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/payments/app:log-stream:x` })).not.toBe("Allowed");
    expect(await evaluate({ ...as(deploy), action: "iam:PutRolePolicy", resource: roleArn("payments-admin") })).not.toBe("Allowed");
    expect(
      await evaluate({
        ...as(deploy),
        action: "ec2:ModifyInstanceAttribute",
        resource: `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0`,
        context: { "aws:ResourceTag/Name": "payments-api", "aws:RequestedRegion": REGION },
      }),
    ).toBe("ExplicitlyDenied");
    expect(
      await evaluate({
        ...as(deploy),
        action: "ec2:CreateSnapshot",
        resource: `arn:aws:ec2:${REGION}:${ACCOUNT}:volume/vol-0123456789abcdef0`,
        context: { "aws:RequestedRegion": REGION },
      }),
    ).toBe("ExplicitlyDenied");
  });

  test("no escalation through other workloads' launch templates, Auto Scaling groups or security groups", async () => {
    const other = { "aws:ResourceTag/ExpressLaneLane": "x", "aws:ResourceTag/Team": "payments" };
    expect(
      await evaluate({
        ...as(deploy),
        action: "ec2:CreateLaunchTemplateVersion",
        resource: `arn:aws:ec2:${REGION}:${ACCOUNT}:launch-template/lt-0123456789abcdef0`,
        context: { "aws:ResourceTag/Team": "payments" },
      }),
    ).toBe("ExplicitlyDenied");
    expect(
      await evaluate({
        ...as(deploy),
        action: "ec2:CreateLaunchTemplateVersion",
        resource: `arn:aws:ec2:${REGION}:${ACCOUNT}:launch-template/lt-0123456789abcdef0`,
        context: laneTagged,
      }),
    ).toBe("Allowed");
    const asg = (name: string) => `arn:aws:autoscaling:${REGION}:${ACCOUNT}:autoScalingGroup:01234567-89ab-cdef-0123-456789abcdef:autoScalingGroupName/${name}`;
    expect(await evaluate({ ...as(deploy), action: "autoscaling:UpdateAutoScalingGroup", resource: asg("payments-api") })).toBe("ExplicitlyDenied");
    expect(await evaluate({ ...as(deploy), action: "autoscaling:UpdateAutoScalingGroup", resource: asg("express-lane-eu1-hosts-2026") })).toBe("ExplicitlyDenied");
    expect(await evaluate({ ...as(deploy), action: "autoscaling:UpdateAutoScalingGroup", resource: asg("express-lane-hosts-2026") })).toBe("Allowed");
    expect(
      await evaluate({
        ...as(deploy),
        action: "ec2:AuthorizeSecurityGroupIngress",
        resource: `arn:aws:ec2:${REGION}:${ACCOUNT}:security-group/sg-0123456789abcdef0`,
        context: other,
      }),
    ).toBe("ExplicitlyDenied");
    expect(
      await evaluate({
        ...as(deploy),
        action: "ec2:AuthorizeSecurityGroupIngress",
        resource: `arn:aws:ec2:${REGION}:${ACCOUNT}:security-group/sg-0123456789abcdef0`,
        context: laneTagged,
      }),
    ).toBe("Allowed");
  });

  test("lanes share name prefixes, but a lane's deploy role cannot touch another lane's tagged resources", async () => {
    const other = { "aws:ResourceTag/ExpressLaneLane": "eu1" };
    expect(await evaluate({ ...as(deploy), action: "iam:UpdateAssumeRolePolicy", resource: roleArn("express-lane-eu1-deploy"), context: other })).toBe("ExplicitlyDenied");
    expect(await evaluate({ ...as(deploy), action: "iam:DeleteRole", resource: roleArn("express-lane-eu1-host"), context: other })).toBe("ExplicitlyDenied");
    expect(await evaluate({ ...as(deploy), action: "sns:DeleteTopic", resource: `arn:aws:sns:${REGION}:${ACCOUNT}:express-lane-eu1-alarms`, context: other })).toBe(
      "ExplicitlyDenied",
    );
    expect(await evaluate({ ...as(deploy), action: "iam:DeleteRole", resource: roleArn("express-lane-host"), context: { "aws:ResourceTag/ExpressLaneLane": "main" } })).toBe(
      "Allowed",
    );
  });

  test("the deploy role uses the lanes' state but cannot rewrite the bootstrap's state", async () => {
    const state = `arn:aws:s3:::${s.config.stateBucketName}`;
    expect(await evaluate({ ...as(deploy), action: "s3:PutObject", resource: `${state}/lanes/main/express-lane.tfstate` })).toBe("Allowed");
    expect(await evaluate({ ...as(deploy), action: "s3:PutObject", resource: `${state}/bootstrap/main/terraform.tfstate` })).toBe("ExplicitlyDenied");
    expect(await evaluate({ ...as(deploy), action: "s3:GetObject", resource: `${state}/bootstrap/main/terraform.tfstate` })).toBe("Allowed");
  });

  test("key admins hold no kms:CreateGrant and no cryptographic use", async () => {
    for (const [policy, resource] of [
      [sealKeyPolicy, sealKeyArn],
      [sealKeyInitialPolicy, sealKeyArn],
      [bucketKeyPolicy, bucketKeyArn],
    ] as const) {
      for (const principal of [BOOTSTRAP_ADMIN, `arn:aws:iam::${ACCOUNT}:role/express-lane-break-glass`]) {
        for (const action of ["kms:CreateGrant", "kms:Decrypt", "kms:ReEncryptFrom", "kms:GenerateDataKey"]) {
          expect([action, await evaluate({ principal, action, resource, resourcePolicy: policy, context: bucketKeyTags })]).toEqual([action, expect.stringMatching(/Denied/)]);
        }
      }
    }
  });

  test("the writer roles trust only named principals (the deploy role), not the whole account", async () => {
    const trust = role(s, writer).assume_role_policy;
    expect(await evaluate({ ...as(deploy), action: "sts:AssumeRole", resource: roleArn(writer), resourcePolicy: trust })).toBe("Allowed");
    expect(await evaluate({ ...powerful(STRANGER), action: "sts:AssumeRole", resource: roleArn(writer), resourcePolicy: trust })).not.toBe("Allowed");
  });
});

describe("the seal key", () => {
  const principals = [roleArn(host), roleArn(writer), roleArn(deploy), BOOTSTRAP_ADMIN, STRANGER, `arn:aws:iam::${ACCOUNT}:role/express-lane-break-glass`];

  test("no principal but the attested enclave can Decrypt with the seal purpose", async () => {
    for (const principal of principals) {
      const identity =
        principal === roleArn(host) || principal === roleArn(writer) || principal === roleArn(deploy) ? principalPolicies(s, principal.split("/").pop()!) : powerful(principal);
      for (const action of ["kms:Decrypt", "kms:ReEncryptFrom", "kms:CreateGrant"]) {
        const d = await evaluate({ principal, ...identity, action, resource: sealKeyArn, context: seal, resourcePolicy: sealKeyPolicy });
        expect([principal, action, d]).toEqual([principal, action, expect.stringMatching(/Denied/)]);
      }
    }
    expect(await evaluate({ ...as(host), action: "kms:Decrypt", resource: sealKeyArn, context: attested(PCR0), resourcePolicy: sealKeyPolicy })).toBe("Allowed");
    expect(await evaluate({ ...as(host), action: "kms:Decrypt", resource: sealKeyArn, context: attested("0".repeat(96)), resourcePolicy: sealKeyPolicy })).not.toBe("Allowed");
    expect(await evaluate({ ...as(host), action: "kms:Decrypt", resource: sealKeyArn, context: attested("ab".repeat(48)), resourcePolicy: sealKeyPolicy })).not.toBe("Allowed");
  });

  test("the lane signing key: admins generate it without plaintext for this lane only; only attested enclaves open it", async () => {
    const laneKey = {
      "kms:EncryptionContext:purpose": "express-lane-lane-key",
      "kms:EncryptionContext:lane": "main",
      "kms:EncryptionContext:kid": "k1",
      "kms:DataKeyPairSpec": "ECC_NIST_EDWARDS25519",
    };
    expect(
      await evaluate({ principal: BOOTSTRAP_ADMIN, action: "kms:GenerateDataKeyPairWithoutPlaintext", resource: sealKeyArn, context: laneKey, resourcePolicy: sealKeyPolicy }),
    ).toBe("Allowed");
    expect(
      await evaluate({
        principal: BOOTSTRAP_ADMIN,
        action: "kms:GenerateDataKeyPairWithoutPlaintext",
        resource: sealKeyArn,
        context: { ...laneKey, "kms:EncryptionContext:lane": "eu1" },
        resourcePolicy: sealKeyPolicy,
      }),
    ).not.toBe("Allowed");
    expect(
      await evaluate({
        principal: BOOTSTRAP_ADMIN,
        action: "kms:GenerateDataKeyPairWithoutPlaintext",
        resource: sealKeyArn,
        context: { ...laneKey, "kms:DataKeyPairSpec": "RSA_2048" },
        resourcePolicy: sealKeyPolicy,
      }),
    ).not.toBe("Allowed");
    for (const principal of principals) {
      const identity =
        principal === roleArn(host) || principal === roleArn(writer) || principal === roleArn(deploy) ? principalPolicies(s, principal.split("/").pop()!) : powerful(principal);
      expect(await evaluate({ principal, ...identity, action: "kms:GenerateDataKeyPair", resource: sealKeyArn, context: laneKey, resourcePolicy: sealKeyPolicy })).not.toBe(
        "Allowed",
      );
      expect(await evaluate({ principal, ...identity, action: "kms:Decrypt", resource: sealKeyArn, context: laneKey, resourcePolicy: sealKeyPolicy })).not.toBe("Allowed");
    }
    expect(
      await evaluate({
        ...as(host),
        action: "kms:Decrypt",
        resource: sealKeyArn,
        context: { ...laneKey, "kms:RecipientAttestation:ImageSha384": PCR0 },
        resourcePolicy: sealKeyPolicy,
      }),
    ).toBe("Allowed");
  });

  test("a writer generates and unwraps only its own writer keys (encryption context writer = its id)", async () => {
    const own = { ...seal, "kms:EncryptionContext:writer": "loader", "kms:EncryptionContext:kid": "loader.1" };
    const other = { ...seal, "kms:EncryptionContext:writer": "other", "kms:EncryptionContext:kid": "other.1" };
    for (const action of ["kms:GenerateDataKey", "kms:Decrypt"]) {
      expect(await evaluate({ ...as(writer), action, resource: sealKeyArn, context: own, resourcePolicy: sealKeyPolicy })).toBe("Allowed");
      expect(await evaluate({ ...as(writer), action, resource: sealKeyArn, context: other, resourcePolicy: sealKeyPolicy })).not.toBe("Allowed");
    }
    // The host, even with a writer's context, only ever decrypts with attestation.
    expect(await evaluate({ ...as(host), action: "kms:Decrypt", resource: sealKeyArn, context: own, resourcePolicy: sealKeyPolicy })).not.toBe("Allowed");
  });

  test("each configured writer gets its own role and grants", async () => {
    const two = synth({ writers: "loader,backfill" });
    const policy = resources(two.lane, "aws_kms_key_policy")[0].policy;
    const ctx = (w: string) => ({ ...seal, "kms:EncryptionContext:writer": w });
    const asTwo = (r: string) => ({ principal: roleArn(r), ...principalPolicies(two, r) });
    expect(
      await evaluate({ ...asTwo("express-lane-writer-backfill"), action: "kms:Decrypt", resource: kmsKeyArn(two, "SealKey"), context: ctx("backfill"), resourcePolicy: policy }),
    ).toBe("Allowed");
    expect(
      await evaluate({ ...asTwo("express-lane-writer-backfill"), action: "kms:Decrypt", resource: kmsKeyArn(two, "SealKey"), context: ctx("loader"), resourcePolicy: policy }),
    ).not.toBe("Allowed");
  });

  test("rollout overlap: with a previous PCR0 both releases' enclaves can unseal; never an all-zero PCR0", async () => {
    const previous = "cd".repeat(48);
    const rolling = synth({ previousPcr0: previous });
    const policy = resources(rolling.lane, "aws_kms_key_policy")[0].policy;
    const asR = { principal: roleArn(host), ...principalPolicies(rolling, host) };
    for (const pcr0 of [PCR0, previous])
      expect(await evaluate({ ...asR, action: "kms:Decrypt", resource: kmsKeyArn(rolling, "SealKey"), context: attested(pcr0), resourcePolicy: policy })).toBe("Allowed");
    expect(await evaluate({ ...asR, action: "kms:Decrypt", resource: kmsKeyArn(rolling, "SealKey"), context: attested("ef".repeat(48)), resourcePolicy: policy })).not.toBe(
      "Allowed",
    );
    expect(() => synth({ previousPcr0: "0".repeat(96) })).toThrow(/all zeros/);
  });

  test("after destroy the seal key's policy still denies un-attested Decrypt", async () => {
    // What remains after `cdktf destroy express-lane`: with bypass_policy_lockout_safety_check the
    // provider's aws_kms_key_policy delete leaves the last applied policy on the key; without it, it
    // puts the account's default key policy back (root: kms:*, i.e. every IAM policy decides).
    const defaultKeyPolicy = {
      Version: "2012-10-17",
      Statement: [{ Sid: "Enable IAM User Permissions", Effect: "Allow", Principal: { AWS: ROOT }, Action: "kms:*", Resource: "*" }],
    };
    const remaining = sealPolicyResource.bypass_policy_lockout_safety_check === true ? sealKeyPolicy : defaultKeyPolicy;
    for (const principal of principals) {
      expect(await evaluate({ ...powerful(principal), action: "kms:Decrypt", resource: sealKeyArn, context: seal, resourcePolicy: remaining })).toEqual(
        expect.stringMatching(/Denied/),
      );
      expect(await evaluate({ ...powerful(principal), action: "kms:Decrypt", resource: sealKeyArn, context: {}, resourcePolicy: remaining })).toEqual(
        expect.stringMatching(/Denied/),
      );
    }
    // Before the first lane deploy (or if the lane never applied), the bootstrap's policy is the one on the key.
    for (const principal of principals) {
      expect(await evaluate({ ...powerful(principal), action: "kms:Decrypt", resource: sealKeyArn, context: attested(PCR0), resourcePolicy: sealKeyInitialPolicy })).toEqual(
        expect.stringMatching(/Denied/),
      );
    }
  });
});

describe("the admin signing key", () => {
  const signingArn = kmsKeyArn(s, "DirectorySigningKey");
  const signingPolicy = kmsKey(s, "DirectorySigningKey").policy as string;
  const ed25519 = { "kms:SigningAlgorithm": "ED25519_SHA_512" };

  test("Ed25519, SIGN_VERIFY, created by the bootstrap and output like seal_key_arn", () => {
    const k = kmsKey(s, "DirectorySigningKey");
    expect([k.customer_master_key_spec, k.key_usage, k.enable_key_rotation]).toEqual(["ECC_NIST_EDWARDS25519", "SIGN_VERIFY", false]);
    expect(s.bootstrap.output.directory_signing_key_arn.value).toBe(signingArn);
  });

  test("only the directory publisher (default: the break-glass admin) may Sign; hosts and writers may not; the deploy role may GetPublicKey", async () => {
    expect(await evaluate({ principal: BOOTSTRAP_ADMIN, action: "kms:Sign", resource: signingArn, context: ed25519, resourcePolicy: signingPolicy })).toBe("Allowed");
    expect(
      await evaluate({
        principal: BOOTSTRAP_ADMIN,
        action: "kms:Sign",
        resource: signingArn,
        context: { "kms:SigningAlgorithm": "ED25519_PH_SHA_512" },
        resourcePolicy: signingPolicy,
      }),
    ).not.toBe("Allowed");
    for (const r of [host, writer, deploy]) {
      const identity = r === deploy ? principalPolicies(s, r) : powerful(roleArn(r));
      expect([r, await evaluate({ principal: roleArn(r), ...identity, action: "kms:Sign", resource: signingArn, context: ed25519, resourcePolicy: signingPolicy })]).toEqual([
        r,
        expect.stringMatching(/Denied/),
      ]);
    }
    expect(await evaluate({ ...as(deploy), action: "kms:GetPublicKey", resource: signingArn, resourcePolicy: signingPolicy })).toBe("Allowed");
  });
});

describe("the plan role (read-only, the workflows' plan jobs)", () => {
  const plan = "express-lane-plan";
  const state = `arn:aws:s3:::${s.config.stateBucketName}`;

  test("reads the lane's state and refreshes the lane's resources", async () => {
    expect(await evaluate({ ...as(plan), action: "s3:GetObject", resource: `${state}/lanes/main/express-lane.tfstate` })).toBe("Allowed");
    expect(await evaluate({ ...as(plan), action: "s3:ListBucket", resource: state })).toBe("Allowed");
    expect(await evaluate({ ...as(plan), action: "ec2:DescribeVpcs", resource: "*" })).toBe("Allowed");
    expect(await evaluate({ ...as(plan), action: "iam:GetRole", resource: roleArn(host) })).toBe("Allowed");
    expect(
      await evaluate({ ...as(plan), action: "s3express:CreateSession", resource: bucketArn, context: { "s3express:SessionMode": "ReadOnly" }, resourcePolicy: bucketPolicy }),
    ).toBe("Allowed");
    for (const [resource, policy] of [
      [sealKeyArn, sealKeyPolicy],
      [sealKeyArn, sealKeyInitialPolicy],
      [bucketKeyArn, bucketKeyPolicy],
    ] as const) {
      for (const action of ["kms:DescribeKey", "kms:GetKeyPolicy"])
        expect([action, await evaluate({ ...as(plan), action, resource, resourcePolicy: policy })]).toEqual([action, "Allowed"]);
    }
  });

  test("writes nothing: no state writes, no key use or policy, no ReadWrite sessions, no IAM or EC2 changes", async () => {
    expect(await evaluate({ ...as(plan), action: "s3:PutObject", resource: `${state}/lanes/main/express-lane.tfstate` })).not.toBe("Allowed");
    expect(await evaluate({ ...as(plan), action: "s3:GetObject", resource: `${state}/bootstrap/main/terraform.tfstate` })).not.toBe("Allowed");
    expect(
      await evaluate({ ...as(plan), action: "s3express:CreateSession", resource: bucketArn, context: { "s3express:SessionMode": "ReadWrite" }, resourcePolicy: bucketPolicy }),
    ).not.toBe("Allowed");
    for (const action of ["kms:Decrypt", "kms:GenerateDataKey", "kms:PutKeyPolicy", "kms:CreateGrant"]) {
      expect([action, await evaluate({ ...as(plan), action, resource: bucketKeyArn, context: bucketKeyTags, resourcePolicy: bucketKeyPolicy })]).toEqual([
        action,
        expect.stringMatching(/Denied/),
      ]);
      expect([action, await evaluate({ ...as(plan), action, resource: sealKeyArn, context: attested(PCR0), resourcePolicy: sealKeyPolicy })]).toEqual([
        action,
        expect.stringMatching(/Denied/),
      ]);
    }
    expect(await evaluate({ ...as(plan), action: "iam:PutRolePolicy", resource: roleArn(host) })).not.toBe("Allowed");
    expect(await evaluate({ ...as(plan), action: "ec2:RunInstances", resource: `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/*` })).not.toBe("Allowed");
    expect(await evaluate({ ...as(plan), action: "sts:AssumeRole", resource: roleArn(writer), resourcePolicy: role(s, writer).assume_role_policy })).not.toBe("Allowed");
  });
});

describe("the break-glass admin the bootstrap recorded", () => {
  test("administers the lane's keys (read from SSM by the lane stack), without use", async () => {
    expect(resources(s.bootstrap, "aws_ssm_parameter")[0]).toMatchObject({ name: "/express-lane/bootstrap/break-glass-admin-arn", value: BOOTSTRAP_ADMIN });
    expect(await evaluate({ principal: BOOTSTRAP_ADMIN, action: "kms:PutKeyPolicy", resource: bucketKeyArn, resourcePolicy: bucketKeyPolicy })).toBe("Allowed");
    expect(await evaluate({ principal: BOOTSTRAP_ADMIN, action: "kms:CancelKeyDeletion", resource: sealKeyArn, resourcePolicy: sealKeyPolicy })).toBe("Allowed");
    expect(await evaluate({ principal: BOOTSTRAP_ADMIN, action: "kms:Decrypt", resource: bucketKeyArn, context: bucketKeyTags, resourcePolicy: bucketKeyPolicy })).not.toBe(
      "Allowed",
    );
  });

  test("the deploy role cannot change the recorded break-glass admin", async () => {
    const param = `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/express-lane/bootstrap/break-glass-admin-arn`;
    expect(await evaluate({ ...as(deploy), action: "ssm:PutParameter", resource: param })).toBe("ExplicitlyDenied");
    expect(await evaluate({ ...as(deploy), action: "ssm:GetParameter", resource: param })).toBe("Allowed");
  });
});
