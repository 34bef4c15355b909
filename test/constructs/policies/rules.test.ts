import { App, Aspects, IAspect, TerraformStack, Testing } from "cdktf";
import { Construct } from "constructs";
import {
  AwsProvider,
  CloudwatchLogGroup,
  IamRole,
  IamRolePolicy,
  KmsKey,
  KmsKeyPolicy,
  LaunchTemplate,
  S3Bucket,
  S3BucketVersioning,
  SecurityGroup,
  Subnet,
  VpcSecurityGroupIngressRule,
} from "../../../constructs/aws";
import { InternetGateway } from "@cdktf/provider-aws/lib/internet-gateway";
import { NatGateway } from "@cdktf/provider-aws/lib/nat-gateway";
import {
  BucketVersioned,
  EncryptedVolumes,
  IamNoWildcards,
  Imdsv2Required,
  PolicySuppressions,
  RolePermissionsBoundary,
  SigningKeyPolicy,
  KmsRotation,
  LogRetention,
  NoPublicIp,
  NoWorldIngress,
  SealKeyAttestation,
  applyPolicies,
  policyErrors,
} from "../../../constructs/policies";

/** Builds a stack with `build`, applies one rule, returns its error annotations. */
function errorsOf(rule: IAspect, build: (s: TerraformStack) => void): string[] {
  const app = Testing.app();
  const stack = new TerraformStack(app, "test");
  build(stack);
  Aspects.of(stack).add(rule);
  Testing.synth(stack);
  return policyErrors(stack);
}

const lt = (s: Construct, over: Partial<ConstructorParameters<typeof LaunchTemplate>[2]> = {}) =>
  new LaunchTemplate(s, "lt", {
    metadataOptions: { httpTokens: "required" },
    networkInterfaces: [{ deviceIndex: 0, associatePublicIpAddress: "false" }],
    blockDeviceMappings: [{ deviceName: "/dev/xvda", ebs: { encrypted: "true", volumeType: "gp3" } }],
    ...over,
  });

const policyDoc = (statement: Record<string, unknown>) => JSON.stringify({ Version: "2012-10-17", Statement: [statement] });
const PCR0 = "ab".repeat(48);

describe("EL-IMDSV2", () => {
  test("compliant: http_tokens required", () => expect(errorsOf(new Imdsv2Required(), (s) => lt(s))).toEqual([]));
  test("non-compliant: http_tokens optional or missing", () => {
    expect(errorsOf(new Imdsv2Required(), (s) => lt(s, { metadataOptions: { httpTokens: "optional" } }))).toEqual([expect.stringMatching(/EL-IMDSV2.*required/)]);
    expect(errorsOf(new Imdsv2Required(), (s) => lt(s, { metadataOptions: undefined }))).toHaveLength(1);
  });
});

describe("EL-NO-PUBLIC-IP", () => {
  test("compliant: private NIC, private subnet", () =>
    expect(
      errorsOf(new NoPublicIp(), (s) => {
        lt(s);
        new Subnet(s, "sn", { vpcId: "vpc-1", cidrBlock: "10.0.0.0/24", mapPublicIpOnLaunch: false });
      }),
    ).toEqual([]));
  test("non-compliant: public IP on NIC, public subnet, IGW, NAT", () => {
    expect(errorsOf(new NoPublicIp(), (s) => lt(s, { networkInterfaces: [{ associatePublicIpAddress: "true" }] }))).toEqual([expect.stringMatching(/associate_public_ip_address/)]);
    expect(errorsOf(new NoPublicIp(), (s) => new Subnet(s, "sn", { vpcId: "v", cidrBlock: "10.0.0.0/24", mapPublicIpOnLaunch: true }))).toHaveLength(1);
    expect(errorsOf(new NoPublicIp(), (s) => new InternetGateway(s, "igw", { vpcId: "v" }))).toEqual([expect.stringMatching(/aws_internet_gateway is not allowed/)]);
    expect(errorsOf(new NoPublicIp(), (s) => new NatGateway(s, "nat", { subnetId: "s" }))).toHaveLength(1);
  });
});

