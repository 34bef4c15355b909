/**
 * Express Lane policy pack: one rule per file, applied as cdktf Aspects.
 * `applyPolicies(scope)` adds every rule; violations become error annotations that make
 * `app.synth()` throw.
 */
import { Aspects, IAspect, TerraformStack } from "cdktf";
import { IConstruct } from "constructs";
import { BucketVersioned } from "./bucket-versioned";
import { EncryptedVolumes } from "./encrypted-volumes";
import { IamNoWildcards } from "./iam-no-wildcards";
import { Imdsv2Required } from "./imdsv2-required";
import { KmsRotation } from "./kms-rotation";
import { LogRetention } from "./log-retention";
import { NoPublicIp } from "./no-public-ip";
import { NoWorldIngress } from "./no-world-ingress";
import { RolePermissionsBoundary } from "./role-boundary";
import { SealKeyAttestation } from "./seal-key-attestation";
import { SigningKeyPolicy } from "./signing-key";

export {
  BucketVersioned,
  EncryptedVolumes,
  IamNoWildcards,
  Imdsv2Required,
  KmsRotation,
  LogRetention,
  NoPublicIp,
  NoWorldIngress,
  RolePermissionsBoundary,
  SealKeyAttestation,
  SigningKeyPolicy,
};
export { policyErrors } from "./rule";
export { PolicySuppressions } from "./suppressions";

export function allRules(): IAspect[] {
  return [
    new Imdsv2Required(),
    new NoPublicIp(),
    new EncryptedVolumes(),
    new KmsRotation(),
    new IamNoWildcards(),
    new SealKeyAttestation(),
    new SigningKeyPolicy(),
    new RolePermissionsBoundary(),
    new NoWorldIngress(),
    new LogRetention(),
    new BucketVersioned(),
  ];
}

/**
 * Adds every rule to each stack in `scope`. cdktf invokes aspects per stack, starting at the
 * stack (aspects added to the App are not inherited), so rules must be attached to stacks.
 */
export function applyPolicies(scope: IConstruct): void {
  const stacks = scope.node.findAll().filter((c): c is TerraformStack => c instanceof TerraformStack);
  if (stacks.length === 0) throw new Error(`applyPolicies: no TerraformStack under ${scope.node.path || "the app"}; call it after creating the stacks`);
  for (const stack of stacks) for (const rule of allRules()) Aspects.of(stack).add(rule);
}
