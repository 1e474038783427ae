"""The cloud half under `pulumi.runtime.set_mocks`: graph, security surface, storage, scale-out, config, secrets."""

from __future__ import annotations

import json

import pulumi
import pytest
from pulumi_harness import (
    ZONES,
    RecordingMocks,
    Registered,
    Run,
    child_urns,
    deprecated_inputs,
    resolve,
    run_program,
)

from infra.config import ConfigError, instance_vcpus, parse

INSTANCE = "alicloud:ecs/instance:Instance"
RULE = "alicloud:ecs/securityGroupRule:SecurityGroupRule"
SCALE_OUT_TYPES = (
    "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer",
    "alicloud:slb/listener:Listener",
    "alicloud:rds/instance:Instance",
    "alicloud:rds/database:Database",
    "alicloud:rds/rdsAccount:RdsAccount",
    "alicloud:rds/accountPrivilege:AccountPrivilege",
    "alicloud:kvstore/instance:Instance",
)


@pytest.fixture(params=[False, True], ids=["up", "preview"])
def preview(request: pytest.FixtureRequest) -> bool:
    return request.param


def counts(mocks: RecordingMocks) -> dict[str, int]:
    result: dict[str, int] = {}
    for r in mocks.resources:
        result[r.type] = result.get(r.type, 0) + 1
    return result


def assert_everything_parented(run: Run) -> None:
    """Every registered resource but the provider is a component or sits (transitively) under one."""
    tops = [*run.infra.components, run.deployment]
    parented = {urn.rsplit("::", 1)[1] for c in tops for urn in child_urns(c)}
    components = {r.name for r in run.mocks.resources if r.type.startswith(("raindrop:infra:", "raindrop:app:"))}
    loose = [
        (r.type, r.name)
        for r in run.mocks.resources
        if r.type != "pulumi:providers:alicloud" and r.name not in parented and r.name not in components
    ]
    assert loose == []
    assert all(c.startswith("raindrop") for c in components)


def test_dev_graph_types_counts_parents(preview: bool) -> None:
    run = run_program(preview=preview)
    c = counts(run.mocks)
    assert c == {
        "pulumi:providers:alicloud": 1,
        "raindrop:infra:Network": 1,
        "raindrop:infra:Secrets": 1,
        "raindrop:infra:Server": 1,
        "raindrop:infra:Storage": 1,
        "alicloud:vpc/network:Network": 1,
        "alicloud:vpc/switch:Switch": 1,
        "alicloud:ecs/securityGroup:SecurityGroup": 1,
        RULE: 3,  # web + one admin CIDR + one ssh CIDR
        "alicloud:ecs/ecsKeyPair:EcsKeyPair": 1,
        INSTANCE: 1,
        "alicloud:oss/bucket:Bucket": 1,
        "alicloud:oss/bucketAcl:BucketAcl": 1,
        "alicloud:oss/bucketCors:BucketCors": 1,
        "alicloud:oss/bucketPolicy:BucketPolicy": 1,
        "alicloud:oss/bucketPublicAccessBlock:BucketPublicAccessBlock": 1,
        "random:index/randomString:RandomString": 1,
        "random:index/randomPassword:RandomPassword": 4,
        "tls:index/privateKey:PrivateKey": 1,
        # the deploy half (tests/test_deployment.py looks inside)
        "raindrop:app:Deployment": 1,
        "command:remote:Command": 3,  # secrets, provision, deploy
        "command:remote:CopyToRemote": 1,
        "command:local:Command": 2,  # asset publish, teardown
    }
    assert_everything_parented(run)
    # Every cloud resource goes through the one explicit provider, whose features block is set.
    provider = run.mocks.of_type("pulumi:providers:alicloud")[0]
    assert json.loads(provider.inputs["features"]) == {"ecsInstance": {"replaceOnImageUpdate": True}}
    for r in run.mocks.resources:
        if r.type.startswith("alicloud:"):
            assert r.provider and "pulumi:providers:alicloud::alicloud" in r.provider, r.name


