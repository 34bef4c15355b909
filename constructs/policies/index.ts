/**
 * Express Lane policy pack: one rule per file, applied as cdktf Aspects.
 * `applyPolicies(scope)` adds every rule; violations become error annotations that make
 * `app.synth()` throw.
 */
import { Aspects, IAspect } from "cdktf";
import { IConstruct } from "constructs";
import { BucketVersioned } from "./bucket-versioned";
import { EncryptedVolumes } from "./encrypted-volumes";
import { IamNoWildcards } from "./iam-no-wildcards";
import { Imdsv2Required } from "./imdsv2-required";
import { KmsRotation } from "./kms-rotation";
import { LogRetention } from "./log-retention";
import { NoPublicIp } from "./no-public-ip";
import { NoWorldIngress } from "./no-world-ingress";
import { SealKeyAttestation } from "./seal-key-attestation";

export { BucketVersioned, EncryptedVolumes, IamNoWildcards, Imdsv2Required, KmsRotation, LogRetention, NoPublicIp, NoWorldIngress, SealKeyAttestation };
export { policyErrors } from "./rule";

export function allRules(): IAspect[] {
  return [
    new Imdsv2Required(),
    new NoPublicIp(),
    new EncryptedVolumes(),
    new KmsRotation(),
    new IamNoWildcards(),
    new SealKeyAttestation(),
    new NoWorldIngress(),
    new LogRetention(),
    new BucketVersioned(),
  ];
}

export function applyPolicies(scope: IConstruct): void {
  for (const rule of allRules()) Aspects.of(scope).add(rule);
}
