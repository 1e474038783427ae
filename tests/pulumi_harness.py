"""Runs the real Pulumi program under `pulumi.runtime.set_mocks` and records what it registered."""

from __future__ import annotations

import importlib
import json
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pulumi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from app import cloud, release
from infra import stack, stack_config

PROJECT = "raindrop"
STACK = "dev"
ZONES = ["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"]

# Attributes a real provider would compute, so outputs that depend on them resolve to something checkable.
_COMPUTED = {
    "alicloud:ecs/instance:Instance": lambda name: {
        "publicIp": f"203.0.113.{10 + int(name.rsplit('-', 1)[1])}",
        "primaryIpAddress": f"10.10.1.{10 + int(name.rsplit('-', 1)[1])}",
    },
    "alicloud:oss/bucket:Bucket": lambda name: {
        "extranetEndpoint": "oss-cn-hangzhou.aliyuncs.com", "intranetEndpoint": "oss-cn-hangzhou-internal.aliyuncs.com"
    },
    "alicloud:cdn/domainNew:DomainNew": lambda name: {"cname": "static.example.com.w.kunlunsl.com"},
    "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer": lambda name: {"address": "198.51.100.7"},
    "alicloud:rds/instance:Instance": lambda name: {"connectionString": "rm-raindrop.mysql.rds.aliyuncs.com"},
    "alicloud:kvstore/instance:Instance": lambda name: {"connectionDomain": "r-raindrop.redis.rds.aliyuncs.com"},
    "random:index/randomString:RandomString": lambda name: {"result": "abcd1234"},
    "random:index/randomPassword:RandomPassword": lambda name: {"result": f"generated-{name}"},
    "tls:index/privateKey:PrivateKey": lambda name: {
        "publicKeyOpenssh": "ssh-rsa AAAAgenerated raindrop",
        "privateKeyOpenssh": "-----BEGIN OPENSSH PRIVATE KEY-----\ngenerated\n-----END OPENSSH PRIVATE KEY-----\n",
    },
    "alicloud:ram/accessKey:AccessKey": lambda name: {"secret": "generated-access-key-secret"},
}


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    provider: str | None


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    resources: list[Registered] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        self.resources.append(Registered(args.typ, args.name, dict(args.inputs), args.provider))
        outputs = dict(args.inputs)
        outputs.update(_COMPUTED.get(args.typ, lambda name: {})(args.name))
        # Buckets are addressed by name; everything else gets a recognisable fake id.
        resource_id = outputs.get("bucket") if args.typ == "alicloud:oss/bucket:Bucket" else f"{args.name}-id"
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list] | dict:
        self.calls.append(args.token)
        if args.token == "alicloud:ecs/getImages:getImages":
            image = "debian_12_10_x64_20G_alibase_20250613.vhd"
            return {"images": [{"id": image, "name": image}], "ids": [image]}
        if args.token == "alicloud:index/getZones:getZones":
            return {"zones": [{"id": z} for z in ZONES], "ids": ZONES}
        raise NotImplementedError(f"no mock for invoke {args.token}")

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.type == typ]


ASSET = "main-ABCDEFGH.js"
INDEX_HTML = (
    f'<!doctype html><html><head><base href="/"></head>'
    f'<body><script src="{ASSET}" type="module"></script></body></html>\n'
)


def fake_bundle(directory: Path) -> Path:
    """A small release bundle with the layout app/release.py writes, so the program need not build one."""
    entries = {
        "DEPS_HASH": b"0123456789abcdef\n",
        "BUNDLE.json": b'{"format": 1}\n',
        "client/index.html": INDEX_HTML.encode(),
        f"client/{ASSET}": b"console.log('raindrop')\n",
        "wheels/app/raindrop_server-0-py3-none-any.whl": b"not a real wheel",
    }
    path = directory / f"raindrop-{release.content_hash(entries)}.tar.gz"
    release.write_tarball(entries, path)
    return path


BUNDLE_PATH = fake_bundle(Path(tempfile.mkdtemp(prefix="raindrop-test-bundle-")))

DEV_CONFIG: dict[str, Any] = {
    "adminCidrs": ["198.51.100.0/24"],
    "sshCidrs": ["198.51.100.10/32"],
    "releaseArchive": str(BUNDLE_PATH),
}


@dataclass
class Constructed:
    """A custom resource as the program constructed it: its Output-valued inputs and its options."""

    type: str
    name: str
    props: dict[str, Any]
    opts: pulumi.ResourceOptions

    def depends_on_names(self) -> set[str]:
        return {d._name for d in (self.opts.depends_on or [])}  # type: ignore[union-attr]


@dataclass
class Run:
    constructed: dict[str, Constructed]
    mocks: RecordingMocks
    infra: stack.Infra
    deployment: Any
    outputs: dict[str, Any]
    secret_outputs: set[str]