def test_instance_shape(preview: bool) -> None:
    run = run_program(preview=preview)
    (instance,) = run.mocks.of_type(INSTANCE)
    assert instance.inputs["internetMaxBandwidthOut"] > 0
    assert instance.inputs["systemDiskEncrypted"] is True
    assert instance.inputs["keyName"] == "raindrop-key"
    assert instance.inputs["tags"]["project"] == "raindrop"
    assert instance.inputs["imageId"].startswith("debian_12_")
    assert "alicloud:ecs/getImages:getImages" in run.mocks.calls
    assert "allocatePublicIp" not in instance.inputs


def test_security_group_exact_ingress(preview: bool) -> None:
    admin = ["198.51.100.0/24", "192.0.2.0/28"]
    ssh = ["192.0.2.5/32"]
    run = run_program({"adminCidrs": admin, "sshCidrs": ssh, "adminPort": 8443}, preview=preview)
    rules = run.mocks.of_type(RULE)
    assert all(r.inputs["type"] == "ingress" and r.inputs["ipProtocol"] == "tcp" for r in rules)
    assert all(r.inputs["policy"] == "accept" for r in rules)
    got = sorted((r.inputs["portRange"], r.inputs["cidrIp"]) for r in rules)
    want = sorted([("80/80", "0.0.0.0/0")] + [("8443/8443", c) for c in admin] + [("22/22", c) for c in ssh])
    assert got == want


def test_ssh_defaults_to_admin_networks() -> None:
    run = run_program({"adminCidrs": ["192.0.2.0/24"], "sshCidrs": None})
    ssh = [r.inputs["cidrIp"] for r in run.mocks.of_type(RULE) if r.inputs["portRange"] == "22/22"]
    assert ssh == ["192.0.2.0/24"]


def test_bucket_private_with_explicit_cors_and_prefix_policy(preview: bool) -> None:
    run = run_program({"siteDomain": "raindrop.example.com"}, preview=preview)
    (bucket,) = run.mocks.of_type("alicloud:oss/bucket:Bucket")
    for deprecated_inline in ("acl", "policy", "refererConfig", "corsRules"):
        assert deprecated_inline not in bucket.inputs
    (acl,) = run.mocks.of_type("alicloud:oss/bucketAcl:BucketAcl")
    assert acl.inputs["acl"] == "private"
    (cors,) = run.mocks.of_type("alicloud:oss/bucketCors:BucketCors")
    (rule,) = cors.inputs["corsRules"]
    assert sorted(rule["allowedMethods"]) == ["GET", "HEAD"]
    assert "*" not in rule["allowedOrigins"]
    assert set(rule["allowedOrigins"]) == {
        "http://203.0.113.10", "https://raindrop.example.com", "http://raindrop.example.com"
    }
    (policy,) = run.mocks.of_type("alicloud:oss/bucketPolicy:BucketPolicy")
    statement = json.loads(policy.inputs["policy"])["Statement"]
    assert statement == [{
        "Action": ["oss:GetObject"], "Effect": "Allow", "Principal": ["*"],
        "Resource": [f"acs:oss:*:*:{bucket.inputs['bucket']}/assets/*"],
    }]
    assert run.outputs["bucket_name"] == "raindrop-dev-abcd1234"
    assert run.outputs["bucket_endpoint"] == "oss-cn-hangzhou.aliyuncs.com"
    assert not run.mocks.of_type("alicloud:cdn/domainNew:DomainNew")
    assert "cdn_cname" not in run.outputs