describe("EL-EBS-ENCRYPTED", () => {
  test("compliant: encrypted root", () => expect(errorsOf(new EncryptedVolumes(), (s) => lt(s))).toEqual([]));
  test("non-compliant: unencrypted or unmapped root", () => {
    expect(errorsOf(new EncryptedVolumes(), (s) => lt(s, { blockDeviceMappings: [{ deviceName: "/dev/xvda", ebs: { encrypted: "false" } }] }))).toEqual([
      expect.stringMatching(/not encrypted/),
    ]);
    expect(errorsOf(new EncryptedVolumes(), (s) => lt(s, { blockDeviceMappings: [] }))).toHaveLength(1);
  });
});

describe("EL-KMS-ROTATION", () => {
  test("compliant: rotation on", () => expect(errorsOf(new KmsRotation(), (s) => new KmsKey(s, "k", { enableKeyRotation: true }))).toEqual([]));
  test("non-compliant: rotation off or unset", () => {
    expect(errorsOf(new KmsRotation(), (s) => new KmsKey(s, "k", { enableKeyRotation: false }))).toHaveLength(1);
    expect(errorsOf(new KmsRotation(), (s) => new KmsKey(s, "k", {}))).toHaveLength(1);
  });
});

describe("EL-IAM-NO-WILDCARD", () => {
  const rolePolicy = (st: Record<string, unknown>) => (s: TerraformStack) => new IamRolePolicy(s, "p", { role: "r", policy: policyDoc(st) });
  const trust = (principal: unknown) => (s: TerraformStack) =>
    new IamRole(s, "r", { assumeRolePolicy: policyDoc({ Effect: "Allow", Principal: principal, Action: "sts:AssumeRole" }) });
  test("compliant: scoped actions/resources, wildcard-only actions, key-policy self reference, named trust", () => {
    expect(errorsOf(new IamNoWildcards(), rolePolicy({ Effect: "Allow", Action: ["s3:GetObject"], Resource: "arn:aws:s3:::b/*" }))).toEqual([]);
    expect(errorsOf(new IamNoWildcards(), rolePolicy({ Effect: "Allow", Action: "cloudwatch:PutMetricData", Resource: "*" }))).toEqual([]);
    expect(errorsOf(new IamNoWildcards(), rolePolicy({ Effect: "Deny", Action: "s3:*", Resource: "*" }))).toEqual([]);
    expect(
      errorsOf(
        new IamNoWildcards(),
        (s) =>
          new KmsKey(s, "k", {
            enableKeyRotation: true,
            policy: policyDoc({ Effect: "Allow", Principal: { AWS: "arn:aws:iam::1:role/x" }, Action: "kms:Decrypt", Resource: "*" }),
          }),
      ),
    ).toEqual([]);
    expect(
      errorsOf(
        new IamNoWildcards(),
        (s) => new KmsKeyPolicy(s, "kp", { keyId: "k", policy: policyDoc({ Effect: "Allow", Principal: { AWS: "arn:aws:iam::1:role/x" }, Action: "kms:Decrypt", Resource: "*" }) }),
      ),
    ).toEqual([]);
    expect(errorsOf(new IamNoWildcards(), trust({ AWS: "arn:aws:iam::111122223333:role/deploy" }))).toEqual([]);
    expect(errorsOf(new IamNoWildcards(), trust({ Service: "ec2.amazonaws.com" }))).toEqual([]);
  });
  test("non-compliant: * action, service:* action, Resource *, NotAction", () => {
    expect(errorsOf(new IamNoWildcards(), rolePolicy({ Effect: "Allow", Action: "*", Resource: "arn:aws:s3:::b" }))).toEqual([expect.stringMatching(/wildcard action \*/)]);
    expect(errorsOf(new IamNoWildcards(), rolePolicy({ Effect: "Allow", Action: "s3:*", Resource: "arn:aws:s3:::b" }))).toHaveLength(1);
    expect(errorsOf(new IamNoWildcards(), rolePolicy({ Effect: "Allow", Action: "s3:GetObject", Resource: "*" }))).toEqual([expect.stringMatching(/Resource "\*"/)]);
    expect(errorsOf(new IamNoWildcards(), rolePolicy({ Effect: "Allow", NotAction: "iam:*", Resource: "arn:aws:s3:::b" }))).toHaveLength(1);
  });
  test("escape: a statement reusing an allowlisted Sid gets no exemption (exemptions are attached to constructs)", () => {
    expect(errorsOf(new IamNoWildcards(), rolePolicy({ Sid: "DeployLaneInfrastructure", Effect: "Allow", Action: "ec2:*", Resource: "*" }))).toHaveLength(2);
  });
  test("escape: trust policies are read (account root trusts the whole account; Principal *)", () => {
    expect(errorsOf(new IamNoWildcards(), trust({ AWS: "arn:aws:iam::111122223333:root" }))).toEqual([expect.stringMatching(/whole account may assume/)]);
    expect(errorsOf(new IamNoWildcards(), trust({ AWS: "${data.aws_caller_identity.a.account_id}" }))).toEqual([]); // not a root ARN
    expect(errorsOf(new IamNoWildcards(), trust("*"))).toEqual([expect.stringMatching(/Principal "\*"/)]);
  });
  test("escape: aws_kms_key_policy and Principal * in resource policies are read", () => {
    expect(
      errorsOf(
        new IamNoWildcards(),
        (s) => new KmsKeyPolicy(s, "kp", { keyId: "k", policy: policyDoc({ Effect: "Allow", Principal: { AWS: "arn:aws:iam::1:root" }, Action: "kms:*", Resource: "*" }) }),
      ),
    ).toEqual([expect.stringMatching(/wildcard action kms:\*/), expect.stringMatching(/delegates to every IAM policy/)]);
    expect(
      errorsOf(
        new IamNoWildcards(),
        (s) => new KmsKeyPolicy(s, "kp", { keyId: "k", policy: policyDoc({ Effect: "Allow", Principal: "*", Action: "kms:Decrypt", Resource: "*" }) }),
      ),
    ).toEqual([expect.stringMatching(/Principal "\*"/)]);
  });
  test("a suppression on the construct covers exactly the findings it lists, with a reason", () => {
    const build = (appliesTo: string[]) => (s: TerraformStack) => {
      const c = new Construct(s, "deploy");
      new IamRolePolicy(c, "p", { role: "r", policy: policyDoc({ Effect: "Allow", Action: ["ec2:*", "logs:*"], Resource: "*" }) });
      PolicySuppressions.add(c, [{ id: "EL-IAM-NO-WILDCARD", reason: "the deploy role creates EC2 resources whose ids are unknown", appliesTo }]);
    };
    expect(errorsOf(new IamNoWildcards(), build(["Action::ec2:*", "Action::logs:*", "Resource::*"]))).toEqual([]);
    expect(errorsOf(new IamNoWildcards(), build(["Action::ec2:*", "Resource::*"]))).toEqual([expect.stringMatching(/logs:\*/)]);
    expect(() => PolicySuppressions.add(new Construct(Testing.app(), "x"), [{ id: "EL-IAM-NO-WILDCARD", reason: "because" }])).toThrow(/real reason/);
  });
});