def run_program(overrides: dict[str, Any] | None = None, *, preview: bool = False) -> Run:
    """Run config → build → export exactly as `__main__.py` does, with the given `raindrop:` config."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=STACK, preview=preview)
    # None in the overrides means "leave the key unset".
    values = {k: v for k, v in {**DEV_CONFIG, **(overrides or {})}.items() if v is not None}
    all_config = {"alicloud:region": "cn-hangzhou"}
    for key, value in values.items():
        all_config[f"raindrop:{key}"] = value if isinstance(value, str) else json.dumps(value)
    pulumi.runtime.set_all_config(all_config, secret_keys=[f"raindrop:{k}" for k in _SECRET_KEYS if k in values])

    exported: dict[str, Any] = {}
    built: list[Any] = []

    def program() -> None:
        infra = stack.build(stack_config.load())
        deployment = cloud.deploy(infra)
        stack.export(infra)
        built.extend([infra, deployment])

    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    constructed: dict[str, Constructed] = {}
    original_init = pulumi.CustomResource.__init__

    def recording_init(self: pulumi.CustomResource, t: str, name: str, props: Any = None, opts: Any = None,
                       *args: Any, **kwargs: Any) -> None:
        # Generated resources pass an *Args object whose __dict__ holds the inputs by their Python names.
        inputs = props if isinstance(props, dict) else dict(vars(props)) if props is not None else {}
        constructed[name] = Constructed(t, name, inputs, opts or pulumi.ResourceOptions())
        self._name = name  # type: ignore[attr-defined]
        original_init(self, t, name, props, opts, *args, **kwargs)

    pulumi.CustomResource.__init__ = recording_init  # type: ignore[method-assign]
    original_export, original_warn = pulumi.export, pulumi.log.warn
    # A deprecated resource announces itself only through pulumi.log.warn("<Type> is deprecated: ...").
    pulumi.log.warn = lambda msg, *a, **kw: mocks.warnings.append(msg)  # type: ignore[assignment]
    # Outside a real engine there is no root stack resource to hold exports; collect them instead.
    pulumi.export = lambda name, value: exported.__setitem__(name, value)  # type: ignore[assignment]
    try:
        _sync_await(run_pulumi_func(program))
    finally:
        pulumi.export, pulumi.log.warn = original_export, original_warn
        pulumi.CustomResource.__init__ = original_init  # type: ignore[method-assign]
    deprecated = [w for w in mocks.warnings if "deprecated" in w]
    deprecated += [f"{r.type} {r.name}: {arg}" for r in mocks.resources for arg in deprecated_inputs(r)]
    if deprecated:
        raise AssertionError(f"the program uses deprecated resources or arguments: {deprecated}")

    outputs, secret = _sync_await(_resolve(exported))
    return Run(constructed, mocks, built[0], built[1], outputs, secret)


_SECRET_KEYS = ("sshPrivateKey", "dbPassword", "adminPassword", "redisPassword", "tlsCertificate", "tlsPrivateKey")


async def _resolve(exported: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    values: dict[str, Any] = {}
    secret: set[str] = set()
    for name, value in exported.items():
        output = pulumi.Output.from_input(value)
        values[name] = await output.future(with_unknowns=True)
        if await output.is_secret():
            secret.add(name)
    return values, secret


def deprecated_inputs(resource: Registered) -> list[str]:
    """Inputs of a registered resource that its provider SDK marks deprecated.

    Passing a deprecated keyword to a resource constructor warns nothing (only the *Args classes warn), so the
    SDK's own marker on each Args property (`_pulumi_deprecated_callable`) is the reliable source.
    """
    package, module, cls = resource.type.split(":")
    if package not in ("alicloud", "command") or "/" not in module:
        return []
    path = ".".join(re.sub(r"(?<!^)([A-Z])", r"_\1", part).lower() for part in module.split("/"))
    args_cls = getattr(importlib.import_module(f"pulumi_{package}.{path}"), f"{cls}Args")
    found = []
    for attr in vars(args_cls).values():
        if isinstance(attr, property) and "_pulumi_deprecated_callable" in attr.fget.__dict__:
            wire_name = attr.fget.__dict__.get("_pulumi_name")
            if wire_name in resource.inputs:
                found.append(wire_name)
    return found


def resolve(value: Any) -> tuple[Any, bool]:
    """The value of an Output (or plain input) and whether it is secret."""
    output = pulumi.Output.from_input(value)

    async def both() -> tuple[Any, bool]:
        return await output.future(with_unknowns=True), await output.is_secret()

    return _sync_await(both())


def child_urns(component: pulumi.Resource) -> list[str]:
    """URNs of every resource registered under a component, recursively."""
    urns: list[str] = []
    for child in component._childResources:
        urns.append(resolve(child.urn)[0])
        urns += child_urns(child)
    return urns


@dataclass(frozen=True)
class Pem:
    """A self-signed certificate and its key as PEM texts, as `pulumi config set --secret` would hold them."""

    certificate: str
    private_key: str


def make_certificate(*names: str, expires: datetime | None = None, san: bool = True) -> Pem:
    """A P-256 certificate for `names` (subjectAltName DNS names), valid until `expires` (default: 90 days on)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    not_after = expires or datetime.now(UTC) + timedelta(days=90)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_after - timedelta(days=365))
        .not_valid_after(not_after)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    certificate = builder.sign(key, hashes.SHA256())
    return Pem(
        certificate=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        private_key=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    )