def test_cdn_only_when_enabled_and_sourced_from_bucket(preview: bool) -> None:
    run = run_program({"enableCdn": True, "cdnDomain": "static.example.com"}, preview=preview)
    (domain,) = run.mocks.of_type("alicloud:cdn/domainNew:DomainNew")
    assert domain.inputs["domainName"] == "static.example.com"
    (source,) = domain.inputs["sources"]
    assert source["type"] == "oss"
    assert source["content"] == "raindrop-dev-abcd1234.oss-cn-hangzhou.aliyuncs.com"
    configs = {c.inputs["functionName"]: c for c in run.mocks.of_type("alicloud:cdn/domainConfig:DomainConfig")}
    assert set(configs) == {"path_based_ttl_set", "gzip"}
    ttl = {a["argName"]: a["argValue"] for a in configs["path_based_ttl_set"].inputs["functionArgs"]}
    assert ttl == {"path": "/assets/", "ttl": "31536000", "weight": "99"}
    assert run.outputs["cdn_cname"] == "static.example.com.w.kunlunsl.com"
    assert_everything_parented(run)


def test_scale_out_creates_distributed_shape(preview: bool) -> None:
    run = run_program({"instanceCount": 3}, preview=preview)
    # Registrations reach the mocks in whatever order their inputs resolve: compare by name.
    instances = sorted(run.mocks.of_type(INSTANCE), key=lambda r: r.name)
    assert len(instances) == 3
    switches = sorted(run.mocks.of_type("alicloud:vpc/switch:Switch"), key=lambda r: r.name)
    assert [s.inputs["zoneId"] for s in switches] == ZONES[:2]
    assert [s.inputs["cidrBlock"] for s in switches] == ["10.10.1.0/24", "10.10.2.0/24"]
    assert [i.inputs["vswitchId"] for i in instances] == [
        "raindrop-vswitch-0-id", "raindrop-vswitch-1-id", "raindrop-vswitch-0-id"
    ]
    for typ in SCALE_OUT_TYPES:
        assert len(run.mocks.of_type(typ)) == 1, typ
    (listener,) = run.mocks.of_type("alicloud:slb/listener:Listener")
    assert listener.inputs["healthCheckUri"] == "/api/health"
    assert listener.inputs["frontendPort"] == 80
    assert len(run.mocks.of_type("alicloud:slb/serverGroupServerAttachment:ServerGroupServerAttachment")) == 3
    (rds,) = run.mocks.of_type("alicloud:rds/instance:Instance")
    assert sorted(rds.inputs["securityIps"]) == ["10.10.1.0/24", "10.10.2.0/24"]
    (redis,) = run.mocks.of_type("alicloud:kvstore/instance:Instance")
    assert sorted(redis.inputs["securityIps"]) == ["10.10.1.0/24", "10.10.2.0/24"]
    assert redis.inputs["password"]
    (policy,) = run.mocks.of_type("alicloud:oss/bucketPolicy:BucketPolicy")
    resources = json.loads(policy.inputs["policy"])["Statement"][0]["Resource"]
    assert resources == ["acs:oss:*:*:raindrop-dev-abcd1234/assets/*", "acs:oss:*:*:raindrop-dev-abcd1234/uploads/*"]
    assert run.outputs["site_url"] == "http://198.51.100.7/"
    assert len(run.outputs["public_ips"]) == 3
    assert run.outputs["db_host"] == "rm-raindrop.mysql.rds.aliyuncs.com"
    secret, is_secret = resolve(run.infra.backends.upload_key_secret)
    assert is_secret and secret
    assert_everything_parented(run)


def test_single_host_has_no_managed_services() -> None:
    run = run_program({"instanceCount": 1})
    for typ in (*SCALE_OUT_TYPES, "alicloud:ram/user:User"):
        assert run.mocks.of_type(typ) == [], typ
    assert run.infra.backends is None


def test_zone_id_is_used_without_lookup() -> None:
    run = run_program({"zoneId": "cn-hangzhou-k"})
    (switch,) = run.mocks.of_type("alicloud:vpc/switch:Switch")
    assert switch.inputs["zoneId"] == "cn-hangzhou-k"
    assert "alicloud:index/getZones:getZones" not in run.mocks.calls


