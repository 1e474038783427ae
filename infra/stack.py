"""Builds the whole cloud half from a validated StackConfig; `__main__.py` only calls `build` and exports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_alicloud as alicloud

from contracts import template_default
from infra.backup import BackupWriter, BackupWriterArgs
from infra.hosts import existing_hosts
from infra.network import Network, NetworkArgs
from infra.scaleout import (
    Cache,
    CacheArgs,
    Database,
    DatabaseArgs,
    LoadBalancer,
    LoadBalancerArgs,
    UploadWriter,
    UploadWriterArgs,
)
from infra.secrets import Secrets, SecretsArgs
from infra.server import Host, Server, ServerArgs
from infra.stack_config import StackConfig, certificate_covers
from infra.storage import (
    ASSET_PREFIX,
    BACKUP_PREFIX,
    UPLOAD_PREFIX,
    Cdn,
    CdnArgs,
    Storage,
    StorageArgs,
    cdn_certificate,
)

# The admin site's user: config/defaults.yml's, exported by the stack and checked by the host's basic auth.
ADMIN_USER: str = template_default("raindrop_admin_user")


@dataclass
class ManagedBackends:
    """Where the app finds its state in scale-out mode; None on a single host (everything is local)."""

    db_host: pulumi.Output[str]
    redis_host: pulumi.Output[str]
    upload_key_id: pulumi.Output[str]
    upload_key_secret: pulumi.Output[str]


@dataclass
class Infra:
    """Everything the deploy half and the exports need from the cloud half.

    With `raindrop:hosts` only `config`, `hosts` and `site_address` are set: the stack creates nothing in
    the cloud and generates no secret (the hosts make their own, see app/steps/secrets.py).
    """

    config: StackConfig
    hosts: Sequence[Host]  # where the app goes, in deploy order
    site_address: pulumi.Output[str]
    provider: alicloud.Provider | None = None
    network: Network | None = None
    server: Server | None = None
    storage: Storage | None = None
    secrets: Secrets | None = None
    cdn: Cdn | None = None
    load_balancer: LoadBalancer | None = None
    backends: ManagedBackends | None = None
    backup_writer: BackupWriter | None = None  # single host: the role that copies backups to the bucket
    # Every top-level component, in creation order: the tests walk them to check that all is parented.
    components: list[pulumi.ComponentResource] = field(default_factory=list)


def make_provider() -> alicloud.Provider:
    region = pulumi.Config("alicloud").require("region")
    return alicloud.Provider(
        "alicloud",
        region=region,
        # Without this, a new imageId makes the provider re-image the system disk of the running instance
        # in place: the host silently loses its state while Pulumi reports an update. Replacing the instance
        # instead shows up as a replacement in `pulumi preview`, and the deploy half re-provisions it.
        features=alicloud.ProviderFeaturesArgs(
            ecs_instance=alicloud.ProviderFeaturesEcsInstanceArgs(replace_on_image_update=True)
        ),
    )


def pick_zones(available: Sequence[str], preferred: str | None, needed: int) -> list[str]:
    """The zones to use: the preferred zone first, then others offering the instance type."""
    zones = ([preferred] if preferred else []) + [z for z in available if z != preferred]
    if preferred and preferred not in available:
        raise ValueError(f"raindrop:zoneId: {preferred} does not offer this instance type here; offered: {available}")
    if len(zones) < needed:
        raise ValueError(
            f"raindrop:instanceCount: scale-out spreads hosts over {needed} zones, but only {len(zones)} "
            f"offer this instance type ({available})"
        )
    return zones[:needed]


def _zones(cfg: StackConfig, needed: int, parent: pulumi.Resource) -> list[pulumi.Input[str]]:
    if cfg.zone_id and needed == 1:
        return [cfg.zone_id]
    offered = alicloud.get_zones_output(
        available_instance_type=cfg.instance_type,
        available_resource_creation="VSwitch",
        opts=pulumi.InvokeOutputOptions(parent=parent),
    ).apply(lambda result: pick_zones([z.id for z in result.zones], cfg.zone_id, needed))
    return [offered.apply(lambda zones, i=i: zones[i]) for i in range(needed)]


def build(cfg: StackConfig) -> Infra:
    """Register every cloud resource for the stack; none at all for `raindrop:hosts`."""
    if cfg.existing_hosts:
        return build_existing(cfg)
    return build_cloud(cfg)


def build_existing(cfg: StackConfig) -> Infra:
    """Servers that already exist: nothing to create, the user's key logs in (config.load required it)."""
    if cfg.ssh_private_key is None:  # config.load refuses this; a direct caller gets the same rule
        raise ValueError("raindrop:sshPrivateKey: is required with raindrop:hosts")
    hosts = existing_hosts(cfg.hosts, cfg.ssh_private_key)
    return Infra(config=cfg, hosts=hosts, site_address=hosts[0].address)


