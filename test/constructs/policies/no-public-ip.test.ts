import { Subnet } from "../../../constructs/aws";
import { InternetGateway } from "@cdktf/provider-aws/lib/internet-gateway";
import { NatGateway } from "@cdktf/provider-aws/lib/nat-gateway";
import { NoPublicIp } from "../../../constructs/policies";
import { errorsOf, lt } from "./helpers";

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