BAD_CONFIGS = [
    ({"adminCidrs": ["10.0.0.300/32"]}, "raindrop:adminCidrs", "not a valid CIDR"),
    ({"sshCidrs": ["not-a-cidr"]}, "raindrop:sshCidrs", "not a valid CIDR"),
    ({"vpcCidr": "10.0.0.0/33"}, "raindrop:vpcCidr", "not a valid CIDR"),
    ({"vswitchCidr": "172.16.0.0/24"}, "raindrop:vswitchCidr", "not inside vpcCidr"),
    ({"adminCidrs": ["0.0.0.0/0"]}, "raindrop:adminCidrs", "whole internet"),
    ({"adminCidrs": ["::/0"]}, "raindrop:adminCidrs", "whole internet"),
    ({"sshCidrs": ["0.0.0.0/0"]}, "raindrop:sshCidrs", "whole internet"),
    ({"sshCidrs": ["::/0"]}, "raindrop:sshCidrs", "whole internet"),
    ({"adminCidrs": None}, "raindrop:adminCidrs", "required"),
    ({"adminCidrs": []}, "raindrop:adminCidrs", "at least one"),
    ({"adminPort": 80}, "raindrop:adminPort", "taken by"),
    ({"adminPort": 443}, "raindrop:adminPort", "taken by"),
    ({"adminPort": 22}, "raindrop:adminPort", "taken by"),
    ({"adminPort": 10000}, "raindrop:adminPort", "taken by"),
    ({"adminPort": 0}, "raindrop:adminPort", "out of range"),
    ({"adminPort": 70000}, "raindrop:adminPort", "out of range"),
    ({"adminPort": "http"}, "raindrop:adminPort", "not a port"),
    ({"enableCdn": True}, "raindrop:cdnDomain", "required when enableCdn"),
    ({"enableCdn": "maybe"}, "raindrop:enableCdn", "not true or false"),
    ({"instanceCount": 0}, "raindrop:instanceCount", "at least 1"),
    ({"instanceCount": -2}, "raindrop:instanceCount", "at least 1"),
    ({"instanceCount": "two"}, "raindrop:instanceCount", "whole number"),
    ({"aptMirror": "ftp://mirror"}, "raindrop:aptMirror", "http(s) URL"),
    ({"webProcesses": 0}, "raindrop:webProcesses", "must be 1-64, got 0"),
    ({"webProcesses": "four"}, "raindrop:webProcesses", "'four' is not a whole number"),
    ({"instanceType": "ecs.t5-lc1m1.small"}, "raindrop:webProcesses", "cannot tell the vCPUs"),
    ({"releaseArchive": "/nonexistent/raindrop-x.tar.gz"}, "raindrop:releaseArchive", "does not exist"),
    ({"sshPublicKey": "ssh-ed25519 AAAA me"}, "raindrop:sshPrivateKey", "set together"),
    ({"dbPassword": "short"}, "raindrop:dbPassword", "16-256 characters"),
    ({"adminPassword": "has spaces and $ signs in it"}, "raindrop:adminPassword", "16-256 characters"),
    ({"redisPassword": "x" * 300}, "raindrop:redisPassword", "16-256 characters"),
]


@pytest.mark.parametrize(("overrides", "key", "problem"), BAD_CONFIGS, ids=[f"{c[1]}-{i}" for i, c in
                                                                             enumerate(BAD_CONFIGS)])
def test_bad_config_refused_before_anything_is_created(overrides: dict, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        run = run_program(overrides)
        pytest.fail(f"accepted; registered {len(run.mocks.resources)} resources")
    assert str(err.value).startswith(key + ":")
    assert problem in str(err.value)
    assert err.value.key == key


def test_bad_config_registers_nothing() -> None:
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="raindrop", stack="dev")
    pulumi.runtime.set_all_config({"alicloud:region": "cn-hangzhou", "raindrop:adminCidrs": '["0.0.0.0/0"]'})
    from infra import config

    with pytest.raises(ConfigError):
        config.load()
    assert mocks.resources == []