describe("EL-IAM-ROLE-BOUNDARY", () => {
  const trustDoc = policyDoc({ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" });
  test("compliant: role with a boundary, or suppressed on its construct", () => {
    expect(errorsOf(new RolePermissionsBoundary(), (s) => new IamRole(s, "r", { assumeRolePolicy: trustDoc, permissionsBoundary: "arn:aws:iam::1:policy/b" }))).toEqual([]);
    expect(
      errorsOf(new RolePermissionsBoundary(), (s) => {
        const c = new Construct(s, "deploy");
        new IamRole(c, "r", { assumeRolePolicy: trustDoc });
        PolicySuppressions.add(c, [{ id: "EL-IAM-ROLE-BOUNDARY", reason: "created by the administrator applying the bootstrap" }]);
      }),
    ).toEqual([]);
  });
  test("non-compliant: role without a boundary", () => {
    expect(errorsOf(new RolePermissionsBoundary(), (s) => new IamRole(s, "r", { name: "free", assumeRolePolicy: trustDoc }))).toEqual([
      expect.stringMatching(/role free has no permissions_boundary/),
    ]);
  });
});

describe("EL-SIGNING-KEY", () => {
  const signing = (statements: Record<string, unknown>[]) => (s: TerraformStack) =>
    new KmsKey(s, "k", {
      customerMasterKeySpec: "ECC_NIST_EDWARDS25519",
      keyUsage: "SIGN_VERIFY",
      tags: { ExpressLaneKeyRole: "signing" },
      policy: JSON.stringify({ Version: "2012-10-17", Statement: statements }),
    });
  const sign = (principal: unknown, cond: unknown = { StringEquals: { "kms:SigningAlgorithm": "ED25519_SHA_512" } }) => ({
    Sid: "Sign",
    Effect: "Allow",
    Principal: principal,
    Action: "kms:Sign",
    Resource: "*",
    Condition: cond,
  });
  const publisher = { AWS: "arn:aws:iam::1:role/directory-publisher" };
  test("compliant: a named publisher signs with ED25519_SHA_512 only", () => {
    expect(errorsOf(new SigningKeyPolicy(), signing([sign(publisher)]))).toEqual([]);
  });
  test("non-compliant: hosts or writers sign, anyone signs, any algorithm, grants, nobody signs", () => {
    expect(errorsOf(new SigningKeyPolicy(), signing([sign({ AWS: "arn:aws:iam::1:role/express-lane-host" })]))).toEqual([expect.stringMatching(/express-lane-host may kms:Sign/)]);
    expect(errorsOf(new SigningKeyPolicy(), signing([sign({ AWS: "arn:aws:iam::1:role/express-lane-writer-loader" })]))).toHaveLength(1);
    expect(errorsOf(new SigningKeyPolicy(), signing([sign({ AWS: "arn:aws:iam::1:root" })]))).toEqual([expect.stringMatching(/any principal/)]);
    expect(errorsOf(new SigningKeyPolicy(), signing([sign(publisher, {})]))).toEqual([expect.stringMatching(/other than ED25519_SHA_512/)]);
    expect(errorsOf(new SigningKeyPolicy(), signing([sign(publisher), { Effect: "Allow", Principal: publisher, Action: "kms:Create*", Resource: "*" }]))).toEqual([
      expect.stringMatching(/CreateGrant/),
    ]);
    expect(errorsOf(new SigningKeyPolicy(), signing([]))).toEqual([expect.stringMatching(/nobody may sign/)]);
  });
});

describe("EL-SEAL-ATTESTATION", () => {
  const seal = (statements: Record<string, unknown>[]) => (s: TerraformStack) =>
    new KmsKey(s, "seal", { enableKeyRotation: true, tags: { ExpressLaneKeyRole: "seal" }, policy: JSON.stringify({ Version: "2012-10-17", Statement: statements }) });
  const admin = { Sid: "KeyAdministration", Effect: "Allow", Principal: { AWS: "arn:aws:iam::1:role/deploy" }, Action: ["kms:Describe*"], Resource: "*" };
  const hostGrant = (cond: unknown) => ({
    Sid: "EnclaveDecryptWithAttestation",
    Effect: "Allow",
    Principal: { AWS: "arn:aws:iam::1:role/host" },
    Action: "kms:Decrypt",
    Resource: "*",
    Condition: cond,
  });
  test("compliant: host Decrypt requires ImageSha384 = PCR0", () => {
    expect(errorsOf(new SealKeyAttestation(), seal([admin, hostGrant({ StringEqualsIgnoreCase: { "kms:RecipientAttestation:ImageSha384": PCR0 } })]))).toEqual([]);
  });
  test("non-compliant: no condition, zero PCR0, missing grant", () => {
    expect(errorsOf(new SealKeyAttestation(), seal([admin, hostGrant(undefined)]))).toEqual([expect.stringMatching(/without a kms:RecipientAttestation:ImageSha384 condition/)]);
    expect(errorsOf(new SealKeyAttestation(), seal([admin, hostGrant({ StringEqualsIgnoreCase: { "kms:RecipientAttestation:ImageSha384": "0".repeat(96) } })]))).toEqual([
      expect.stringMatching(/all zeros/),
    ]);
    expect(errorsOf(new SealKeyAttestation(), seal([admin]))).toEqual([expect.stringMatching(/no statement grants/)]);
  });
  test("a writer's unwrap of its own writer keys (purpose and writer id, not the host) is the one un-attested Decrypt allowed", () => {
    const attested = hostGrant({ StringEqualsIgnoreCase: { "kms:RecipientAttestation:ImageSha384": PCR0 } });
    const unwrap = (principal: string, cond: unknown) => ({
      Sid: "WriterUnwrapSealKeys",
      Effect: "Allow",
      Principal: { AWS: principal },
      Action: "kms:Decrypt",
      Resource: "*",
      Condition: cond,
    });
    const own = { StringEquals: { "kms:EncryptionContext:purpose": "express-lane-seal", "kms:EncryptionContext:writer": "loader" } };
    const purposeOnly = { StringEquals: { "kms:EncryptionContext:purpose": "express-lane-seal" } };
    expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, unwrap("arn:aws:iam::1:role/writer", own)]))).toEqual([]);
    expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, unwrap("arn:aws:iam::1:role/host", own)]))).toEqual([
      expect.stringMatching(/WriterUnwrapSealKeys allow kms:Decrypt of writer loader's keys without attestation for arn:aws:iam::1:role\/host, which holds the attested grant/),
    ]);
    expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, unwrap("arn:aws:iam::1:role/writer", undefined)]))).not.toEqual([]);
    expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, unwrap("arn:aws:iam::1:role/writer", purposeOnly)]))).toEqual([
      expect.stringMatching(/without a kms:RecipientAttestation:ImageSha384 condition for arn:aws:iam::1:role\/writer/),
    ]);
    expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, unwrap("*", own)]))).toEqual(expect.arrayContaining([expect.stringMatching(/for any principal/)]));
  });

  describe("escapes the old rule let through, each caught by evaluating requests", () => {
    const attested = hostGrant({ StringEqualsIgnoreCase: { "kms:RecipientAttestation:ImageSha384": PCR0 } });
    const allow = (principal: string, action: unknown, extra: Record<string, unknown> = {}) => ({
      Sid: "Escape",
      Effect: "Allow",
      Principal: { AWS: principal },
      Action: action,
      Resource: "*",
      ...extra,
    });
    test("kms:CreateGrant (a grant hands out Decrypt without the attestation condition)", () => {
      expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, allow("arn:aws:iam::1:role/deploy", "kms:CreateGrant")]))).toEqual([
        expect.stringMatching(/allow kms:CreateGrant on the seal key/),
      ]);
      expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, allow("arn:aws:iam::1:role/deploy", "kms:Create*")]))).toEqual([expect.stringMatching(/kms:CreateGrant/)]);
    });
    test("kms:PutKeyPolicy for the attested host (it could rewrite its own access) or a non-admin", () => {
      expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, allow("arn:aws:iam::1:role/host", "kms:PutKeyPolicy")]))).toEqual([
        expect.stringMatching(/role\/host, which uses the seal key, call kms:PutKeyPolicy/),
      ]);
      expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, allow("arn:aws:iam::1:root", "kms:PutKeyPolicy")]))).toEqual(
        expect.arrayContaining([expect.stringMatching(/any principal .* kms:PutKeyPolicy/)]),
      );
      const declared = (s: TerraformStack) => {
        const p = new KmsKeyPolicy(s, "sealPolicy", {
          keyId: "k",
          policy: JSON.stringify({ Version: "2012-10-17", Statement: [admin, attested, allow("arn:aws:iam::1:role/other", "kms:PutKeyPolicy")] }),
        });
        p.node.addMetadata("express-lane:key-role", "seal");
        p.node.addMetadata("express-lane:key-policy-admins", ["arn:aws:iam::1:role/deploy"]);
      };
      expect(errorsOf(new SealKeyAttestation(), declared)).toEqual([expect.stringMatching(/role\/other call kms:PutKeyPolicy; only the declared key-policy admins may/)]);
    });
    test("kms:ReEncryptFrom / ReEncrypt* (re-encrypting to a key the caller controls reads the plaintext)", () => {
      expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, allow("arn:aws:iam::1:role/writer", "kms:ReEncrypt*")]))).toEqual(
        expect.arrayContaining([expect.stringMatching(/kms:ReEncryptFrom/)]),
      );
    });
    test("wildcards and NotAction that cover Decrypt (kms:De*, NotAction)", () => {
      expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, allow("arn:aws:iam::1:role/writer", "kms:De*")]))).toEqual(
        expect.arrayContaining([expect.stringMatching(/allow kms:Decrypt without/)]),
      );
      const notAction = { Sid: "Escape", Effect: "Allow", Principal: { AWS: "arn:aws:iam::1:role/writer" }, NotAction: "kms:Encrypt", Resource: "*" };
      expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, notAction]))).toEqual(expect.arrayContaining([expect.stringMatching(/allow kms:Decrypt without/)]));
    });
    test("the lane signing key: GenerateDataKeyPair (plaintext private key) or an un-attested Decrypt of it", () => {
      expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, allow("arn:aws:iam::1:role/admin", "kms:GenerateDataKeyPair")]))).toEqual([
        expect.stringMatching(/allow kms:GenerateDataKeyPair on the seal key/),
      ]);
      const laneKeyUnwrap = { ...allow("arn:aws:iam::1:role/admin", "kms:Decrypt"), Condition: { StringEquals: { "kms:EncryptionContext:purpose": "express-lane-lane-key" } } };
      expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, laneKeyUnwrap]))).toEqual([expect.stringMatching(/allow kms:Decrypt without .*express-lane-lane-key/)]);
    });
    test("an attested statement for Principal * (any account's enclave of the image)", () => {
      const anyone = { ...attested, Principal: "*" };
      expect(errorsOf(new SealKeyAttestation(), seal([admin, anyone]))).toEqual(expect.arrayContaining([expect.stringMatching(/any principal/)]));
    });
  });

  test("a seal key whose policy is managed elsewhere: its initial policy grants no Decrypt; the attached policy is checked", () => {
    const initial = (statements: Record<string, unknown>[]) => (s: TerraformStack) =>
      new KmsKey(s, "seal", {
        enableKeyRotation: true,
        tags: { ExpressLaneKeyRole: "seal" },
        lifecycle: { ignoreChanges: ["policy"] },
        policy: JSON.stringify({ Version: "2012-10-17", Statement: statements }),
      });
    expect(errorsOf(new SealKeyAttestation(), initial([admin]))).toEqual([]);
    expect(errorsOf(new SealKeyAttestation(), initial([admin, hostGrant({ StringEqualsIgnoreCase: { "kms:RecipientAttestation:ImageSha384": PCR0 } })]))).toEqual([
      expect.stringMatching(/must not allow kms:Decrypt/),
    ]);
    expect(
      errorsOf(new SealKeyAttestation(), initial([admin, { Effect: "Allow", Principal: { AWS: "arn:aws:iam::1:role/x" }, Action: "kms:CreateGrant", Resource: "*" }])),
    ).toEqual([expect.stringMatching(/must not allow kms:CreateGrant/)]);
    const attached = (statements: Record<string, unknown>[]) => (s: TerraformStack) => {
      const p = new KmsKeyPolicy(s, "sealPolicy", { keyId: "k", policy: JSON.stringify({ Version: "2012-10-17", Statement: statements }) });
      p.node.addMetadata("express-lane:key-role", "seal");
    };
    expect(errorsOf(new SealKeyAttestation(), attached([admin]))).toEqual([expect.stringMatching(/no statement grants/)]);
    expect(errorsOf(new SealKeyAttestation(), attached([admin, hostGrant(undefined)]))).toHaveLength(1);
    expect(errorsOf(new SealKeyAttestation(), attached([admin, hostGrant({ StringEqualsIgnoreCase: { "kms:RecipientAttestation:ImageSha384": PCR0 } })]))).toEqual([]);
  });

  test("keys not tagged as seal keys are ignored", () => {
    expect(errorsOf(new SealKeyAttestation(), (s) => new KmsKey(s, "k", { enableKeyRotation: true }))).toEqual([]);
  });
});

