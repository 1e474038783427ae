"""The OSS bucket for static assets (and uploads in scale-out), and the optional CDN in front of it.

The bucket is private. Browsers read two prefixes only, through a bucket policy rather than a public ACL:
`assets/` (the client's content-hashed build) and, in scale-out, `uploads/` (user images). Everything else
in the bucket stays private. CORS allows GET/HEAD from the site's own origins, never `*`, so fonts and
module scripts load cross-origin.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_random as random
from pulumi_alicloud import cdn, oss

ASSET_PREFIX = "assets/"
UPLOAD_PREFIX = "uploads/"
# The host's backup archives (infra/backup.py): private, whatever else the bucket policy grants.
BACKUP_PREFIX = "backups/"
YEAR_SECONDS = 365 * 24 * 3600


@dataclass
class StorageArgs:
    # Bucket names are global across Alibaba Cloud: a random suffix (kept in state) makes ours unique.
    bucket_prefix: str
    site_origins: pulumi.Input[Sequence[pulumi.Input[str]]]
    public_prefixes: Sequence[str] = (ASSET_PREFIX,)
    # Days a backup copy stays under BACKUP_PREFIX before OSS deletes it; None: no lifecycle rule (no backups).
    backup_expire_days: int | None = None


class Storage(pulumi.ComponentResource):
    """A private bucket with SSE, explicit-origin CORS and public read limited to the given prefixes."""

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("raindrop:infra:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        suffix = random.RandomString(f"{name}-bucket-suffix", length=8, special=False, upper=False, opts=child)
        self.bucket = oss.Bucket(
            f"{name}-bucket",
            bucket=suffix.result.apply(lambda s: f"{args.bucket_prefix}-{s}"),
            storage_class="Standard",
            server_side_encryption_rule={"sse_algorithm": "AES256"},
            # The provider has no separate OSS lifecycle resource (ens.BucketLifecycle is ENS's edge storage);
            # the bucket's own lifecycle_rules are the current, undeprecated way.
            lifecycle_rules=backup_lifecycle(args.backup_expire_days) if args.backup_expire_days else None,
            tags={"project": "raindrop"},
            opts=child,
        )
        self.acl = oss.BucketAcl(f"{name}-acl", bucket=self.bucket.id, acl="private", opts=child)
        self.cors = oss.BucketCors(
            f"{name}-cors",
            bucket=self.bucket.id,
            cors_rules=[
                {
                    "allowed_methods": ["GET", "HEAD"],
                    "allowed_origins": args.site_origins,
                    "allowed_headers": ["Range"],
                    "max_age_seconds": 86400,
                }
            ],
            opts=child,
        )
        # New buckets block every public grant; lifting the block is what lets the prefix policy below work.
        # The bucket ACL stays private, so only the prefixes the policy names become readable.
        self.public_access = oss.BucketPublicAccessBlock(
            f"{name}-public-access", bucket=self.bucket.id, block_public_access=False, opts=child
        )
        self.policy = oss.BucketPolicy(
            f"{name}-read-policy",
            bucket=self.bucket.id,
            policy=self.bucket.id.apply(lambda bucket: read_policy(bucket, args.public_prefixes)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.public_access, self.acl]),
        )
        self.endpoint = self.bucket.extranet_endpoint
        self.register_outputs({"bucket": self.bucket.id, "endpoint": self.endpoint})


def backup_lifecycle(days: int) -> list[dict]:
    """The rule that deletes backup copies `days` after they were written (and stale multipart parts)."""
    return [
        {
            "id": "expire-backups",
            "enabled": True,
            "prefix": BACKUP_PREFIX,
            "expirations": [{"days": days}],
            "abort_multipart_uploads": [{"days": 1}],
        }
    ]


def read_policy(bucket: str, prefixes: Sequence[str]) -> str:
    """The bucket policy granting anonymous GetObject on the given prefixes only; never on the backups."""
    for prefix in prefixes:
        if not prefix.endswith("/") or BACKUP_PREFIX.startswith(prefix) or prefix.startswith(BACKUP_PREFIX):
            raise ValueError(f"public prefix {prefix!r} would let browsers read {BACKUP_PREFIX} (or is not a prefix)")
    return json.dumps(
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": ["*"],
                    "Action": ["oss:GetObject"],
                    "Resource": [f"acs:oss:*:*:{bucket}/{prefix}*" for prefix in prefixes],
                }
            ],
        },
        sort_keys=True,
    )


@dataclass
class CdnArgs:
    domain: str
    bucket_host: pulumi.Input[str]  # "<bucket>.<extranet endpoint>", the OSS origin
    # The domain's HTTPS certificate: cdn.DomainNew's certificate_config (see cdn_certificate).
    certificate: Mapping[str, pulumi.Input[str]] | None = None


def cdn_certificate(certificate_id: str | None = None, certificate: pulumi.Input[str] | None = None,
                    private_key: pulumi.Input[str] | None = None) -> dict[str, pulumi.Input[str]]:
    """certificate_config for the CDN domain, so browsers fetch the assets over https.

    A certificate-service id (cert_type cas; cert_region is left to its documented default, cn-hangzhou), else
    a PEM pair that covers the CDN domain (upload), else the CDN's own free certificate (free), which it issues
    once the domain's CNAME points at the CDN. Fields and values from the provider's cdn_domain_new docs
    (certificate_config: cert_type upload/cas/free, cert_id "only when CertType = cas", server_certificate_status on).
    """
    if certificate_id is not None:
        return {"cert_type": "cas", "cert_id": certificate_id, "server_certificate_status": "on"}
    if certificate is not None and private_key is not None:
        return {"cert_type": "upload", "server_certificate": certificate, "private_key": private_key,
                "server_certificate_status": "on"}
    return {"cert_type": "free", "server_certificate_status": "on"}


class Cdn(pulumi.ComponentResource):
    """A CDN domain sourced from the bucket over https, serving https itself, caching the hashed assets a year and
    compressing text."""

    def __init__(self, name: str, args: CdnArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("raindrop:infra:Cdn", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.domain = cdn.DomainNew(
            f"{name}-domain",
            domain_name=args.domain,
            cdn_type="web",
            scope="domestic",
            sources=[{"type": "oss", "content": args.bucket_host, "port": 443, "priority": 20, "weight": 10}],
            certificate_config=args.certificate,
            opts=child,
        )
        # Asset names carry their content hash, so a year is safe; anything else gets the origin's headers.
        self.asset_ttl = cdn.DomainConfig(
            f"{name}-asset-ttl",
            domain_name=self.domain.domain_name,
            function_name="path_based_ttl_set",
            function_args=[
                {"arg_name": "path", "arg_value": f"/{ASSET_PREFIX}"},
                {"arg_name": "ttl", "arg_value": str(YEAR_SECONDS)},
                {"arg_name": "weight", "arg_value": "99"},
            ],
            opts=child,
        )
        self.gzip = cdn.DomainConfig(
            f"{name}-gzip",
            domain_name=self.domain.domain_name,
            function_name="gzip",
            function_args=[{"arg_name": "enable", "arg_value": "on"}],
            opts=child,
        )
        self.cname = self.domain.cname
        self.register_outputs({"cname": self.cname})
