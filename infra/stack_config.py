"""The stack config: every `raindrop:` key, typed and validated in one place.

Bad config is refused while the program runs, before any resource is registered, with an error that names
the key. Secrets stay `pulumi.Output` secrets from the moment they are read.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import pulumi
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pulumi.runtime.config import is_config_secret

from contracts import (  # ConfigError is imported from here by callers: the one class, owned by contracts
    BCRYPT_MAX_BYTES,
    HOST_TLS_MODES,
    HOSTNAME,
    SAFE_SECRET,
    SAFE_SECRET_RULE,
    STACK_NAMESPACE,
    ConfigError,
    template_default,
)

NAMESPACE = STACK_NAMESPACE

# Ports the host already uses on some interface: nginx's public port, TLS, sshd, gunicorn(s), supervisor's
# web UI, MariaDB and Redis. An admin port on any of them would either clash at bind time or expose the
# service behind it.
RESERVED_PORTS: Mapping[int, str] = {
    22: "sshd",
    80: "the public site",
    443: "https",
    3306: "MariaDB",
    6379: "Redis",
    9001: "supervisor's web UI (loopback)",
    **{port: "gunicorn" for port in range(10000, 10016)},
}

MAX_INSTANCES = 20
PASSWORD_KEYS = ("dbPassword", "adminPassword", "redisPassword")
# The admin site's port when raindrop:adminPort is not set: the one nginx listens on by default.
DEFAULT_ADMIN_PORT: int = template_default("raindrop_admin_port")
DEFAULT_SSH_USER = "root"
DEFAULT_SSH_PORT = 22
# RDS keeps backups 7-730 days; the bucket's backup copies expire after the same number.
BACKUP_DAYS_RANGE = (7, 730)
DEFAULT_BACKUP_DAYS = 30
_BACKUP_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
# A host's address may also be a single label ("web1" from /etc/hosts or a resolver's search domain).
_HOST_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
# A login name as Debian's adduser accepts it by default.
_LOGIN = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_HOST_FIELDS = ("address", "user", "port")

# raindrop:tls. acme: the hosts get their certificate through ACME HTTP-01; provided: the stack config gives
# it; none: plain HTTP. `offloaded` is no stack setting: it is what scale-out hosts are told (TLS ends at the CLB).
TLS_MODES = tuple(mode for mode in HOST_TLS_MODES if mode != "offloaded")
# Let's Encrypt production: the hosts' documented default (config/defaults.yml).
LETS_ENCRYPT_DIRECTORY: str = template_default("raindrop_acme_directory")
# An Alibaba Cloud certificate-service (CAS) certificate id: a number, e.g. 12345678.
_CERTIFICATE_ID = re.compile(r"^[0-9]{1,20}$")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?P<domain>[^@\s]+)$")
PLAIN_HTTP_WARNING = (
    "raindrop:tls is none: the site, its login form and its session cookies travel in plain HTTP; "
    "set raindrop:siteDomain to get a certificate (tls acme)"
)


@dataclass(frozen=True)
class ExistingHost:
    """One entry of `raindrop:hosts`: a server that already exists and that the deploy key logs in to."""

    address: str
    user: str = DEFAULT_SSH_USER
    port: int = DEFAULT_SSH_PORT


@dataclass(frozen=True)
class StackConfig:
    """Every `raindrop:` setting after validation. Secrets are None when the stack generates them."""

    stack: str
    instance_type: str
    image_id: str | None
    zone_id: str | None
    vpc_cidr: str
    vswitch_cidr: str
    admin_port: int
    admin_cidrs: tuple[str, ...]
    ssh_cidrs: tuple[str, ...]
    enable_cdn: bool
    cdn_domain: str | None
    site_domain: str | None
    instance_count: int
    ssh_public_key: str | None
    ssh_private_key: pulumi.Output[str] | None
    db_password: pulumi.Output[str] | None
    admin_password: pulumi.Output[str] | None
    redis_password: pulumi.Output[str] | None
    apt_mirror: str | None
    release_archive: Path | None
    web_processes: int
    # `raindrop:hosts`: servers that already exist. Empty: the stack creates its own on Alibaba Cloud.
    hosts: tuple[ExistingHost, ...] = ()
    tls: str = "none"  # one of TLS_MODES
    acme_email: str | None = None
    acme_directory: str = LETS_ENCRYPT_DIRECTORY
    # tls provided: the PEM certificate (chain) and its key, secret Outputs; the DNS names the certificate is
    # for (public, from its subjectAltName) tell whether it also covers the CDN domain.
    tls_certificate: pulumi.Output[str] | None = None
    tls_private_key: pulumi.Output[str] | None = None
    tls_certificate_names: tuple[str, ...] = ()
    # An Alibaba Cloud certificate-service id, for the load balancer and the CDN (never a host's nginx).
    tls_certificate_id: str | None = None

    @property
    def existing_hosts(self) -> bool:
        """Deploy to `hosts` only: no cloud resource, no generated key or password resource."""
        return bool(self.hosts)

    backup_time: str | None = None  # HH:MM UTC; None: config/defaults.yml's raindrop_backup_time
    backup_days: int = 30

    @property
    def rds_backup_window(self) -> str:
        """RDS takes whole-hour windows: the hour that holds backupTime (or the default's)."""
        hour = int((self.backup_time or template_default("raindrop_backup_time")).split(":")[0])
        return f"{hour:02d}:00Z-{(hour + 1) % 24:02d}:00Z"

    @property
    def scale_out(self) -> bool:
        """More than one instance means the distributed shape: LB, RDS, managed Redis, uploads on OSS."""
        return self.instance_count > 1

    def vswitch_cidrs(self, count: int) -> list[str]:
        """`count` switch CIDRs: `vswitchCidr` first, then the next blocks of the same size in the VPC."""
        first = ipaddress.ip_network(self.vswitch_cidr)
        vpc = ipaddress.ip_network(self.vpc_cidr)
        blocks = []
        for i in range(count):
            block = ipaddress.ip_network((int(first.network_address) + i * first.num_addresses, first.prefixlen))
            if not block.subnet_of(vpc):  # type: ignore[arg-type]
                raise ConfigError("vswitchCidr", f"{count} switches of /{first.prefixlen} do not fit in {vpc}")
            blocks.append(str(block))
        return blocks


def _network(key: str, value: object) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if not isinstance(value, str):
        raise ConfigError(key, f"{value!r} is not a CIDR string")
    try:
        return ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as err:
        raise ConfigError(key, f"{value!r} is not a valid CIDR ({err})") from None


def _cidr_list(key: str, raw: object, *, required: bool) -> tuple[str, ...]:
    if raw is None:
        if required:
            raise ConfigError(key, "is required: a list of CIDRs allowed in (there is no world default)")
        return ()
    if isinstance(raw, str):
        raw = [part for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list):
        raise ConfigError(key, f"must be a list of CIDRs, got {raw!r}")
    if required and not raw:
        raise ConfigError(key, "must hold at least one CIDR")
    cidrs = []
    for item in raw:
        net = _network(key, item)
        if net.prefixlen == 0:
            raise ConfigError(key, f"{item} would open the port to the whole internet; list your own networks")
        cidrs.append(str(net))
    return tuple(dict.fromkeys(cidrs))


def _port(key: str, raw: object) -> int:
    try:
        port = int(str(raw))
    except ValueError:
        raise ConfigError(key, f"{raw!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise ConfigError(key, f"{port} is out of range 1-65535")
    if port in RESERVED_PORTS:
        raise ConfigError(key, f"{port} is taken by {RESERVED_PORTS[port]}; pick another port")
    return port


def _bool(key: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise ConfigError(key, f"{raw!r} is not true or false")


def _hostname(key: str, raw: object) -> str:
    name = str(raw).strip().lower().rstrip(".")
    if not HOSTNAME.match(name):
        raise ConfigError(key, f"{raw!r} is not a domain name")
    return name


def _host_address(key: str, raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(key, f"{raw!r} is not an IP address or host name")
    text = raw.strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    name = text.lower().rstrip(".")
    # All digits and dots is a mistyped IPv4 address, not a name a resolver would find.
    if not _HOST_NAME.match(name) or re.fullmatch(r"[0-9.]+", name):
        raise ConfigError(key, f"{raw!r} is not an IP address or host name")
    return name


def _ssh_port(key: str, raw: object) -> int:
    # bool is an int in Python: `port: true` is a typo, not port 1.
    if isinstance(raw, bool) or not re.fullmatch(r"[0-9]{1,5}", str(raw).strip()):
        raise ConfigError(key, f"{raw!r} is not a port number")
    port = int(str(raw))
    if not 1 <= port <= 65535:
        raise ConfigError(key, f"{port} is out of range 1-65535")
    return port


def _hosts(raw: object) -> tuple[ExistingHost, ...]:
    """`raindrop:hosts`: a non-empty list of {address, user?, port?}, each address once."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError("hosts", f"must be a list of {{address, user?, port?}} objects, got {raw!r}")
    if not raw:
        raise ConfigError("hosts", "must hold at least one host; unset it to create hosts on Alibaba Cloud")
    hosts: list[ExistingHost] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        key = f"hosts[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(key, f"must be an object with address (and optional user, port), got {item!r}")
        unknown = sorted(set(item) - set(_HOST_FIELDS))
        if unknown:
            raise ConfigError(f"{key}.{unknown[0]}", "is not a host setting (address, user, port)")
        if "address" not in item:
            raise ConfigError(f"{key}.address", "is required: the IP address or host name to deploy to")
        address = _host_address(f"{key}.address", item["address"])
        if address in seen:
            raise ConfigError(f"{key}.address", f"{address} is already hosts[{seen[address]}]; list each host once")
        seen[address] = i
        user = item.get("user", DEFAULT_SSH_USER)
        if not isinstance(user, str) or not _LOGIN.match(user):
            raise ConfigError(f"{key}.user", f"{user!r} is not a login name (a-z 0-9 _ -, starting with a letter)")
        port = _ssh_port(f"{key}.port", item.get("port", DEFAULT_SSH_PORT))
        hosts.append(ExistingHost(address=address, user=user, port=port))
    return tuple(hosts)


@dataclass(frozen=True)
class TlsSettings:
    """The TLS part of the stack config after validation (the PEM texts stay plain only inside config.py)."""

    mode: str
    acme_email: str | None
    acme_directory: str
    certificate_names: tuple[str, ...]
    certificate_id: str | None


def certificate_covers(names: tuple[str, ...], domain: str) -> bool:
    """Whether a certificate for `names` is valid for `domain` (a wildcard covers exactly one label)."""
    for name in names:
        if name == domain:
            return True
        if name.startswith("*.") and domain.split(".", 1)[-1] == name[2:] and domain.count(".") == name.count("."):
            return True
    return False


def _certificate_names(pem: str, now: datetime) -> tuple[tuple[str, ...], x509.Certificate]:
    """The leaf of a PEM chain, checked: parseable and not expired; with its DNS names."""
    try:
        leaf = x509.load_pem_x509_certificates(pem.encode())[0]
    except ValueError:
        raise ConfigError("tlsCertificate", "is not a PEM certificate (-----BEGIN CERTIFICATE-----, the leaf "
                          "first, then its chain)") from None
    if leaf.not_valid_after_utc <= now:
        expired = leaf.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC")
        raise ConfigError("tlsCertificate", f"expired on {expired}; give a current one")
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        # Browsers match names only against subjectAltName, never the subject's CN (RFC 6125, CA/B rules).
        raise ConfigError("tlsCertificate", "has no subjectAltName DNS names, so no browser accepts it") from None
    names = tuple(name.lower().rstrip(".") for name in san.get_values_for_type(x509.DNSName))
    return names, leaf


def _check_private_key(pem: str, leaf: x509.Certificate) -> None:
    """The key must be the certificate's: compare the public keys (the value is never shown)."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigError("tlsPrivateKey", "is not an unencrypted PEM private key (the value is not shown)") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        raise ConfigError("tlsPrivateKey", "does not match the public key of tlsCertificate (the value is not shown)")


def _tls(raw: Mapping[str, object], *, site_domain: str | None, scale_out: bool, existing_hosts: bool,
         enable_cdn: bool, now: datetime | None = None) -> TlsSettings:
    """raindrop:tls and its keys, checked together. `raw` may hold the PEM texts (tlsCertificate, tlsPrivateKey)."""
    certificate, private_key = raw.get("tlsCertificate"), raw.get("tlsPrivateKey")
    certificate_id = raw.get("tlsCertificateId")
    if certificate_id is not None:
        certificate_id = str(certificate_id).strip()
        if not _CERTIFICATE_ID.match(certificate_id):
            raise ConfigError("tlsCertificateId", f"{raw.get('tlsCertificateId')!r} is not a certificate-service id "
                              "(digits, e.g. 12345678)")
        if existing_hosts:
            raise ConfigError("tlsCertificateId", "is for the load balancer and the CDN, which raindrop:hosts does "
                              "not create; give tlsCertificate and tlsPrivateKey for the hosts")
    pem_given = certificate is not None or private_key is not None
    if raw.get("tls") is not None:
        mode = str(raw["tls"]).strip().lower()
        if mode not in TLS_MODES:
            raise ConfigError("tls", f"{raw['tls']!r} is not one of {', '.join(TLS_MODES)}")
    elif pem_given or (scale_out and certificate_id is not None):
        mode = "provided"
    else:
        mode = "acme" if site_domain else "none"

    if mode == "none" and site_domain:
        raise ConfigError("tls", f"none would serve raindrop:siteDomain {site_domain} in plain HTTP; use acme (the "
                          "default with a domain) or provided")
    if mode == "acme" and not site_domain:
        raise ConfigError("tls", "acme needs raindrop:siteDomain, the name the certificate is issued for; set it, or "
                          "set tls to none for plain HTTP")
    if mode == "acme" and scale_out:
        raise ConfigError("tls", "acme cannot issue a certificate per host behind the load balancer (kamal#1377); in "
                          "scale-out set tls to provided with tlsCertificate and tlsPrivateKey, or tlsCertificateId")
    if mode == "provided" and not site_domain:
        raise ConfigError("siteDomain", "is required with tls provided: the name the certificate must cover")
    if mode != "provided" and pem_given:
        key = "tlsCertificate" if certificate is not None else "tlsPrivateKey"
        raise ConfigError(key, f"is set, but tls is {mode}; set tls to provided to use it")

    for key in ("acmeEmail", "acmeDirectory"):
        if raw.get(key) is not None and mode != "acme":
            raise ConfigError(key, f"applies only to tls acme (tls is {mode})")
    acme_email = raw.get("acmeEmail")
    if acme_email is not None:
        acme_email = str(acme_email).strip()
        match = _EMAIL.match(acme_email)
        if not match or not HOSTNAME.match(match["domain"].lower()):
            raise ConfigError("acmeEmail", f"{raw.get('acmeEmail')!r} is not an email address")
    directory = str(raw.get("acmeDirectory", LETS_ENCRYPT_DIRECTORY)).strip()
    parsed = urlparse(directory)
    if parsed.scheme != "https" or not parsed.hostname or parsed.username or parsed.password or " " in directory:
        # RFC 8555 section 6.1: ACME runs over HTTPS only; the directory URL is where a client starts.
        raise ConfigError("acmeDirectory", f"{raw.get('acmeDirectory')!r} is not an https URL of an ACME "
                          "(RFC 8555) directory")

    names: tuple[str, ...] = ()
    if mode == "provided":
        # One host (and raindrop:hosts) need the PEM halves for nginx; in scale-out a CAS id will do for the CLB.
        if certificate is None and private_key is None and not (scale_out and certificate_id is not None):
            alternative = ", or tlsCertificateId" if scale_out else (
                "; tlsCertificateId serves only the load balancer and the CDN, nginx on the host needs the PEM")
            raise ConfigError("tlsCertificate", "is required with tls provided: set tlsCertificate and "
                              f"tlsPrivateKey (pulumi config set --secret){alternative}")
        if pem_given:
            if certificate is None or private_key is None:
                missing = "tlsCertificate" if certificate is None else "tlsPrivateKey"
                raise ConfigError(missing, "is required with the other half: set both tlsCertificate and "
                                  "tlsPrivateKey (pulumi config set --secret)")
            if scale_out and certificate_id is not None:
                raise ConfigError("tlsCertificateId", "and tlsCertificate both give the load balancer's "
                                  "certificate; set one of them")
            names, leaf = _certificate_names(str(certificate), now or datetime.now(UTC))
            if site_domain and not certificate_covers(names, site_domain):
                raise ConfigError("tlsCertificate", f"is for {', '.join(names)}, not raindrop:siteDomain {site_domain}")
            _check_private_key(str(private_key), leaf)
    if certificate_id is not None and not enable_cdn and not (scale_out and mode == "provided"):
        raise ConfigError("tlsCertificateId", "is used only by the load balancer (scale-out with tls provided) and "
                          "the CDN (enableCdn); this stack has neither")
    return TlsSettings(mode=mode, acme_email=acme_email, acme_directory=directory, certificate_names=names,
                       certificate_id=certificate_id)


# Alibaba Cloud's size suffixes: `large` is 2 vCPUs, `xlarge` 4, `<N>xlarge` 4N (ecs.e-c1m2.large: 2 vCPUs).
_SIZE = re.compile(r"\.(?:(?P<n>\d+)?(?P<x>x)?large)$")
MAX_WEB_PROCESSES = 64


def instance_vcpus(instance_type: str) -> int | None:
    """The vCPUs an ECS instance type's name announces, or None for a size without that convention."""
    match = _SIZE.search(instance_type)
    if match is None:
        return None
    if not match["x"]:
        return 2 if match["n"] is None else None
    return 4 * int(match["n"] or 1)


def _web_processes(raw: object, instance_type: str) -> int:
    """webProcesses, or one gunicorn process per vCPU of the instance type (each is single-threaded)."""
    if raw is None:
        vcpus = instance_vcpus(instance_type)
        if vcpus is None:
            raise ConfigError(
                "webProcesses", f"cannot tell the vCPUs of {instance_type!r} from its name; set webProcesses"
            )
        return min(vcpus, MAX_WEB_PROCESSES)
    try:
        count = int(str(raw))
    except ValueError:
        raise ConfigError("webProcesses", f"{raw!r} is not a whole number") from None
    if not 1 <= count <= MAX_WEB_PROCESSES:
        raise ConfigError("webProcesses", f"must be 1-{MAX_WEB_PROCESSES}, got {count}")
    return count


def parse(raw: Mapping[str, object], stack: str = "dev") -> StackConfig:
    """Validate plain values (key → str/list/bool) into a StackConfig. Secrets are handled by `load`."""
    vpc = _network("vpcCidr", raw.get("vpcCidr", "10.10.0.0/16"))
    vswitch = _network("vswitchCidr", raw.get("vswitchCidr", "10.10.1.0/24"))
    if vswitch.version != 4 or vpc.version != 4:
        raise ConfigError("vpcCidr", "the VPC and its switches are IPv4")
    if not vswitch.subnet_of(vpc):  # type: ignore[arg-type]
        raise ConfigError("vswitchCidr", f"{vswitch} is not inside vpcCidr {vpc}")

    admin_cidrs = _cidr_list("adminCidrs", raw.get("adminCidrs"), required=True)
    # SSH defaults to the admin networks: the deploy itself needs port 22 from where `pulumi up` runs.
    ssh_cidrs = _cidr_list("sshCidrs", raw.get("sshCidrs"), required=False) or admin_cidrs

    enable_cdn = _bool("enableCdn", raw.get("enableCdn", False))
    cdn_domain = raw.get("cdnDomain")
    if enable_cdn and not cdn_domain:
        raise ConfigError("cdnDomain", "is required when enableCdn is true")
    site_domain = raw.get("siteDomain")

    try:
        count = int(str(raw.get("instanceCount", 1)))
    except ValueError:
        raise ConfigError("instanceCount", f"{raw.get('instanceCount')!r} is not a whole number") from None
    if count < 1:
        raise ConfigError("instanceCount", f"must be at least 1, got {count}")
    if count > MAX_INSTANCES:
        raise ConfigError("instanceCount", f"{count} is more than this program manages ({MAX_INSTANCES})")

    apt_mirror = raw.get("aptMirror")
    if apt_mirror is not None:
        parsed = urlparse(str(apt_mirror))
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError("aptMirror", f"{apt_mirror!r} is not an http(s) URL")

    release_archive = raw.get("releaseArchive")
    archive_path = None
    if release_archive is not None:
        archive_path = Path(str(release_archive)).expanduser()
        if not archive_path.name.endswith(".tar.gz"):
            raise ConfigError("releaseArchive", f"{release_archive} is not a .tar.gz release bundle")
        if not archive_path.is_file():
            raise ConfigError("releaseArchive", f"{release_archive} does not exist")

    hosts = _hosts(raw.get("hosts"))
    if hosts and count > 1:
        raise ConfigError(
            "instanceCount",
            f"{count} is scale-out on Alibaba Cloud (load balancer, RDS, KVStore); with raindrop:hosts every "
            "host runs the whole stack, so leave instanceCount unset",
        )
    if hosts and enable_cdn:
        raise ConfigError(
            "enableCdn", "needs the stack's own OSS bucket, which raindrop:hosts does not create; nginx serves "
            "the assets on each host",
        )
    backup_time = raw.get("backupTime")
    if backup_time is not None and not _BACKUP_TIME.match(str(backup_time).strip()):
        raise ConfigError("backupTime", f"{backup_time!r} is not a time of day HH:MM in UTC, e.g. 03:30")
    try:
        backup_days = int(str(raw.get("backupDays", DEFAULT_BACKUP_DAYS)))
    except ValueError:
        raise ConfigError("backupDays", f"{raw.get('backupDays')!r} is not a whole number of days") from None
    if not BACKUP_DAYS_RANGE[0] <= backup_days <= BACKUP_DAYS_RANGE[1]:
        raise ConfigError("backupDays", f"{backup_days} is outside {BACKUP_DAYS_RANGE[0]}-{BACKUP_DAYS_RANGE[1]} "
                          "(what RDS keeps)")

    instance_type = str(raw.get("instanceType", "ecs.e-c1m2.large")).strip()
    if not instance_type.startswith("ecs."):
        raise ConfigError("instanceType", f"{instance_type!r} is not an ECS instance type (ecs.…)")

    web_processes = _web_processes(raw.get("webProcesses"), instance_type)
    domain = _hostname("siteDomain", site_domain) if site_domain else None
    tls = _tls(raw, site_domain=domain, scale_out=count > 1, existing_hosts=bool(hosts), enable_cdn=enable_cdn)

    return StackConfig(
        stack=stack,
        instance_type=instance_type,
        web_processes=web_processes,
        image_id=str(raw["imageId"]) if raw.get("imageId") else None,
        zone_id=str(raw["zoneId"]) if raw.get("zoneId") else None,
        vpc_cidr=str(vpc),
        vswitch_cidr=str(vswitch),
        admin_port=_port("adminPort", raw.get("adminPort", DEFAULT_ADMIN_PORT)),
        admin_cidrs=admin_cidrs,
        ssh_cidrs=ssh_cidrs,
        enable_cdn=enable_cdn,
        cdn_domain=_hostname("cdnDomain", cdn_domain) if cdn_domain else None,
        site_domain=domain,
        instance_count=count,
        ssh_public_key=None,
        ssh_private_key=None,
        db_password=None,
        admin_password=None,
        redis_password=None,
        apt_mirror=str(apt_mirror).rstrip("/") if apt_mirror else None,
        release_archive=archive_path,
        hosts=hosts,
        backup_time=str(backup_time).strip() if backup_time is not None else None,
        backup_days=backup_days,
        tls=tls.mode,
        acme_email=tls.acme_email,
        acme_directory=tls.acme_directory,
        tls_certificate_names=tls.certificate_names,
        tls_certificate_id=tls.certificate_id,
    )


_PLAIN_KEYS = (
    "instanceType", "imageId", "zoneId", "vpcCidr", "vswitchCidr", "adminPort", "enableCdn", "cdnDomain",
    "siteDomain", "instanceCount", "aptMirror", "releaseArchive", "backupTime", "backupDays", "webProcesses",
    "tls", "acmeEmail", "acmeDirectory", "tlsCertificateId",
)
# PEM texts: parse() checks them in the clear (never showing them), then they travel only as secret Outputs.
_PEM_KEYS = ("tlsCertificate", "tlsPrivateKey")
_LIST_KEYS = ("adminCidrs", "sshCidrs")
_JSON_KEYS = ("hosts",)


def _read_json(cfg: pulumi.Config, key: str, *, text_ok: bool) -> object:
    """A structured value (`pulumi config set --path 'raindrop:hosts[0].address' …` stores JSON).

    With `text_ok`, a value that is not JSON comes back as its text (a comma-separated CIDR list, which
    `_cidr_list` splits and checks); otherwise it is refused.
    """
    text = cfg.get(key)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if text_ok:
            return text
        raise ConfigError(key, f"{text!r} is not a list; set it with pulumi config set --path") from None


def load(cfg: pulumi.Config | None = None) -> StackConfig:
    """Read and validate the `raindrop:` namespace of the current stack."""
    cfg = cfg or pulumi.Config(NAMESPACE)
    raw: dict[str, object] = {key: cfg.get(key) for key in _PLAIN_KEYS if cfg.get(key) is not None}
    raw.update({key: _read_json(cfg, key, text_ok=True) for key in _LIST_KEYS})
    raw.update({key: _read_json(cfg, key, text_ok=False) for key in _JSON_KEYS})
    if cfg.get("tlsPrivateKey") is not None and not is_config_secret(f"{NAMESPACE}:tlsPrivateKey"):
        # Checked before the key is parsed: in the clear it would sit readable in Pulumi.<stack>.yaml.
        raise ConfigError("tlsPrivateKey", "must be set as a secret: pulumi config set --secret raindrop:tlsPrivateKey "
                          "< privkey.pem")
    pems = {key: cfg.get(key) for key in _PEM_KEYS if cfg.get(key) is not None}
    parsed = parse({**raw, **pems}, stack=pulumi.get_stack())
    if parsed.tls == "none":
        pulumi.log.warn(PLAIN_HTTP_WARNING)

    public_key = cfg.get("sshPublicKey")
    private_key = cfg.get_secret("sshPrivateKey")
    if private_key is not None and not is_config_secret(f"{NAMESPACE}:sshPrivateKey"):
        # In the clear it would sit readable in Pulumi.<stack>.yaml and in the state.
        raise ConfigError("sshPrivateKey", "must be set as a secret: pulumi config set --secret raindrop:sshPrivateKey")
    if parsed.existing_hosts:
        if private_key is None:
            raise ConfigError(
                "sshPrivateKey", "is required with raindrop:hosts: the key that already logs in to those hosts "
                "(pulumi config set --secret raindrop:sshPrivateKey < key)",
            )
    elif (public_key is None) != (private_key is None):
        missing = "sshPrivateKey" if private_key is None else "sshPublicKey"
        raise ConfigError(missing, "sshPublicKey and sshPrivateKey are set together, or neither (generated)")
    if public_key is not None and not public_key.startswith(("ssh-rsa ", "ssh-ed25519 ", "ecdsa-sha2-")):
        raise ConfigError("sshPublicKey", "is not an OpenSSH public key line (ssh-rsa/ssh-ed25519 …)")

    passwords = {key: _password(key, cfg.get(key)) for key in PASSWORD_KEYS}
    return StackConfig(
        **{
            **parsed.__dict__,
            "ssh_public_key": public_key,
            "ssh_private_key": private_key,
            "db_password": passwords["dbPassword"],
            "admin_password": passwords["adminPassword"],
            "redis_password": passwords["redisPassword"],
            # The certificate is public, but it travels with its key; both stay secret Outputs.
            "tls_certificate": pulumi.Output.secret(pems["tlsCertificate"]) if "tlsCertificate" in pems else None,
            "tls_private_key": pulumi.Output.secret(pems["tlsPrivateKey"]) if "tlsPrivateKey" in pems else None,
        }
    )


def _password(key: str, value: str | None) -> pulumi.Output[str] | None:
    """A given password, checked without ever echoing it, as a secret Output."""
    if value is None:
        return None
    # The host steps' own rule: the values land unescaped in SQL, redis.conf, env files and URLs there.
    if not SAFE_SECRET.match(value):
        raise ConfigError(key, f"{SAFE_SECRET_RULE} (the value is not shown)")
    if key == "adminPassword" and len(value.encode()) > BCRYPT_MAX_BYTES:
        # Caught here, not by bcrypt inside an apply halfway through `pulumi up`.
        raise ConfigError(
            key, f"is longer than bcrypt's {BCRYPT_MAX_BYTES} bytes (the admin site's htpasswd); the value is not shown"
        )
    return pulumi.Output.secret(value)