describe("EL-SG-NO-WORLD-INGRESS", () => {
  test("compliant: private CIDR", () => {
    expect(
      errorsOf(
        new NoWorldIngress(),
        (s) => new VpcSecurityGroupIngressRule(s, "r", { securityGroupId: "sg-1", ipProtocol: "tcp", fromPort: 8080, toPort: 8080, cidrIpv4: "10.0.0.0/8" }),
      ),
    ).toEqual([]);
  });
  test("non-compliant: 0.0.0.0/0 rule and inline ::/0", () => {
    expect(
      errorsOf(
        new NoWorldIngress(),
        (s) => new VpcSecurityGroupIngressRule(s, "r", { securityGroupId: "sg-1", ipProtocol: "tcp", fromPort: 22, toPort: 22, cidrIpv4: "0.0.0.0/0" }),
      ),
    ).toEqual([expect.stringMatching(/0\.0\.0\.0\/0/)]);
    expect(
      errorsOf(new NoWorldIngress(), (s) => new SecurityGroup(s, "sg", { ingress: [{ fromPort: 443, toPort: 443, protocol: "tcp", ipv6CidrBlocks: ["::/0"] }] })),
    ).toHaveLength(1);
  });
});

describe("EL-LOG-RETENTION", () => {
  test("compliant: retention set", () => expect(errorsOf(new LogRetention(), (s) => new CloudwatchLogGroup(s, "g", { name: "/x", retentionInDays: 30 }))).toEqual([]));
  test("non-compliant: retention unset", () => expect(errorsOf(new LogRetention(), (s) => new CloudwatchLogGroup(s, "g", { name: "/x" }))).toHaveLength(1));
});

