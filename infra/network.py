"""VPC, one vswitch per zone used, and the security group that is the whole public surface."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_alicloud import ecs, vpc

from contracts import template_default

# The ports nginx serves the site on (config/defaults.yml): what the security group and the CLB open.
HTTP_PORT: int = template_default("raindrop_http_port")
HTTPS_PORT: int = template_default("raindrop_https_port")


@dataclass
class NetworkArgs:
    vpc_cidr: str
    # One (zone, CIDR) pair per vswitch; the zones are Outputs when looked up from the region.
    switches: Sequence[tuple[pulumi.Input[str], str]]
    admin_port: int
    admin_cidrs: Sequence[str]
    ssh_cidrs: Sequence[str]
    # nginx on the host terminates TLS (tls acme/provided on one host): 443 is open to the world like 80.
    # In scale-out TLS ends at the CLB, whose listeners no security group filters, so the hosts keep 80 only.
    https: bool = False


class Network(pulumi.ComponentResource):
    """The VPC and its security group: tcp/80 (and 443 with https) from anywhere, the admin port and 22 only from
    allowlists."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("raindrop:infra:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.vpc = vpc.Network(f"{name}-vpc", vpc_name=f"{name}-vpc", cidr_block=args.vpc_cidr, opts=child)
        self.switches = [
            vpc.Switch(
                f"{name}-vswitch-{i}",
                vswitch_name=f"{name}-vswitch-{i}",
                vpc_id=self.vpc.id,
                zone_id=zone,
                cidr_block=cidr,
                opts=child,
            )
            for i, (zone, cidr) in enumerate(args.switches)
        ]
        self.security_group = ecs.SecurityGroup(
            f"{name}-sg",
            security_group_name=f"{name}-sg",
            description="Raindrop: web to the world, admin and ssh to allowlisted networks",
            vpc_id=self.vpc.id,
            # Instances in the group do not trust each other by default; the scale-out LB reaches them on 80.
            inner_access_policy="Drop",
            opts=child,
        )

        self.rules: list[ecs.SecurityGroupRule] = [self._ingress(name, "web", HTTP_PORT, "0.0.0.0/0")]
        if args.https:
            self.rules.append(self._ingress(name, "https", HTTPS_PORT, "0.0.0.0/0"))
        self.rules += [self._ingress(name, f"admin-{i}", args.admin_port, c) for i, c in enumerate(args.admin_cidrs)]
        self.rules += [self._ingress(name, f"ssh-{i}", 22, c) for i, c in enumerate(args.ssh_cidrs)]

        self.register_outputs(
            {"vpc_id": self.vpc.id, "security_group_id": self.security_group.id,
             "vswitch_ids": [s.id for s in self.switches]}
        )

    @property
    def vswitch_cidrs(self) -> list[pulumi.Output[str]]:
        return [s.cidr_block for s in self.switches]

    def _ingress(self, name: str, suffix: str, port: int, cidr: str) -> ecs.SecurityGroupRule:
        return ecs.SecurityGroupRule(
            f"{name}-in-{suffix}",
            type="ingress",
            ip_protocol="tcp",
            nic_type="intranet",  # VPC groups only take "intranet"; it covers the instance's public IP too
            policy="accept",
            port_range=f"{port}/{port}",
            priority=1,
            cidr_ip=cidr,
            security_group_id=self.security_group.id,
            description=f"raindrop {suffix}",
            opts=pulumi.ResourceOptions(parent=self),
        )
