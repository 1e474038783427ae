"""Runs the real Pulumi program under `pulumi.runtime.set_mocks` and records what it registered."""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra import config as stack_config
from infra import stack

PROJECT = "raindrop"
STACK = "dev"
ZONES = ["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"]

# Attributes a real provider would compute, so outputs that depend on them resolve to something checkable.
_COMPUTED = {
    "alicloud:ecs/instance:Instance": lambda name: {
        "publicIp": f"203.0.113.{10 + int(name.rsplit('-', 1)[1])}",
        "primaryIpAddress": f"10.10.1.{10 + int(name.rsplit('-', 1)[1])}",
    },
    "alicloud:oss/bucket:Bucket": lambda name: {"extranetEndpoint": "oss-cn-hangzhou.aliyuncs.com"},
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


DEV_CONFIG: dict[str, Any] = {
    "adminCidrs": ["198.51.100.0/24"],
    "sshCidrs": ["198.51.100.10/32"],
}


@dataclass
class Run:
    mocks: RecordingMocks
    infra: stack.Infra
    outputs: dict[str, Any]
    secret_outputs: set[str]


def run_program(overrides: dict[str, Any] | None = None, *, preview: bool = False) -> Run:
    """Run config → build → export exactly as `__main__.py` does, with the given `raindrop:` config."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=STACK, preview=preview)
    values = {**DEV_CONFIG, **(overrides or {})}
    all_config = {"alicloud:region": "cn-hangzhou"}
    for key, value in values.items():
        all_config[f"raindrop:{key}"] = value if isinstance(value, str) else json.dumps(value)
    pulumi.runtime.set_all_config(all_config, secret_keys=[f"raindrop:{k}" for k in _SECRET_KEYS if k in values])

    exported: dict[str, Any] = {}
    built: list[stack.Infra] = []

    def program() -> None:
        infra = stack.build(stack_config.load())
        stack.export(infra)
        built.append(infra)

    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    original_export, original_warn = pulumi.export, pulumi.log.warn
    # A deprecated resource announces itself only through pulumi.log.warn("<Type> is deprecated: ...").
    pulumi.log.warn = lambda msg, *a, **kw: mocks.warnings.append(msg)  # type: ignore[assignment]
    # Outside a real engine there is no root stack resource to hold exports; collect them instead.
    pulumi.export = lambda name, value: exported.__setitem__(name, value)  # type: ignore[assignment]
    try:
        _sync_await(run_pulumi_func(program))
    finally:
        pulumi.export, pulumi.log.warn = original_export, original_warn
    deprecated = [w for w in mocks.warnings if "deprecated" in w]
    deprecated += [f"{r.type} {r.name}: {arg}" for r in mocks.resources for arg in deprecated_inputs(r)]
    if deprecated:
        raise AssertionError(f"the program uses deprecated resources or arguments: {deprecated}")

    outputs, secret = _sync_await(_resolve(exported))
    return Run(mocks, built[0], outputs, secret)


_SECRET_KEYS = ("sshPrivateKey", "dbPassword", "adminPassword", "redisPassword")


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
