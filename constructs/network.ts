/**
 * A private, single-AZ network for the lane: a VPC with private subnet(s) placed by AZ ID,
 * gateway endpoints for S3 Express (data path) and S3 (artifacts, AL2023 package repos),
 * interface endpoints for what hosts and the enclave need, and no NAT or internet gateway.
 */
import { Construct } from "constructs";
import { RouteTable, RouteTableAssociation, SecurityGroup, Subnet, Vpc, VpcEndpoint, VpcSecurityGroupEgressRule, VpcSecurityGroupIngressRule } from "./aws";

/** Interface endpoints: KMS (enclave via vsock-proxy), SSM access, CloudWatch agent, STS. */
export const DEFAULT_INTERFACE_ENDPOINTS: readonly string[] = ["kms", "ssm", "ssmmessages", "ec2messages", "monitoring", "logs", "sts"];

export interface NetworkProps {
  readonly region: string;
  /** AZ ID (e.g. `aps1-az1`): every subnet is placed in this zone. */
  readonly availabilityZoneId: string;
  /** @default "10.40.0.0/16" */
  readonly vpcCidr?: string;
  /** One private subnet per CIDR, all in the same AZ. @default ["10.40.0.0/24"] */
  readonly subnetCidrs?: readonly string[];
  /** Port the reader (runtime) listens on. */
  readonly readerPort: number;
  /** Client networks allowed to reach the reader port. */
  readonly clientCidrs: readonly string[];
  /** Client security groups allowed to reach the reader port. @default none */
  readonly clientSecurityGroupIds?: readonly string[];
  /** @default DEFAULT_INTERFACE_ENDPOINTS */
  readonly interfaceEndpoints?: readonly string[];
  readonly namePrefix: string;
}

export class Network extends Construct {
  /** The L1 VPC. */
  readonly resource: Vpc;
  readonly vpcId: string;
  readonly vpcCidr: string;
  readonly subnets: readonly Subnet[];
  readonly subnetIds: readonly string[];
  readonly routeTable: RouteTable;
  /** Security group of the reader hosts (ingress only on the reader port). */
  readonly hostSecurityGroup: SecurityGroup;
  readonly endpointSecurityGroup: SecurityGroup;
  readonly s3ExpressEndpoint: VpcEndpoint;
  readonly s3Endpoint: VpcEndpoint;
  readonly interfaceEndpoints: Readonly<Record<string, VpcEndpoint>>;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    this.vpcCidr = props.vpcCidr ?? "10.40.0.0/16";
    const tags = (name: string) => ({ Name: `${props.namePrefix}-${name}` });
    this.resource = new Vpc(this, "Resource", { cidrBlock: this.vpcCidr, enableDnsHostnames: true, enableDnsSupport: true, tags: tags("vpc") });
    this.vpcId = this.resource.id;

    this.routeTable = new RouteTable(this, "PrivateRoutes", { vpcId: this.vpcId, tags: tags("private") });
    this.subnets = (props.subnetCidrs ?? ["10.40.0.0/24"]).map((cidr, i) => {
      const subnet = new Subnet(this, `Private${i}`, {
        vpcId: this.vpcId,
        cidrBlock: cidr,
        availabilityZoneId: props.availabilityZoneId,
        mapPublicIpOnLaunch: false,
        tags: tags(`private-${props.availabilityZoneId}-${i}`),
      });
      new RouteTableAssociation(this, `Private${i}Routes`, { subnetId: subnet.id, routeTableId: this.routeTable.id });
      return subnet;
    });
    this.subnetIds = this.subnets.map((s) => s.id);

    this.s3ExpressEndpoint = new VpcEndpoint(this, "S3ExpressGateway", {
      vpcId: this.vpcId,
      serviceName: `com.amazonaws.${props.region}.s3express`,
      vpcEndpointType: "Gateway",
      routeTableIds: [this.routeTable.id],
      tags: tags("s3express"),
    });
    this.s3Endpoint = new VpcEndpoint(this, "S3Gateway", {
      vpcId: this.vpcId,
      serviceName: `com.amazonaws.${props.region}.s3`,
      vpcEndpointType: "Gateway",
      routeTableIds: [this.routeTable.id],
      tags: tags("s3"),
    });