describe("EL-STATE-BUCKET-VERSIONED", () => {
  test("compliant: versioning Enabled on the bucket", () => {
    expect(
      errorsOf(new BucketVersioned(), (s) => {
        const b = new S3Bucket(s, "state", { bucket: "state-bucket" });
        new S3BucketVersioning(s, "v", { bucket: b.id, versioningConfiguration: { status: "Enabled" } });
      }),
    ).toEqual([]);
  });
  test("non-compliant: no versioning, or Suspended", () => {
    expect(errorsOf(new BucketVersioned(), (s) => new S3Bucket(s, "state", { bucket: "state-bucket" }))).toEqual([
      expect.stringMatching(/EL-STATE-BUCKET-VERSIONED.*state-bucket/),
    ]);
    expect(
      errorsOf(new BucketVersioned(), (s) => {
        const b = new S3Bucket(s, "state", { bucket: "state-bucket" });
        new S3BucketVersioning(s, "v", { bucket: b.id, versioningConfiguration: { status: "Suspended" } });
      }),
    ).toHaveLength(1);
  });
});

describe("policy pack", () => {
  test("violations fail a full app synth; compliant stacks synthesize", () => {
    const bad = new App({ outdir: Testing.app().outdir });
    const stack = new TerraformStack(bad, "bad");
    new AwsProvider(stack, "aws", { region: "ap-south-1" });
    new IamRole(stack, "r", { assumeRolePolicy: policyDoc({ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }) });
    new IamRolePolicy(stack, "p", { role: "r", policy: policyDoc({ Effect: "Allow", Action: "*", Resource: "*" }) });
    applyPolicies(bad);
    expect(() => bad.synth()).toThrow(/EL-IAM-NO-WILDCARD/);

    const good = new App({ outdir: Testing.app().outdir });
    const ok = new TerraformStack(good, "good");
    new AwsProvider(ok, "aws", { region: "ap-south-1" });
    new CloudwatchLogGroup(ok, "g", { name: "/x", retentionInDays: 7 });
    applyPolicies(good);
    expect(() => good.synth()).not.toThrow();
  });
});