def build_cloud(cfg: StackConfig) -> Infra:
    """The VPC, security group, ECS host(s), OSS (+CDN) and, in scale-out, the LB and managed services."""
    provider = make_provider()
    opts = pulumi.ResourceOptions(providers={"alicloud": provider})

    zone_count = 2 if cfg.scale_out else 1
    zones = _zones(cfg, zone_count, provider)
    network = Network(
        "raindrop",
        NetworkArgs(
            vpc_cidr=cfg.vpc_cidr,
            switches=list(zip(zones, cfg.vswitch_cidrs(zone_count), strict=True)),
            admin_port=cfg.admin_port,
            admin_cidrs=cfg.admin_cidrs,
            ssh_cidrs=cfg.ssh_cidrs,
            https=cfg.tls != "none" and not cfg.scale_out,
        ),
        opts,
    )
    secrets = Secrets(
        "raindrop",
        SecretsArgs(
            db_password=cfg.db_password,
            admin_password=cfg.admin_password,
            redis_password=cfg.redis_password,
            ssh_public_key=cfg.ssh_public_key,
            ssh_private_key=cfg.ssh_private_key,
        ),
    )
    server = Server(
        "raindrop",
        ServerArgs(
            instance_type=cfg.instance_type,
            instance_count=cfg.instance_count,
            vswitch_ids=[s.id for s in network.switches],
            security_group_id=network.security_group.id,
            ssh_public_key=secrets.ssh_public_key,
            ssh_private_key=secrets.ssh_private_key,
            image_id=cfg.image_id,
        ),
        opts,
    )

    load_balancer = None
    if cfg.scale_out:
        load_balancer = LoadBalancer(
            "raindrop",
            LoadBalancerArgs(
                instance_ids=[h.instance.id for h in server.hosts],
                # tls none keeps the CLB on plain http (a tlsCertificateId may still be there, for the CDN).
                certificate=cfg.tls_certificate if cfg.tls == "provided" else None,
                private_key=cfg.tls_private_key if cfg.tls == "provided" else None,
                certificate_id=cfg.tls_certificate_id if cfg.tls == "provided" else None,
            ),
            opts,
        )
        site_address = load_balancer.address
    else:
        site_address = server.hosts[0].address

    origins = [site_address.apply(lambda a: f"http://{a}")]
    if cfg.site_domain:
        origins += [f"https://{cfg.site_domain}", f"http://{cfg.site_domain}"]

    storage = Storage(
        "raindrop",
        StorageArgs(
            bucket_prefix=f"raindrop-{cfg.stack}",
            site_origins=origins,
            public_prefixes=(ASSET_PREFIX, UPLOAD_PREFIX) if cfg.scale_out else (ASSET_PREFIX,),
            # Only a single host backs up to the bucket; in scale-out RDS keeps the backups.
            backup_expire_days=None if cfg.scale_out else cfg.backup_days,
        ),
        opts,
    )

    cdn = None
    if cfg.enable_cdn and cfg.cdn_domain:
        bucket_host = pulumi.Output.concat(storage.bucket.id, ".", storage.endpoint)
        covered = cfg.tls_certificate is not None and certificate_covers(cfg.tls_certificate_names, cfg.cdn_domain)
        certificate = cdn_certificate(
            certificate_id=cfg.tls_certificate_id,
            certificate=cfg.tls_certificate if covered else None,
            private_key=cfg.tls_private_key if covered else None,
        )
        cdn = Cdn("raindrop", CdnArgs(domain=cfg.cdn_domain, bucket_host=bucket_host, certificate=certificate), opts)

    backends = None
    scale_out_parts: list[pulumi.ComponentResource] = []
    if cfg.scale_out:
        allowed = network.vswitch_cidrs
        database = Database(
            "raindrop",
            DatabaseArgs(vswitch_id=network.switches[0].id, zone_id=zones[0], allowed_cidrs=allowed,
                         password=secrets.db_password, backup_window=cfg.rds_backup_window,
                         backup_days=cfg.backup_days),
            opts,
        )
        cache = Cache(
            "raindrop",
            CacheArgs(vswitch_id=network.switches[0].id, zone_id=zones[0], allowed_cidrs=allowed,
                      password=secrets.redis_password),
            opts,
        )
        writer = UploadWriter("raindrop-uploads", UploadWriterArgs(bucket=storage.bucket.id, prefix=UPLOAD_PREFIX),
                              opts)
        scale_out_parts = [database, cache, writer]
        backends = ManagedBackends(
            db_host=database.host,
            redis_host=cache.host,
            upload_key_id=writer.access_key_id,
            upload_key_secret=writer.access_key_secret,
        )

    backup_writer = None
    if not cfg.scale_out:
        backup_writer = BackupWriter(
            "raindrop-backups",
            BackupWriterArgs(bucket=storage.bucket.id, prefix=BACKUP_PREFIX,
                             instance_ids=[h.instance.id for h in server.hosts]),
            opts,
        )

    return Infra(
        config=cfg,
        hosts=server.hosts,
        provider=provider,
        network=network,
        server=server,
        storage=storage,
        secrets=secrets,
        site_address=site_address,
        cdn=cdn,
        load_balancer=load_balancer,
        backends=backends,
        backup_writer=backup_writer,
        components=[c for c in (network, secrets, server, load_balancer, storage, cdn, backup_writer) if c]
        + scale_out_parts,
    )


