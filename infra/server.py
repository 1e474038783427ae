"""The ECS host(s) and the seam the deploy half plugs into."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_alicloud import ecs

SSH_USER = "root"
# Debian 12 public images are named like "debian_12_10_x64_20G_alibase_20250613.vhd".
DEBIAN_12_IMAGE_REGEX = r"^debian_12_\d+_x64"


@dataclass(frozen=True)
class Host:
    """What a command resource needs to reach one host: the seam for the deploy (app/).

    `instance` is the ECS instance the commands wait for; None for a server that already exists
    (`raindrop:hosts`), which nothing in the stack creates.
    """

    name: str
    instance: pulumi.Resource | None
    address: pulumi.Output[str]
    private_address: pulumi.Output[str]
    user: str
    private_key: pulumi.Output[str]
    port: int = 22


@dataclass
class ServerArgs:
    instance_type: str
    instance_count: int
    vswitch_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    ssh_public_key: pulumi.Input[str]
    ssh_private_key: pulumi.Output[str]
    image_id: str | None = None
    bandwidth_mbps: int = 10
    system_disk_gb: int = 40


class Server(pulumi.ComponentResource):
    """One key pair and N instances, spread round-robin over the given vswitches (and so over zones)."""

    def __init__(self, name: str, args: ServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("raindrop:infra:Server", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        image_id: pulumi.Input[str] = args.image_id or ecs.get_images_output(
            name_regex=DEBIAN_12_IMAGE_REGEX,
            owners="system",
            most_recent=True,
            instance_type=args.instance_type,
            opts=pulumi.InvokeOutputOptions(parent=self),
        ).apply(_first_image_id)

        self.key_pair = ecs.EcsKeyPair(
            f"{name}-key", key_pair_name=f"{name}-key", public_key=args.ssh_public_key, opts=child
        )

        self.hosts = []
        for i in range(args.instance_count):
            host_name = f"{name}-{i}"
            instance = ecs.Instance(
                host_name,
                instance_name=host_name,
                host_name=host_name,
                instance_type=args.instance_type,
                image_id=image_id,
                vswitch_id=args.vswitch_ids[i % len(args.vswitch_ids)],
                security_groups=[args.security_group_id],
                key_name=self.key_pair.key_pair_name,
                # A bandwidth above 0 is what gives a VPC instance its public IP.
                internet_max_bandwidth_out=args.bandwidth_mbps,
                internet_charge_type="PayByTraffic",
                instance_charge_type="PostPaid",
                system_disk_category="cloud_essd",
                system_disk_size=args.system_disk_gb,
                system_disk_encrypted=True,
                tags={"project": "raindrop", "role": "app", "index": str(i)},
                opts=child,
            )
            self.hosts.append(
                Host(
                    name=host_name,
                    instance=instance,
                    address=instance.public_ip,
                    private_address=instance.primary_ip_address,
                    user=SSH_USER,
                    private_key=pulumi.Output.secret(args.ssh_private_key),
                )
            )

        self.register_outputs({"public_ips": [h.address for h in self.hosts]})


def _first_image_id(result: ecs.GetImagesResult) -> str:
    if not result.images:
        raise ValueError(
            "raindrop:imageId: no Debian 12 public image matches this region and instance type; set imageId"
        )
    return result.images[0].id