    this.endpointSecurityGroup = new SecurityGroup(this, "EndpointSg", {
      vpcId: this.vpcId,
      name: `${props.namePrefix}-endpoints`,
      description: "HTTPS from inside the VPC to interface endpoints",
      tags: tags("endpoints"),
    });
    new VpcSecurityGroupIngressRule(this, "EndpointHttpsIn", {
      securityGroupId: this.endpointSecurityGroup.id,
      ipProtocol: "tcp",
      fromPort: 443,
      toPort: 443,
      cidrIpv4: this.vpcCidr,
      description: "HTTPS from the VPC",
    });

    const services = props.interfaceEndpoints ?? DEFAULT_INTERFACE_ENDPOINTS;
    const endpoints: Record<string, VpcEndpoint> = {};
    for (const svc of services) {
      endpoints[svc] = new VpcEndpoint(this, `Endpoint-${svc}`, {
        vpcId: this.vpcId,
        serviceName: `com.amazonaws.${props.region}.${svc}`,
        vpcEndpointType: "Interface",
        privateDnsEnabled: true,
        subnetIds: [...this.subnetIds],
        securityGroupIds: [this.endpointSecurityGroup.id],
        tags: tags(svc),
      });
    }
    this.interfaceEndpoints = endpoints;

    this.hostSecurityGroup = new SecurityGroup(this, "HostSg", {
      vpcId: this.vpcId,
      name: `${props.namePrefix}-hosts`,
      description: `Reader port ${props.readerPort} from configured clients only`,
      tags: tags("hosts"),
    });
    props.clientCidrs.forEach((cidr, i) => {
      new VpcSecurityGroupIngressRule(this, `ReaderFromCidr${i}`, {
        securityGroupId: this.hostSecurityGroup.id,
        ipProtocol: "tcp",
        fromPort: props.readerPort,
        toPort: props.readerPort,
        cidrIpv4: cidr,
        description: `reader port from ${cidr}`,
      });
    });
    (props.clientSecurityGroupIds ?? []).forEach((sg, i) => {
      new VpcSecurityGroupIngressRule(this, `ReaderFromSg${i}`, {
        securityGroupId: this.hostSecurityGroup.id,
        ipProtocol: "tcp",
        fromPort: props.readerPort,
        toPort: props.readerPort,
        referencedSecurityGroupId: sg,
        description: `reader port from ${sg}`,
      });
    });
    if (!props.clientCidrs.includes(this.vpcCidr)) {
      // NLB health checks come from the load balancer's private addresses in the VPC.
      new VpcSecurityGroupIngressRule(this, "ReaderFromVpc", {
        securityGroupId: this.hostSecurityGroup.id,
        ipProtocol: "tcp",
        fromPort: props.readerPort,
        toPort: props.readerPort,
        cidrIpv4: this.vpcCidr,
        description: "NLB health checks",
      });
    }
    new VpcSecurityGroupEgressRule(this, "HostToEndpoints", {
      securityGroupId: this.hostSecurityGroup.id,
      ipProtocol: "tcp",
      fromPort: 443,
      toPort: 443,
      cidrIpv4: this.vpcCidr,
      description: "interface endpoints",
    });
    new VpcSecurityGroupEgressRule(this, "HostToS3Express", {
      securityGroupId: this.hostSecurityGroup.id,
      ipProtocol: "tcp",
      fromPort: 443,
      toPort: 443,
      prefixListId: this.s3ExpressEndpoint.prefixListId,
      description: "S3 Express gateway endpoint",
    });
    new VpcSecurityGroupEgressRule(this, "HostToS3", {
      securityGroupId: this.hostSecurityGroup.id,
      ipProtocol: "tcp",
      fromPort: 443,
      toPort: 443,
      prefixListId: this.s3Endpoint.prefixListId,
      description: "S3 gateway endpoint (artifacts, dnf repositories)",
    });
  }
}