def export(infra: Infra) -> None:
    """Stack outputs: addresses and names in the clear, secrets only as secret outputs.

    With `raindrop:hosts`, admin_password is exported only when the config gives it; a host-generated one
    stays on its host (app.cloud exports the command that reads it there).
    """
    cfg = infra.config
    hosts = infra.hosts
    # With TLS the site is its domain over https (the certificate names nothing else). The admin port is TLS
    # on hosts that terminate it themselves; behind the CLB (scale-out) the hosts serve plain http.
    if cfg.tls != "none" and cfg.site_domain:
        pulumi.export("site_url", f"https://{cfg.site_domain}/")
    else:
        pulumi.export("site_url", infra.site_address.apply(lambda a: f"http://{a}/"))
    admin = "https" if cfg.tls != "none" and not cfg.scale_out else "http"
    pulumi.export("admin_urls", [h.address.apply(lambda a: f"{admin}://{a}:{cfg.admin_port}/") for h in hosts])
    pulumi.export("admin_url", hosts[0].address.apply(lambda a: f"{admin}://{a}:{cfg.admin_port}/"))
    pulumi.export("admin_user", ADMIN_USER)
    pulumi.export("public_ips", [h.address for h in hosts])
    pulumi.export("ssh_user", hosts[0].user)
    if infra.secrets is None or infra.storage is None:
        # Each host by its address: with TLS that is https, though only the domain's name is on the certificate.
        scheme = "https" if cfg.tls != "none" else "http"
        pulumi.export("site_urls", [h.address.apply(lambda a: f"{scheme}://{a}/") for h in hosts])
        if cfg.admin_password is not None:
            pulumi.export("admin_password", pulumi.Output.secret(cfg.admin_password))
        return
    pulumi.export("admin_password", infra.secrets.admin_password)
    pulumi.export("ssh_private_key", infra.secrets.ssh_private_key)
    pulumi.export("bucket_name", infra.storage.bucket.id)
    pulumi.export("bucket_endpoint", infra.storage.endpoint)
    if infra.cdn is not None:
        pulumi.export("cdn_cname", infra.cdn.cname)
    if infra.backends is not None:
        pulumi.export("db_host", infra.backends.db_host)
        pulumi.export("redis_host", infra.backends.redis_host)
