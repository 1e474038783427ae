"""Passwords and the SSH key pair: taken from secret config when given, otherwise generated and kept secret."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random
import pulumi_tls as tls


@dataclass
class SecretsArgs:
    db_password: pulumi.Output[str] | None = None
    admin_password: pulumi.Output[str] | None = None
    redis_password: pulumi.Output[str] | None = None
    secret_key: pulumi.Output[str] | None = None
    ssh_public_key: str | None = None
    ssh_private_key: pulumi.Output[str] | None = None


class Secrets(pulumi.ComponentResource):
    """Every secret the stack needs, each a secret Output whatever its source."""

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("raindrop:infra:Secrets", name, None, opts)
        self._name = name
        self.db_password = self._password("db", args.db_password)
        self.admin_password = self._password("admin", args.admin_password)
        self.redis_password = self._password("redis", args.redis_password)
        self.secret_key = self._password("flask-secret-key", args.secret_key, length=48)

        if args.ssh_private_key is not None and args.ssh_public_key is not None:
            self.ssh_public_key = pulumi.Output.from_input(args.ssh_public_key)
            self.ssh_private_key = pulumi.Output.secret(args.ssh_private_key)
        else:
            # RSA because every ECS image and region accepts it for an imported key pair.
            key = tls.PrivateKey(
                f"{name}-ssh-key", algorithm="RSA", rsa_bits=4096, opts=pulumi.ResourceOptions(parent=self)
            )
            self.ssh_public_key = key.public_key_openssh
            self.ssh_private_key = pulumi.Output.secret(key.private_key_openssh)

        self.register_outputs({})

    def _password(self, purpose: str, given: pulumi.Output[str] | None, length: int = 32) -> pulumi.Output[str]:
        if given is not None:
            return pulumi.Output.secret(given)
        generated = random.RandomPassword(
            f"{self._name}-{purpose}",
            length=length,
            # Letters and digits only: these values land in my.cnf, redis.conf, env files and URLs unescaped.
            special=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return pulumi.Output.secret(generated.result)