def test_generated_secrets_are_secret_outputs() -> None:
    run = run_program()
    assert {"ssh_private_key", "admin_password"} <= run.secret_outputs
    assert run.secret_outputs.isdisjoint({"site_url", "public_ips", "bucket_name", "admin_user"})
    s = run.infra.secrets
    for output in (s.db_password, s.admin_password, s.redis_password, s.secret_key, s.ssh_private_key):
        value, is_secret = resolve(output)
        assert value and is_secret
    for host in run.infra.server.hosts:
        assert resolve(host.private_key)[1] is True
    passwords = run.mocks.of_type("random:index/randomPassword:RandomPassword")
    assert {p.name for p in passwords} == {
        "raindrop-db", "raindrop-admin", "raindrop-redis", "raindrop-flask-secret-key"
    }


def test_given_secrets_are_used_and_stay_secret() -> None:
    run = run_program({
        "dbPassword": "db-from-config-0001", "adminPassword": "admin-from-config-01",
        "redisPassword": "redis-from-config-01",
        "sshPublicKey": "ssh-ed25519 AAAAC3given me", "sshPrivateKey": "-----BEGIN given-----",
    })
    s = run.infra.secrets
    assert resolve(s.db_password) == ("db-from-config-0001", True)
    assert resolve(s.admin_password) == ("admin-from-config-01", True)
    assert resolve(s.ssh_private_key) == ("-----BEGIN given-----", True)
    assert run.outputs["admin_password"] == "admin-from-config-01" and "admin_password" in run.secret_outputs
    names = {p.name for p in run.mocks.of_type("random:index/randomPassword:RandomPassword")}
    assert names == {"raindrop-flask-secret-key"}
    assert run.mocks.of_type("tls:index/privateKey:PrivateKey") == []
    (key_pair,) = run.mocks.of_type("alicloud:ecs/ecsKeyPair:EcsKeyPair")
    assert key_pair.inputs["publicKey"] == "ssh-ed25519 AAAAC3given me"


def test_deprecated_arguments_and_resources_are_caught() -> None:
    """The harness fails a run that passes a deprecated argument or registers a deprecated resource."""
    flagged = Registered("alicloud:ecs/instance:Instance", "x", {"allocatePublicIp": True, "imageId": "i"}, None)
    assert deprecated_inputs(flagged) == ["allocatePublicIp"]
    assert deprecated_inputs(Registered("alicloud:vpc/switch:Switch", "s", {"availabilityZone": "z"}, None)) == [
        "availabilityZone"
    ]
    clean = Registered("alicloud:vpc/switch:Switch", "s", {"zoneId": "z", "vswitchName": "n"}, None)
    assert deprecated_inputs(clean) == []
    # And with the pytest config, the SDK's own DeprecationWarning is an error here.
    from pulumi_alicloud import ecs

    with pytest.raises(DeprecationWarning):
        ecs.InstanceArgs(instance_type="ecs.e-c1m2.large", allocate_public_ip=True)


def test_web_processes_default_to_the_instance_types_vcpus() -> None:
    sizes = ["ecs.e-c1m2.large", "ecs.g7.xlarge", "ecs.c7.2xlarge", "ecs.r7.16xlarge", "ecs.t5-lc1m1.small"]
    assert [instance_vcpus(name) for name in sizes] == [2, 4, 8, 64, None]
    base = {"adminCidrs": ["203.0.113.7/32"]}
    assert parse(base).web_processes == 2  # the default instance type
    assert parse({**base, "instanceType": "ecs.g7.2xlarge"}).web_processes == 8
    assert parse({**base, "instanceType": "ecs.t5-lc1m1.small", "webProcesses": "3"}).web_processes == 3
