import { SecurityGroup, VpcSecurityGroupIngressRule } from "../../../constructs/aws";
import { NoWorldIngress } from "../../../constructs/policies";
import { errorsOf } from "./helpers";

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
