"""The deploy half of the Pulumi program: from the cloud half's resources to a deployed site.

It picks the release bundle (`raindrop:releaseArchive`, or the one for the current sources), publishes the
client's hashed assets to the bucket, points index.html at them, and hands the hosts to the Deployment
component, which runs the same host steps the sandbox proves.

With `raindrop:hosts` there is no bucket: nginx on each host serves the bundle's own index.html and assets,
and the passwords the config does not give are made on each host by its secrets step.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import pulumi
from pulumi_command import local

from app import release
from app.deployment import Deployment, DeploymentArgs
from app.publish import bundle_client, rewrite_index
from app.steps import SECRET_NAMES, Bundle, HostConfig
from app.steps.secrets import read_secret_command
from infra.network import HTTPS_PORT
from infra.stack import ADMIN_USER, Infra
from infra.stack_config import StackConfig
from infra.storage import ASSET_PREFIX, BACKUP_PREFIX

ROOT = Path(__file__).resolve().parent.parent


def release_for(cfg: StackConfig) -> release.Release:
    """The prebuilt bundle the stack names, checked; otherwise the bundle of the current sources."""
    if cfg.release_archive is not None:
        try:
            return release.open_release(cfg.release_archive)
        except release.ReleaseError as error:
            raise ValueError(f"raindrop:releaseArchive: {error}") from None
    return release.build_release()


def tls_values(cfg: StackConfig) -> dict[str, Any]:
    """The TLS template variables (the contract with the hosts' nginx and ACME client, config/defaults.yml).

    raindrop_tls is the stack's raindrop:tls on one host and on raindrop:hosts; in scale-out TLS ends at the
    CLB (infra.scaleout.LoadBalancer), so the hosts are told `offloaded`: plain http behind it, the browser's
    https in X-Forwarded-Proto. Every variable is always given ("" when unset), so none falls back to a default
    that belongs to another stack.
    """
    mode = "offloaded" if cfg.scale_out and cfg.tls == "provided" else cfg.tls
    return {
        "raindrop_tls": mode,
        "raindrop_site_domain": cfg.site_domain or "",
        "raindrop_acme_email": cfg.acme_email or "",  # config.py allows it with acme only
        "raindrop_acme_directory": cfg.acme_directory,
        "raindrop_https_port": HTTPS_PORT,
    }


def tls_secrets(cfg: StackConfig) -> dict[str, pulumi.Output[str]]:
    """The provided certificate and key for hosts that terminate TLS themselves; none in scale-out (the CLB
    holds them) or with acme (the host's ACME client makes its own key, which never leaves the host)."""
    if cfg.tls != "provided" or cfg.scale_out or cfg.tls_certificate is None or cfg.tls_private_key is None:
        return {}
    return {"tls_certificate": cfg.tls_certificate, "tls_private_key": cfg.tls_private_key}


def template_values(infra: Infra) -> pulumi.Output[dict[str, Any]]:
    """The config/ template variables this stack sets (config/defaults.yml documents the rest).

    With the cloud's storage, the client's hashed assets come from the bucket or the CDN (asset_base), so the
    site's CSP must allow that origin (raindrop_csp_asset_origin; the renderer keeps only the URL's origin).
    """
    values = _stack_values(infra)
    if infra.storage is None:
        return values
    return pulumi.Output.all(values, asset_base(infra)).apply(
        lambda a: {**a[0], "raindrop_csp_asset_origin": a[1]}
    )


def _stack_values(infra: Infra) -> pulumi.Output[dict[str, Any]]:
    """The variables of template_values other than the asset origin.

    On one host everything is local, and the backups are copied to the bucket's private backups/ prefix with the
    instance's RAM role. In scale-out the app reaches RDS and KVStore, and stores uploads in the bucket's uploads/
    prefix with the key that may write only there.
    """
    cfg = infra.config
    values: dict[str, Any] = {
        "raindrop_admin_user": ADMIN_USER,  # the user the stack exports is the one the host's basic auth checks
        "raindrop_admin_port": cfg.admin_port,
        "raindrop_admin_cidrs": list(cfg.admin_cidrs),
        # One single-worker gunicorn per vCPU (raindrop:webProcesses, else the instance type's size).
        "raindrop_gunicorn_processes": cfg.web_processes,
        **tls_values(cfg),
    }
    if cfg.backup_time is not None:
        values["raindrop_backup_time"] = cfg.backup_time
    storage = infra.storage
    if infra.backends is None:
        writer = infra.backup_writer
        if writer is None:
            return pulumi.Output.from_input(values)
        # The single host copies each backup to the bucket's private prefix with its RAM role's credentials.
        return pulumi.Output.all(
            bucket=storage.bucket.id, endpoint=storage.bucket.intranet_endpoint, role=writer.role_name
        ).apply(
            lambda a: {
                **values,
                "raindrop_backup_oss_endpoint": f"https://{a['endpoint']}",
                "raindrop_backup_oss_bucket": a["bucket"],
                "raindrop_backup_oss_prefix": BACKUP_PREFIX,
                "raindrop_backup_oss_ram_role": a["role"],
            }
        )
    return pulumi.Output.all(
        db_host=infra.backends.db_host,
        redis_host=infra.backends.redis_host,
        bucket=storage.bucket.id,
        endpoint=storage.bucket.intranet_endpoint,  # ECS → OSS in the region stays on the internal network
        public=storage.endpoint,
        key_id=infra.backends.upload_key_id,
    ).apply(
        lambda a: {
            **values,
            "raindrop_db_host": a["db_host"],
            "raindrop_redis_host": a["redis_host"],
            "raindrop_oss_endpoint": f"https://{a['endpoint']}",
            "raindrop_oss_bucket": a["bucket"],
            "raindrop_oss_access_key_id": a["key_id"],
            "raindrop_oss_public_base": f"https://{a['bucket']}.{a['public']}",
        }
    )


def asset_base(infra: Infra) -> pulumi.Output[str]:
    """Where browsers fetch the hashed assets: the CDN domain when enabled, else the bucket itself."""
    if infra.cdn is not None and infra.config.cdn_domain:
        # The CDN domain always has a certificate (infra.storage.cdn_certificate), so https, whatever the site's
        # own raindrop:tls: an https page may not load http assets, and an http page may load https ones.
        return pulumi.Output.from_input(f"https://{infra.config.cdn_domain}/{ASSET_PREFIX}")
    return pulumi.Output.concat("https://", infra.storage.bucket.id, ".", infra.storage.endpoint, "/", ASSET_PREFIX)


def publish_assets(infra: Infra, bundle: release.Release) -> local.Command:
    """Upload the bundle's hashed assets with oss2 (app/publish.py), using the deployer's own Alibaba keys."""
    command = pulumi.Output.concat(
        'RAINDROP_OSS_ACCESS_KEY_ID="${ALICLOUD_ACCESS_KEY:?set ALICLOUD_ACCESS_KEY}" ',
        'RAINDROP_OSS_ACCESS_KEY_SECRET="${ALICLOUD_SECRET_KEY:?set ALICLOUD_SECRET_KEY}" ',
        # The interpreter running this program (Pulumi starts it from the stack's virtualenv): it has oss2, and
        # no path to it is assumed.
        shlex.quote(sys.executable), " -m app.publish --bundle ", str(bundle.path),
        " --endpoint https://", infra.storage.endpoint,
        " --bucket ", infra.storage.bucket.id,
        " --prefix ", ASSET_PREFIX,
    )
    return local.Command(
        "raindrop-publish-assets",
        create=command,
        dir=str(ROOT),
        # Hashed names never change content: a new bundle or another bucket is the only reason to upload.
        triggers=[bundle.hash, infra.storage.bucket.id],
        opts=pulumi.ResourceOptions(parent=infra.storage, depends_on=[infra.storage.policy, infra.storage.cors]),
    )


def given_secrets(cfg: StackConfig) -> dict[str, pulumi.Output[str]]:
    """The service passwords `raindrop:hosts` config gives (each host generates the rest, and the secret key),
    and a provided TLS certificate and key."""
    given = {"db_password": cfg.db_password, "redis_password": cfg.redis_password,
             "admin_password": cfg.admin_password}
    return {**{name: value for name, value in given.items() if value is not None}, **tls_secrets(cfg)}


def deploy_existing(infra: Infra, bundle: release.Release) -> Deployment:
    """`raindrop:hosts`: the Deployment alone, no asset upload (nginx serves the bundle's assets)."""
    cfg = infra.config
    secrets = given_secrets(cfg)
    generated = [name for name in SECRET_NAMES if name not in secrets]
    if "admin_password" in generated:
        # It never leaves the host; the output says how to read it there.
        read = read_secret_command(HostConfig.from_defaults(), "admin_password")
        pulumi.export("admin_password_commands", [
            pulumi.Output.concat("ssh -p ", str(h.port), " ", h.user, "@", h.address, " ",
                                 "sudo " if h.user != "root" else "", read)
            for h in infra.hosts
        ])
    return _deployment(infra, bundle, secrets, generated_secrets=generated)


def _deployment(infra: Infra, bundle: release.Release, secrets: dict[str, pulumi.Output[str]],
                **args: Any) -> Deployment:
    """The Deployment of every host with the parts both modes share; `args` are the rest of DeploymentArgs."""
    return Deployment(
        "raindrop",
        DeploymentArgs(
            hosts=infra.hosts,
            template_values=template_values(infra),
            host_settings={"apt_mirror": infra.config.apt_mirror},
            bundle=Bundle(hash=bundle.hash, deps_hash=bundle.deps_hash, sha256=bundle.sha256),
            bundle_path=str(bundle.path),
            secrets=secrets,
            **args,
        ),
    )


def deploy(infra: Infra) -> Deployment:
    """Register the asset upload and the Deployment of every host."""
    cfg = infra.config
    bundle = release_for(cfg)
    if infra.storage is None or infra.secrets is None:
        return deploy_existing(infra, bundle)
    base = asset_base(infra)
    uploaded = publish_assets(infra, bundle)
    html, assets = bundle_client(bundle.path)
    secrets = {
        "db_password": infra.secrets.db_password,
        "redis_password": infra.secrets.redis_password,
        "admin_password": infra.secrets.admin_password,
        "secret_key": infra.secrets.secret_key,
    }
    if infra.backends is not None:
        secrets["oss_access_key_secret"] = infra.backends.upload_key_secret
    secrets.update(tls_secrets(cfg))
    return _deployment(
        infra, bundle, secrets,
        client_index=base.apply(lambda b: rewrite_index(html, assets, b)),
        # The deploy's pre-migration backup copies itself to the bucket: the role must be on the host first.
        after=[uploaded, *(infra.backup_writer.attachments if infra.backup_writer else [])],
    )
