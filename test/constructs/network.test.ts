import { TerraformStack, Testing } from "cdktf";
import { DEFAULT_INTERFACE_ENDPOINTS, Network, type NetworkProps } from "../../constructs/network";

const props: NetworkProps = { region: "ap-south-1", availabilityZoneId: "aps1-az1", readerPort: 8080, clientCidrs: ["10.1.0.0/16"], namePrefix: "lane" };

function synth(over: Partial<NetworkProps> = {}) {
  const s = new TerraformStack(Testing.app(), "s");
  new Network(s, "net", { ...props, ...over });
  return JSON.parse(Testing.synth(s)).resource as Record<string, Record<string, Record<string, unknown>>>;
}
const all = (tf: ReturnType<typeof synth>, type: string) => Object.values(tf[type] ?? {});

describe("Network", () => {
  it("is private: no internet or NAT gateway, subnets never map public IPs, all in the one AZ ID", () => {
    const tf = synth({ subnetCidrs: ["10.40.0.0/24", "10.40.1.0/24"] });
    expect(tf.aws_internet_gateway).toBeUndefined();
    expect(tf.aws_nat_gateway).toBeUndefined();
    const subnets = all(tf, "aws_subnet");
    expect(subnets).toHaveLength(2);
    for (const s of subnets) expect(s).toMatchObject({ availability_zone_id: "aps1-az1", map_public_ip_on_launch: false });
    expect(all(tf, "aws_route_table_association")).toHaveLength(2);
  });

  it("has gateway endpoints for S3 Express and S3, and the interface endpoints asked for with private DNS", () => {
    const tf = synth();
    const endpoints = all(tf, "aws_vpc_endpoint") as Array<{ service_name: string; vpc_endpoint_type: string; private_dns_enabled?: boolean }>;
    const gateways = endpoints.filter((e) => e.vpc_endpoint_type === "Gateway").map((e) => e.service_name);
    expect(gateways.sort()).toEqual(["com.amazonaws.ap-south-1.s3", "com.amazonaws.ap-south-1.s3express"]);
    const interfaces = endpoints.filter((e) => e.vpc_endpoint_type === "Interface");
    expect(interfaces.map((e) => e.service_name.split(".").pop()).sort()).toEqual([...DEFAULT_INTERFACE_ENDPOINTS].sort());
    for (const e of interfaces) expect(e.private_dns_enabled).toBe(true);
    expect(all(synth({ interfaceEndpoints: ["kms"] }), "aws_vpc_endpoint")).toHaveLength(3);
  });

  it("opens the reader port to the configured clients and the VPC (NLB health checks), and nothing else", () => {
    const tf = synth({ clientSecurityGroupIds: ["sg-client"] });
    const ingress = all(tf, "aws_vpc_security_group_ingress_rule") as Array<Record<string, unknown>>;
    const reader = ingress.filter((r) => r.from_port === 8080);
    expect(reader.map((r) => r.cidr_ipv4 ?? r.referenced_security_group_id).sort()).toEqual(["10.1.0.0/16", "10.40.0.0/16", "sg-client"]);
    for (const r of reader) expect(r).toMatchObject({ to_port: 8080, ip_protocol: "tcp" });
    const others = ingress.filter((r) => r.from_port !== 8080);
    expect(others).toEqual([expect.objectContaining({ from_port: 443, cidr_ipv4: "10.40.0.0/16" })]); // endpoints: HTTPS from the VPC
  });

  it("adds no separate VPC rule when the VPC is already a client network", () => {
    const tf = synth({ clientCidrs: ["10.40.0.0/16"] });
    const reader = (all(tf, "aws_vpc_security_group_ingress_rule") as Array<Record<string, unknown>>).filter((r) => r.from_port === 8080);
    expect(reader).toHaveLength(1);
  });

  it("hosts may leave only on 443, to the VPC's endpoints and the two S3 gateway prefix lists", () => {
    const egress = all(synth(), "aws_vpc_security_group_egress_rule") as Array<Record<string, unknown>>;
    expect(egress).toHaveLength(3);
    for (const r of egress) expect(r).toMatchObject({ from_port: 443, to_port: 443, ip_protocol: "tcp" });
    expect(egress.filter((r) => r.prefix_list_id !== undefined)).toHaveLength(2);
    expect(egress.some((r) => r.cidr_ipv4 === "0.0.0.0/0")).toBe(false);
  });
});
