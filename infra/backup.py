"""The off-host half of the backups on a single host: who may write the bucket's backups/ prefix.

An ECS RAM role, attached to the instance: the host reads its temporary credentials from the instance
metadata service (app/backup_oss.py), so no access key sits in a file, and the role's policy allows only
putting (and, for a restore on a replacement host, getting) objects under that prefix. The bucket's lifecycle
rule (infra/storage.py) expires old copies; the bucket policy never lets browsers read them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_alicloud import ecs, ram

# ECS instances assume the role: the trust policy names the ECS service, nobody else.
ECS_TRUST_POLICY = json.dumps(
    {
        "Version": "1",
        "Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": ["ecs.aliyuncs.com"]}}],
    },
    sort_keys=True,
)


@dataclass
class BackupWriterArgs:
    bucket: pulumi.Input[str]
    prefix: str
    instance_ids: Sequence[pulumi.Input[str]]


class BackupWriter(pulumi.ComponentResource):
    """A RAM role for the app host(s), whose only right is the bucket's backups prefix, attached to each."""

    def __init__(self, name: str, args: BackupWriterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("raindrop:infra:BackupWriter", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = ram.Role(
            f"{name}-role",
            role_name=f"{name}-role",
            assume_role_policy_document=ECS_TRUST_POLICY,
            description="Raindrop hosts: write backups to the bucket's backups/ prefix",
            opts=child,
        )
        self.policy = ram.Policy(
            f"{name}-policy",
            policy_name=f"{name}-policy",
            policy_document=pulumi.Output.from_input(args.bucket).apply(lambda b: backup_policy(b, args.prefix)),
            opts=child,
        )
        self.grant = ram.RolePolicyAttachment(
            f"{name}-grant", role_name=self.role.role_name, policy_name=self.policy.policy_name,
            policy_type="Custom", opts=child,
        )
        self.attachments = [
            ecs.RamRoleAttachment(
                f"{name}-attach-{i}", instance_id=instance_id, ram_role_name=self.role.role_name,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.grant]),
            )
            for i, instance_id in enumerate(args.instance_ids)
        ]
        self.role_name = self.role.role_name
        self.register_outputs({"role": self.role_name})


def backup_policy(bucket: str, prefix: str) -> str:
    """The RAM policy document limiting the role to objects under one prefix of one bucket."""
    return json.dumps(
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["oss:PutObject", "oss:GetObject"],
                    "Resource": [f"acs:oss:*:*:{bucket}/{prefix}*"],
                }
            ],
        },
        sort_keys=True,
    )
