"""The distributed shape (instanceCount > 1): a load balancer, ApsaraDB RDS MySQL, Tair/KVStore Redis,
and an access key that may only write the bucket's uploads prefix.

With several app hosts, nothing stateful can live on one of them: the database, Redis (cache, Celery
broker, Socket.IO message queue) and uploads all move to managed services that every host reaches.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_alicloud import kvstore, ram, rds, slb

from contracts import HEALTH_PATH, template_default
from infra.network import HTTP_PORT, HTTPS_PORT

# The app's database and user on RDS: the same names the hosts' env file and the local MariaDB use.
DB_NAME: str = template_default("raindrop_db_name")
DB_USER: str = template_default("raindrop_db_user")
EVERY_DAY = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass
class LoadBalancerArgs:
    instance_ids: Sequence[pulumi.Input[str]]
    # HTTPS at the CLB (tls provided): the PEM certificate chain and key, or a certificate-service (CAS) id.
    # None of them: the CLB serves plain http on :80 (tls none).
    certificate: pulumi.Input[str] | None = None
    private_key: pulumi.Input[str] | None = None
    certificate_id: str | None = None

    @property
    def https(self) -> bool:
        return self.certificate_id is not None or self.certificate is not None


# TLS 1.2 and up with forward-secret ciphers: the closest CLB policy to Mozilla's "intermediate" profile (the
# provider's docs list tls_cipher_policy_1_0, _1_1, _1_2 and _1_2_strict; the default is _1_0).
TLS_CIPHER_POLICY = "tls_cipher_policy_1_2"


class LoadBalancer(pulumi.ComponentResource):
    """A public CLB over every app host on their :80, health-checked on the app's health path.

    With a certificate it terminates TLS: an https listener on :443 forwards to the hosts' :80, and the :80
    listener only redirects to it. Certificates cannot be issued per host behind a load balancer (kamal#1377),
    so the certificate lives here, and the hosts serve plain http behind it.
    """

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("raindrop:infra:LoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.lb = slb.ApplicationLoadBalancer(
            f"{name}-clb",
            load_balancer_name=f"{name}-clb",
            address_type="internet",
            internet_charge_type="PayByTraffic",
            load_balancer_spec="slb.s1.small",
            payment_type="PayAsYouGo",
            opts=child,
        )
        self.server_group = slb.ServerGroup(f"{name}-servers", load_balancer_id=self.lb.id, name=f"{name}-servers",
                                            opts=child)
        self.attachments = [
            slb.ServerGroupServerAttachment(
                f"{name}-server-{i}", server_group_id=self.server_group.id, server_id=instance_id, port=HTTP_PORT,
                weight=100, opts=child,
            )
            for i, instance_id in enumerate(args.instance_ids)
        ]
        after_attachments = pulumi.ResourceOptions(parent=self, depends_on=self.attachments)
        self.certificate: slb.ServerCertificate | None = None
        self.https_listener: slb.Listener | None = None
        if not args.https:
            self.listener = slb.Listener(
                f"{name}-http", load_balancer_id=self.lb.id, protocol="http", frontend_port=HTTP_PORT,
                **_to_backends(self.server_group.id), opts=after_attachments,
            )
        else:
            if args.certificate_id is not None:
                # alicloud_certificate_id, not the deprecated alicloud_certifacte_id (the SDK's ServerCertificateArgs
                # marks the misspelt one deprecated since provider 1.68.0). Its docstring also says the CAS id "is
                # not supported on the international site of alibaba cloud now": there, give the PEM pair.
                source: dict[str, pulumi.Input[str]] = {"alicloud_certificate_id": args.certificate_id}
            else:
                source = {"server_certificate": args.certificate, "private_key": args.private_key}  # type: ignore[dict-item]
            self.certificate = slb.ServerCertificate(f"{name}-cert", name=f"{name}-cert", **source, opts=child)
            self.https_listener = slb.Listener(
                f"{name}-https",
                load_balancer_id=self.lb.id,
                protocol="https",
                frontend_port=HTTPS_PORT,
                # server_certificate_id, not the deprecated ssl_certificate_id (deprecated since provider 1.59.0).
                server_certificate_id=self.certificate.id,
                tls_cipher_policy=TLS_CIPHER_POLICY,
                enable_http2="on",
                # The hosts see http; X-Forwarded-Proto tells the app the browser came over https.
                x_forwarded_for={"retrive_slb_proto": True},
                **_to_backends(self.server_group.id),
                opts=after_attachments,
            )
            # The CLB's own http→https redirect. The provider's slb_listener docs: "Once enable the http redirect
            # to https function, any parameters excepted forward_port, listener_forward, load_balancer_id,
            # frontend_port, protocol will be ignored", so it gets those five only; the target listener must exist.
            self.listener = slb.Listener(
                f"{name}-http",
                load_balancer_id=self.lb.id,
                protocol="http",
                frontend_port=HTTP_PORT,
                listener_forward="on",
                forward_port=HTTPS_PORT,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.https_listener]),
            )
        self.address = self.lb.address
        self.register_outputs({"address": self.address})


def _to_backends(server_group_id: pulumi.Input[str]) -> dict[str, object]:
    """What the listener that forwards to the hosts sets, http or https alike: their :80, the health check and
    the sticky sessions."""
    return {
        "backend_port": HTTP_PORT,
        "server_group_id": server_group_id,
        "bandwidth": -1,
        "health_check": "on",
        "health_check_type": "http",
        "health_check_uri": HEALTH_PATH,
        "health_check_connect_port": HTTP_PORT,
        "health_check_http_code": "http_2xx",
        "health_check_interval": 5,
        "healthy_threshold": 2,
        "unhealthy_threshold": 3,
        # Socket.IO's polling transport must keep hitting the host that holds its session.
        "sticky_session": "on",
        "sticky_session_type": "insert",
        "cookie_timeout": 86400,
    }


@dataclass
class DatabaseArgs:
    vswitch_id: pulumi.Input[str]
    zone_id: pulumi.Input[str]
    allowed_cidrs: Sequence[pulumi.Input[str]]
    password: pulumi.Output[str]
    backup_window: str = "03:00Z-04:00Z"  # UTC, whole hours (RDS's rule)
    backup_days: int = 30
    instance_type: str = "mysql.n2.small.2c"
    storage_gb: int = 20


class Database(pulumi.ComponentResource):
    """ApsaraDB RDS MySQL 8.0 reachable only from the app vswitches, with a least-privilege app account."""

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("raindrop:infra:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.instance = rds.Instance(
            f"{name}-rds",
            instance_name=f"{name}-rds",
            engine="MySQL",
            engine_version="8.0",
            category="Basic",
            instance_type=args.instance_type,
            instance_storage=args.storage_gb,
            db_instance_storage_type="cloud_essd",
            instance_charge_type="Postpaid",
            vswitch_id=args.vswitch_id,
            zone_id=args.zone_id,
            security_ips=args.allowed_cidrs,
            opts=child,
        )
        self.database = rds.Database(
            f"{name}-db", instance_id=self.instance.id, data_base_name=DB_NAME, character_set="utf8mb4", opts=child
        )
        self.account = rds.RdsAccount(
            f"{name}-account",
            db_instance_id=self.instance.id,
            account_name=DB_USER,
            account_password=args.password,
            account_type="Normal",
            opts=child,
        )
        self.privilege = rds.AccountPrivilege(
            f"{name}-privilege",
            instance_id=self.instance.id,
            account_name=self.account.account_name,
            privilege="ReadWrite",
            db_names=[self.database.data_base_name],
            opts=child,
        )
        # The database lives here, not on a host: RDS backs it up daily in the window and keeps it for the days.
        self.backup_policy = rds.BackupPolicy(
            f"{name}-backups",
            instance_id=self.instance.id,
            preferred_backup_periods=list(EVERY_DAY),
            preferred_backup_time=args.backup_window,
            backup_retention_period=args.backup_days,
            opts=child,
        )
        self.host = self.instance.connection_string
        self.register_outputs({"host": self.host})


@dataclass
class CacheArgs:
    vswitch_id: pulumi.Input[str]
    zone_id: pulumi.Input[str]
    allowed_cidrs: Sequence[pulumi.Input[str]]
    password: pulumi.Output[str]
    instance_class: str = "redis.master.small.default"


class Cache(pulumi.ComponentResource):
    """Tair/KVStore Redis with a password and an allowlist of the app vswitches."""

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("raindrop:infra:Cache", name, None, opts)
        self.instance = kvstore.Instance(
            f"{name}-redis",
            db_instance_name=f"{name}-redis",
            instance_type="Redis",
            engine_version="7.0",
            instance_class=args.instance_class,
            payment_type="PostPaid",
            vswitch_id=args.vswitch_id,
            zone_id=args.zone_id,
            password=args.password,
            security_ips=args.allowed_cidrs,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.host = self.instance.connection_domain
        self.register_outputs({"host": self.host})


@dataclass
class UploadWriterArgs:
    bucket: pulumi.Input[str]
    prefix: str


class UploadWriter(pulumi.ComponentResource):
    """A RAM user whose only right is to put and read objects under the bucket's uploads prefix."""

    def __init__(self, name: str, args: UploadWriterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("raindrop:infra:UploadWriter", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.user = ram.User(f"{name}-user", name=f"{name}-user", comments="Raindrop uploads to OSS", opts=child)
        self.policy = ram.Policy(
            f"{name}-policy",
            policy_name=f"{name}-policy",
            policy_document=pulumi.Output.from_input(args.bucket).apply(lambda b: upload_policy(b, args.prefix)),
            opts=child,
        )
        self.attachment = ram.UserPolicyAttachment(
            f"{name}-attach", user_name=self.user.name, policy_name=self.policy.policy_name, policy_type="Custom",
            opts=child,
        )
        self.key = ram.AccessKey(f"{name}-key", user_name=self.user.name, opts=child)
        self.access_key_id = self.key.id
        self.access_key_secret = pulumi.Output.secret(self.key.secret)
        self.register_outputs({})


def upload_policy(bucket: str, prefix: str) -> str:
    """The RAM policy document limiting the upload key to one prefix of one bucket."""
    return json.dumps(
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["oss:PutObject", "oss:GetObject", "oss:HeadObject"],
                    "Resource": [f"acs:oss:*:*:{bucket}/{prefix}*"],
                }
            ],
        },
        sort_keys=True,
    )
