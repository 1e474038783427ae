"""The cloud half under `pulumi.runtime.set_mocks`: graph, security surface, storage, scale-out, config, secrets."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pulumi
import pytest
from pulumi_harness import (
    ZONES,
    RecordingMocks,
    Registered,
    Run,
    child_urns,
    deprecated_inputs,
    make_certificate,
    resolve,
    run_program,
)

from infra.stack_config import ConfigError, instance_vcpus, parse

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
        # the backups' off-host copy: an ECS RAM role limited to backups/, on the instance
        "raindrop:infra:BackupWriter": 1,
        "alicloud:ram/role:Role": 1,
        "alicloud:ram/policy:Policy": 1,
        "alicloud:ram/rolePolicyAttachment:RolePolicyAttachment": 1,
        "alicloud:ecs/ramRoleAttachment:RamRoleAttachment": 1,
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
    ({"backupTime": "3:30"}, "raindrop:backupTime", "not a time of day HH:MM in UTC"),
    ({"backupTime": "24:00"}, "raindrop:backupTime", "not a time of day HH:MM in UTC"),
    ({"backupDays": 3}, "raindrop:backupDays", "outside 7-730"),
    ({"backupDays": "a month"}, "raindrop:backupDays", "not a whole number"),
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
    from infra import stack_config

    with pytest.raises(ConfigError):
        stack_config.load()
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


# --- raindrop:hosts: servers that already exist -------------------------------------------------------------

DEPLOY_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nexisting hosts\n-----END OPENSSH PRIVATE KEY-----\n"
HOSTS = {
    "hosts": [{"address": "203.0.113.5"}, {"address": "web2.example.com", "user": "deploy", "port": 2222}],
    "sshPrivateKey": DEPLOY_KEY,
}


def test_hosts_mode_registers_no_cloud_random_or_tls_resource(preview: bool) -> None:
    run = run_program(HOSTS, preview=preview)
    assert counts(run.mocks) == {
        "raindrop:app:Deployment": 1,
        "command:remote:Command": 6,  # secrets, provision, deploy on each of the two hosts
        "command:remote:CopyToRemote": 2,
        "command:local:Command": 2,  # a teardown per host; no asset publish
    }
    assert [r.type for r in run.mocks.resources if r.type.startswith(("alicloud:", "random:", "tls:", "pulumi:"))] == []
    assert run.mocks.calls == []  # not even a zone or image lookup
    assert (run.infra.provider, run.infra.network, run.infra.server, run.infra.storage, run.infra.secrets) == (
        None, None, None, None, None
    )
    assert_everything_parented(run)


def test_hosts_mode_outputs_and_the_admin_password_stays_on_the_host() -> None:
    run = run_program(HOSTS)
    assert run.outputs == {
        "site_url": "http://203.0.113.5/",
        "site_urls": ["http://203.0.113.5/", "http://web2.example.com/"],
        "admin_url": "http://203.0.113.5:8090/",
        "admin_urls": ["http://203.0.113.5:8090/", "http://web2.example.com:8090/"],
        "admin_user": "admin",
        "public_ips": ["203.0.113.5", "web2.example.com"],
        "ssh_user": "root",
        "admin_password_commands": [
            "ssh -p 22 root@203.0.113.5 sed -n s/^ADMIN_PASSWORD=//p /etc/raindrop/secrets.env",
            "ssh -p 2222 deploy@web2.example.com sudo sed -n s/^ADMIN_PASSWORD=//p /etc/raindrop/secrets.env",
        ],
    }
    assert run.secret_outputs == set()


def test_hosts_mode_exports_an_admin_password_the_config_gives() -> None:
    run = run_program({**HOSTS, "adminPassword": "admin-from-config-01"})
    assert run.outputs["admin_password"] == "admin-from-config-01"
    assert run.secret_outputs == {"admin_password"}
    assert "admin_password_commands" not in run.outputs


def test_hosts_mode_ignores_the_cloud_only_settings() -> None:
    """Pulumi.dev.yaml's instanceType, CIDRs and mirror may stay: nothing reads them but the apt mirror."""
    run = run_program({**HOSTS, "instanceType": "ecs.g7.large", "zoneId": "cn-hangzhou-k", "instanceCount": 1})
    assert run.mocks.of_type(INSTANCE) == []


BAD_HOSTS = [
    ({"hosts": []}, "raindrop:hosts: must hold at least one host; unset it to create hosts on Alibaba Cloud"),
    ({"hosts": {"address": "203.0.113.5"}},
     "raindrop:hosts: must be a list of {address, user?, port?} objects, got {'address': '203.0.113.5'}"),
    ({"hosts": "203.0.113.5"},
     "raindrop:hosts: '203.0.113.5' is not a list; set it with pulumi config set --path"),
    ({"hosts": ["203.0.113.5"]},
     "raindrop:hosts[0]: must be an object with address (and optional user, port), got '203.0.113.5'"),
    ({"hosts": [{"user": "root"}]},
     "raindrop:hosts[0].address: is required: the IP address or host name to deploy to"),
    ({"hosts": [{"address": "203.0.113.5", "host": "x"}]},
     "raindrop:hosts[0].host: is not a host setting (address, user, port)"),
    ({"hosts": [{"address": "300.1.2.3"}]}, "raindrop:hosts[0].address: '300.1.2.3' is not an IP address or host name"),
    ({"hosts": [{"address": "web_1!.example.com"}]},
     "raindrop:hosts[0].address: 'web_1!.example.com' is not an IP address or host name"),
    ({"hosts": [{"address": ""}]}, "raindrop:hosts[0].address: '' is not an IP address or host name"),
    ({"hosts": [{"address": 203}]}, "raindrop:hosts[0].address: 203 is not an IP address or host name"),
    ({"hosts": [{"address": "203.0.113.5"}, {"address": "203.0.113.5 "}]},
     "raindrop:hosts[1].address: 203.0.113.5 is already hosts[0]; list each host once"),
    ({"hosts": [{"address": "Web.Example.com"}, {"address": "10.0.0.1"}, {"address": "web.example.com."}]},
     "raindrop:hosts[2].address: web.example.com is already hosts[0]; list each host once"),
    ({"hosts": [{"address": "203.0.113.5", "port": 0}]}, "raindrop:hosts[0].port: 0 is out of range 1-65535"),
    ({"hosts": [{"address": "203.0.113.5", "port": 70000}]}, "raindrop:hosts[0].port: 70000 is out of range 1-65535"),
    ({"hosts": [{"address": "203.0.113.5", "port": "ssh"}]}, "raindrop:hosts[0].port: 'ssh' is not a port number"),
    ({"hosts": [{"address": "203.0.113.5", "port": True}]}, "raindrop:hosts[0].port: True is not a port number"),
    ({"hosts": [{"address": "203.0.113.5", "port": -22}]}, "raindrop:hosts[0].port: -22 is not a port number"),
    ({"hosts": [{"address": "203.0.113.5", "user": "Root"}]},
     "raindrop:hosts[0].user: 'Root' is not a login name (a-z 0-9 _ -, starting with a letter)"),
    ({"hosts": [{"address": "203.0.113.5", "user": "de ploy"}]},
     "raindrop:hosts[0].user: 'de ploy' is not a login name (a-z 0-9 _ -, starting with a letter)"),
    ({"hosts": [{"address": "203.0.113.5", "user": ""}]},
     "raindrop:hosts[0].user: '' is not a login name (a-z 0-9 _ -, starting with a letter)"),
    ({"instanceCount": 2},
     "raindrop:instanceCount: 2 is scale-out on Alibaba Cloud (load balancer, RDS, KVStore); with raindrop:hosts "
     "every host runs the whole stack, so leave instanceCount unset"),
    ({"enableCdn": True, "cdnDomain": "static.example.com"},
     "raindrop:enableCdn: needs the stack's own OSS bucket, which raindrop:hosts does not create; nginx serves the "
     "assets on each host"),
    ({"sshPrivateKey": None},
     "raindrop:sshPrivateKey: is required with raindrop:hosts: the key that already logs in to those hosts "
     "(pulumi config set --secret raindrop:sshPrivateKey < key)"),
    ({"dbPassword": "short"},
     "raindrop:dbPassword: must be 16-256 characters of A-Z a-z 0-9 . _ - (the value is not shown)"),
    # Passes the secret rule, but bcrypt (the admin htpasswd) reads only 72 bytes: refused before any apply.
    ({"adminPassword": "a" * 73},
     "raindrop:adminPassword: is longer than bcrypt's 72 bytes (the admin site's htpasswd); the value is not shown"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_HOSTS, ids=[m.split(":")[1] + f"-{i}" for i, (_, m) in
                                                                  enumerate(BAD_HOSTS)])
def test_bad_hosts_config_is_refused_with_the_key_named(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        run = run_program({**HOSTS, **overrides})
        pytest.fail(f"accepted; registered {len(run.mocks.resources)} resources")
    assert str(err.value) == message


def test_a_private_key_in_the_clear_is_refused() -> None:
    """Set without --secret it would sit readable in Pulumi.<stack>.yaml; the program refuses it, in either mode."""
    from infra import stack_config

    for extra in ({"raindrop:hosts": '[{"address": "203.0.113.5"}]'}, {"raindrop:sshPublicKey": "ssh-ed25519 AAAA me"}):
        mocks = RecordingMocks()
        pulumi.runtime.set_mocks(mocks, project="raindrop", stack="dev")
        pulumi.runtime.set_all_config({"raindrop:adminCidrs": '["198.51.100.0/24"]', "raindrop:sshPrivateKey": "k",
                                       **extra}, secret_keys=[])
        with pytest.raises(ConfigError) as err:
            stack_config.load()
        assert str(err.value) == (
            "raindrop:sshPrivateKey: must be set as a secret: pulumi config set --secret raindrop:sshPrivateKey"
        )
        assert mocks.resources == []


def test_infra_never_imports_app() -> None:
    """The layers go one way: app (the deploy half) may import infra, infra never app."""
    import ast
    from pathlib import Path

    offenders = []
    for path in sorted((Path(__file__).resolve().parent.parent / "infra").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n == "app" or n.startswith("app.")]
    assert offenders == []


# --- backups --------------------------------------------------------------------------------------------


def test_single_host_backups_go_to_a_private_prefix_with_an_ecs_role_that_writes_only_there(preview: bool) -> None:
    run = run_program({"backupDays": 14}, preview=preview)
    (bucket,) = run.mocks.of_type("alicloud:oss/bucket:Bucket")
    assert bucket.inputs["lifecycleRules"] == [{
        "id": "expire-backups", "enabled": True, "prefix": "backups/", "expirations": [{"days": 14}],
        "abortMultipartUploads": [{"days": 1}],
    }]
    (role,) = run.mocks.of_type("alicloud:ram/role:Role")
    assert json.loads(role.inputs["assumeRolePolicyDocument"])["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": ["ecs.aliyuncs.com"]}}
    ]
    (policy,) = run.mocks.of_type("alicloud:ram/policy:Policy")
    assert json.loads(policy.inputs["policyDocument"])["Statement"] == [{
        "Action": ["oss:PutObject", "oss:GetObject"], "Effect": "Allow",
        "Resource": ["acs:oss:*:*:raindrop-dev-abcd1234/backups/*"],
    }]
    (grant,) = run.mocks.of_type("alicloud:ram/rolePolicyAttachment:RolePolicyAttachment")
    assert (grant.inputs["roleName"], grant.inputs["policyName"], grant.inputs["policyType"]) == (
        role.inputs["roleName"], policy.inputs["policyName"], "Custom")
    (attachment,) = run.mocks.of_type("alicloud:ecs/ramRoleAttachment:RamRoleAttachment")
    assert attachment.inputs == {"instanceId": "raindrop-0-id", "ramRoleName": role.inputs["roleName"]}
    (instance,) = run.mocks.of_type(INSTANCE)
    assert "roleName" not in instance.inputs  # deprecated there: the attachment resource instead
    # No access key for it anywhere: the only RAM keys are scale-out's upload writer's.
    assert run.mocks.of_type("alicloud:ram/accessKey:AccessKey") == []
    # Browsers never read backups/: the bucket policy grants GetObject on assets/ only.
    (bucket_policy,) = run.mocks.of_type("alicloud:oss/bucketPolicy:BucketPolicy")
    granted = [r for s in json.loads(bucket_policy.inputs["policy"])["Statement"] for r in s["Resource"]]
    assert granted == ["acs:oss:*:*:raindrop-dev-abcd1234/assets/*"]
    assert_everything_parented(run)


def test_the_bucket_policy_refuses_a_public_prefix_that_covers_backups() -> None:
    from infra.storage import read_policy

    for prefix in ("", "backups/", "backups/daily/"):
        with pytest.raises(ValueError, match="would let browsers read backups/"):
            read_policy("b", ["assets/", prefix])


def test_scale_out_sets_an_rds_backup_policy_and_no_backup_role(preview: bool) -> None:
    run = run_program({"instanceCount": 2, "backupTime": "23:45", "backupDays": 60}, preview=preview)
    (policy,) = run.mocks.of_type("alicloud:rds/backupPolicy:BackupPolicy")
    assert policy.inputs == {
        "instanceId": "raindrop-rds-id",
        "preferredBackupPeriods": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
        "preferredBackupTime": "23:00Z-00:00Z",
        "backupRetentionPeriod": 60,
    }
    assert run.mocks.of_type("alicloud:ram/role:Role") == []
    (bucket,) = run.mocks.of_type("alicloud:oss/bucket:Bucket")
    assert "lifecycleRules" not in bucket.inputs


def test_web_processes_default_to_the_instance_types_vcpus() -> None:
    sizes = ["ecs.e-c1m2.large", "ecs.g7.xlarge", "ecs.c7.2xlarge", "ecs.r7.16xlarge", "ecs.t5-lc1m1.small"]
    assert [instance_vcpus(name) for name in sizes] == [2, 4, 8, 64, None]
    base = {"adminCidrs": ["203.0.113.7/32"]}
    assert parse(base).web_processes == 2  # the default instance type
    assert parse({**base, "instanceType": "ecs.g7.2xlarge"}).web_processes == 8
    assert parse({**base, "instanceType": "ecs.t5-lc1m1.small", "webProcesses": "3"}).web_processes == 3


# --- TLS: raindrop:tls and its certificate keys ---------------------------------------------------------------

SITE = "raindrop.example.com"
CERT = make_certificate(SITE, f"www.{SITE}")
OTHER = make_certificate(SITE)
PROVIDED = {"siteDomain": SITE, "tlsCertificate": CERT.certificate, "tlsPrivateKey": CERT.private_key}
EXPIRED = make_certificate(SITE, expires=datetime(2021, 1, 1, tzinfo=UTC))
NO_SAN = make_certificate(SITE, san=False)
SCALE_OUT_ID = {"instanceCount": 2, "siteDomain": SITE, "tlsCertificateId": "12345678"}

BAD_TLS = [
    ({"tls": "https"}, "raindrop:tls: 'https' is not one of acme, provided, none"),
    ({"tls": "acme"},
     "raindrop:tls: acme needs raindrop:siteDomain, the name the certificate is issued for; set it, or set tls to "
     "none for plain HTTP"),
    ({"siteDomain": "raindrop_example.com"}, "raindrop:siteDomain: 'raindrop_example.com' is not a domain name"),
    ({"siteDomain": "203.0.113.10"}, "raindrop:siteDomain: '203.0.113.10' is not a domain name"),
    ({"siteDomain": SITE, "tls": "none"},
     "raindrop:tls: none would serve raindrop:siteDomain raindrop.example.com in plain HTTP; use acme (the default "
     "with a domain) or provided"),
    ({"siteDomain": SITE, "instanceCount": 2},
     "raindrop:tls: acme cannot issue a certificate per host behind the load balancer (kamal#1377); in scale-out "
     "set tls to provided with tlsCertificate and tlsPrivateKey, or tlsCertificateId"),
    ({"siteDomain": SITE, "tls": "acme", "instanceCount": 3, "tlsCertificateId": "12345678"},
     "raindrop:tls: acme cannot issue a certificate per host behind the load balancer (kamal#1377); in scale-out "
     "set tls to provided with tlsCertificate and tlsPrivateKey, or tlsCertificateId"),
    ({"siteDomain": SITE, "tls": "provided"},
     "raindrop:tlsCertificate: is required with tls provided: set tlsCertificate and tlsPrivateKey (pulumi config "
     "set --secret); tlsCertificateId serves only the load balancer and the CDN, nginx on the host needs the PEM"),
    ({"siteDomain": SITE, "tls": "provided", "instanceCount": 2},
     "raindrop:tlsCertificate: is required with tls provided: set tlsCertificate and tlsPrivateKey (pulumi config "
     "set --secret), or tlsCertificateId"),
    ({"siteDomain": SITE, "tls": "provided", "tlsCertificateId": "12345678", "enableCdn": True,
      "cdnDomain": "static.example.com"},
     "raindrop:tlsCertificate: is required with tls provided: set tlsCertificate and tlsPrivateKey (pulumi config "
     "set --secret); tlsCertificateId serves only the load balancer and the CDN, nginx on the host needs the PEM"),
    ({**PROVIDED, "tlsPrivateKey": None},
     "raindrop:tlsPrivateKey: is required with the other half: set both tlsCertificate and tlsPrivateKey (pulumi "
     "config set --secret)"),
    ({**PROVIDED, "tlsCertificate": None},
     "raindrop:tlsCertificate: is required with the other half: set both tlsCertificate and tlsPrivateKey (pulumi "
     "config set --secret)"),
    ({**PROVIDED, "siteDomain": None}, "raindrop:siteDomain: is required with tls provided: the name the "
     "certificate must cover"),
    ({**PROVIDED, "tlsPrivateKey": OTHER.private_key},
     "raindrop:tlsPrivateKey: does not match the public key of tlsCertificate (the value is not shown)"),
    ({**PROVIDED, "tlsPrivateKey": "not a key at all, certainly not PEM"},
     "raindrop:tlsPrivateKey: is not an unencrypted PEM private key (the value is not shown)"),
    ({**PROVIDED, "tlsCertificate": "MIIB...base64 without its PEM armour"},
     "raindrop:tlsCertificate: is not a PEM certificate (-----BEGIN CERTIFICATE-----, the leaf first, then its "
     "chain)"),
    ({**PROVIDED, "tlsCertificate": EXPIRED.certificate, "tlsPrivateKey": EXPIRED.private_key},
     "raindrop:tlsCertificate: expired on 2021-01-01 00:00 UTC; give a current one"),
    ({**PROVIDED, "tlsCertificate": NO_SAN.certificate, "tlsPrivateKey": NO_SAN.private_key},
     "raindrop:tlsCertificate: has no subjectAltName DNS names, so no browser accepts it"),
    ({**PROVIDED, "siteDomain": "other.example.com"},
     "raindrop:tlsCertificate: is for raindrop.example.com, www.raindrop.example.com, not raindrop:siteDomain "
     "other.example.com"),
    ({**PROVIDED, "tls": "acme"}, "raindrop:tlsCertificate: is set, but tls is acme; set tls to provided to use it"),
    ({"tlsPrivateKey": CERT.private_key, "tls": "none"},
     "raindrop:tlsPrivateKey: is set, but tls is none; set tls to provided to use it"),
    ({**SCALE_OUT_ID, **PROVIDED},
     "raindrop:tlsCertificateId: and tlsCertificate both give the load balancer's certificate; set one of them"),
    ({**SCALE_OUT_ID, "tlsCertificateId": "cert-1234"},
     "raindrop:tlsCertificateId: 'cert-1234' is not a certificate-service id (digits, e.g. 12345678)"),
    ({"siteDomain": SITE, "tlsCertificateId": "12345678"},
     "raindrop:tlsCertificateId: is used only by the load balancer (scale-out with tls provided) and the CDN "
     "(enableCdn); this stack has neither"),
    ({"siteDomain": SITE, "acmeDirectory": "http://acme-staging-v02.api.letsencrypt.org/directory"},
     "raindrop:acmeDirectory: 'http://acme-staging-v02.api.letsencrypt.org/directory' is not an https URL of an "
     "ACME (RFC 8555) directory"),
    ({"siteDomain": SITE, "acmeDirectory": "letsencrypt"},
     "raindrop:acmeDirectory: 'letsencrypt' is not an https URL of an ACME (RFC 8555) directory"),
    ({"siteDomain": SITE, "acmeEmail": "ops at example.com"},
     "raindrop:acmeEmail: 'ops at example.com' is not an email address"),
    ({"siteDomain": SITE, "acmeEmail": "ops@localhost"}, "raindrop:acmeEmail: 'ops@localhost' is not an email address"),
    ({**PROVIDED, "acmeEmail": "ops@example.com"}, "raindrop:acmeEmail: applies only to tls acme (tls is provided)"),
    ({"acmeDirectory": "https://acme.example.com/directory"},
     "raindrop:acmeDirectory: applies only to tls acme (tls is none)"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_TLS, ids=[f"{m.split(':')[1]}-{i}" for i, (_, m) in
                                                                 enumerate(BAD_TLS)])
def test_bad_tls_config_is_refused_with_the_key_named(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        run = run_program(overrides)
        pytest.fail(f"accepted; registered {len(run.mocks.resources)} resources")
    assert str(err.value) == message


def test_bad_tls_config_with_existing_hosts_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        run_program({**HOSTS, "siteDomain": SITE, "tlsCertificateId": "12345678"})
    assert str(err.value) == (
        "raindrop:tlsCertificateId: is for the load balancer and the CDN, which raindrop:hosts does not create; "
        "give tlsCertificate and tlsPrivateKey for the hosts"
    )
    with pytest.raises(ConfigError) as err:
        run_program({**HOSTS, "tls": "acme"})
    assert str(err.value) == (
        "raindrop:tls: acme needs raindrop:siteDomain, the name the certificate is issued for; set it, or set tls to "
        "none for plain HTTP"
    )


def test_a_tls_private_key_in_the_clear_is_refused_before_it_is_read() -> None:
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="raindrop", stack="dev")
    pulumi.runtime.set_all_config({"raindrop:adminCidrs": '["198.51.100.0/24"]', "raindrop:siteDomain": SITE,
                                   "raindrop:tlsCertificate": CERT.certificate,
                                   "raindrop:tlsPrivateKey": CERT.private_key},
                                  secret_keys=["raindrop:tlsCertificate"])
    from infra import stack_config

    with pytest.raises(ConfigError) as err:
        stack_config.load()
    assert str(err.value) == (
        "raindrop:tlsPrivateKey: must be set as a secret: pulumi config set --secret raindrop:tlsPrivateKey "
        "< privkey.pem"
    )
    assert mocks.resources == []


def test_tls_defaults_follow_the_domain_and_the_certificate() -> None:
    """acme with a domain, none (with a warning) without one, provided when a certificate is given."""
    base = {"adminCidrs": ["203.0.113.7/32"]}
    acme = parse({**base, "siteDomain": "Raindrop.Example.com."})
    assert (acme.tls, acme.site_domain, acme.acme_directory, acme.acme_email) == (
        "acme", SITE, "https://acme-v02.api.letsencrypt.org/directory", None
    )
    staging = parse({**base, "siteDomain": SITE, "acmeEmail": "ops@example.com",
                     "acmeDirectory": "https://acme-staging-v02.api.letsencrypt.org/directory"})
    assert (staging.acme_email, staging.acme_directory) == (
        "ops@example.com", "https://acme-staging-v02.api.letsencrypt.org/directory"
    )
    assert parse(base).tls == "none"
    provided = parse({**base, **PROVIDED})
    assert (provided.tls, provided.tls_certificate_names) == ("provided", (SITE, f"www.{SITE}"))
    by_id = parse({**base, **SCALE_OUT_ID})
    assert (by_id.tls, by_id.tls_certificate_id, by_id.tls_certificate_names) == ("provided", "12345678", ())
    # A wildcard covers one label: *.example.com is good for raindrop.example.com, not for a.b.example.com.
    wildcard = make_certificate("*.example.com")
    assert parse({**base, "siteDomain": SITE, "tlsCertificate": wildcard.certificate,
                  "tlsPrivateKey": wildcard.private_key}).tls_certificate_names == ("*.example.com",)
    with pytest.raises(ConfigError, match=r"^raindrop:tlsCertificate: is for \*\.example\.com, not raindrop:"):
        parse({**base, "siteDomain": "a.b.example.com", "tlsCertificate": wildcard.certificate,
               "tlsPrivateKey": wildcard.private_key})


def test_plain_http_is_a_warning_and_https_is_not() -> None:
    assert run_program().mocks.warnings == [
        "raindrop:tls is none: the site, its login form and its session cookies travel in plain HTTP; set "
        "raindrop:siteDomain to get a certificate (tls acme)"
    ]
    assert run_program({"siteDomain": SITE}).mocks.warnings == []


def test_the_provided_pem_halves_are_secret_outputs() -> None:
    run = run_program(PROVIDED)
    cfg = run.infra.config
    assert resolve(cfg.tls_certificate) == (CERT.certificate, True)
    assert resolve(cfg.tls_private_key) == (CERT.private_key, True)


def test_https_opens_443_to_the_world_on_one_host(preview: bool) -> None:
    for overrides in ({"siteDomain": SITE}, PROVIDED):
        run = run_program(overrides, preview=preview)
        rules = {r.name: r.inputs for r in run.mocks.of_type(RULE)}
        assert sorted((r["portRange"], r["cidrIp"]) for r in rules.values()) == [
            ("22/22", "198.51.100.10/32"), ("443/443", "0.0.0.0/0"), ("80/80", "0.0.0.0/0"),
            ("8090/8090", "198.51.100.0/24"),
        ]
        assert rules["raindrop-in-https"] == {
            "type": "ingress", "ipProtocol": "tcp", "nicType": "intranet", "policy": "accept", "portRange": "443/443",
            "priority": 1, "cidrIp": "0.0.0.0/0", "securityGroupId": "raindrop-sg-id", "description": "raindrop https",
        }


def test_plain_http_and_scale_out_hosts_keep_443_closed() -> None:
    """tls none serves no https; in scale-out TLS ends at the CLB, which no security group filters."""
    for overrides in ({}, SCALE_OUT_ID):
        run = run_program(overrides)
        ports = sorted({r.inputs["portRange"] for r in run.mocks.of_type(RULE)})
        assert ports == ["22/22", "80/80", "8090/8090"], overrides


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # how the engine's wire format marks a secret value


def unwrap(inputs: dict) -> tuple[dict, set[str]]:
    """A registered resource's inputs with secret values unwrapped, and the names of the secret ones."""
    plain, secret = {}, set()
    for key, value in inputs.items():
        if isinstance(value, dict) and SECRET_SIG in value:
            plain[key], secret = value["value"], secret | {key}
        else:
            plain[key] = value
    return plain, secret


TO_BACKENDS = {
    "loadBalancerId": "raindrop-clb-id", "backendPort": 80, "serverGroupId": "raindrop-servers-id", "bandwidth": -1,
    "healthCheck": "on", "healthCheckType": "http", "healthCheckUri": "/api/health", "healthCheckConnectPort": 80,
    "healthCheckHttpCode": "http_2xx", "healthCheckInterval": 5, "healthyThreshold": 2, "unhealthyThreshold": 3,
    "stickySession": "on", "stickySessionType": "insert", "cookieTimeout": 86400,
}


def listeners(run: Run) -> dict[str, dict]:
    return {r.name: r.inputs for r in run.mocks.of_type("alicloud:slb/listener:Listener")}


def test_scale_out_without_tls_keeps_one_plain_http_listener() -> None:
    run = run_program({"instanceCount": 2})
    assert listeners(run) == {"raindrop-http": {**TO_BACKENDS, "protocol": "http", "frontendPort": 80}}
    assert run.mocks.of_type("alicloud:slb/serverCertificate:ServerCertificate") == []


@pytest.mark.parametrize("source", ["pem", "certificate-service"])
def test_scale_out_terminates_tls_at_the_clb_and_redirects_80(source: str, preview: bool) -> None:
    overrides = {**PROVIDED, "instanceCount": 2} if source == "pem" else SCALE_OUT_ID
    run = run_program(overrides, preview=preview)
    (certificate,) = run.mocks.of_type("alicloud:slb/serverCertificate:ServerCertificate")
    inputs, secret = unwrap(certificate.inputs)
    if source == "pem":
        assert inputs == {"name": "raindrop-cert", "serverCertificate": CERT.certificate,
                          "privateKey": CERT.private_key}
        assert secret == {"serverCertificate", "privateKey"}
    else:
        assert (inputs, secret) == ({"name": "raindrop-cert", "alicloudCertificateId": "12345678"}, set())
    assert listeners(run) == {
        "raindrop-https": {
            **TO_BACKENDS, "protocol": "https", "frontendPort": 443, "serverCertificateId": "raindrop-cert-id",
            "tlsCipherPolicy": "tls_cipher_policy_1_2", "enableHttp2": "on", "xForwardedFor": {"retriveSlbProto": True},
        },
        # The redirect takes only these five (the provider ignores the rest once listener_forward is on).
        "raindrop-http": {"loadBalancerId": "raindrop-clb-id", "protocol": "http", "frontendPort": 80,
                          "listenerForward": "on", "forwardPort": 443},
    }
    http = run.constructed["raindrop-http"]
    assert http.depends_on_names() == {"raindrop-https"}  # the redirect's target listener exists first
    assert run.constructed["raindrop-https"].depends_on_names() == {"raindrop-server-0", "raindrop-server-1"}
    assert_everything_parented(run)


CDN = {"enableCdn": True, "cdnDomain": "static.example.com"}


def cdn_certificate_config(run: Run) -> tuple[dict, bool]:
    """The CDN domain's certificate_config, and whether it reaches the engine as a secret."""
    (domain,) = run.mocks.of_type("alicloud:cdn/domainNew:DomainNew")
    config, secret = unwrap({"certificateConfig": domain.inputs["certificateConfig"]})
    return config["certificateConfig"], bool(secret)


def test_the_cdn_domain_serves_https_with_the_best_certificate_it_has() -> None:
    # A provided certificate that covers the CDN domain is uploaded to it, its halves secret.
    both = make_certificate(SITE, "static.example.com")
    run = run_program({**CDN, "siteDomain": SITE, "tlsCertificate": both.certificate,
                       "tlsPrivateKey": both.private_key})
    assert cdn_certificate_config(run) == (
        {"certType": "upload", "serverCertificate": both.certificate, "privateKey": both.private_key,
         "serverCertificateStatus": "on"},
        True,  # the key inside makes the whole block secret
    )
    # A certificate-service id serves it (here next to the hosts' own ACME certificate).
    run = run_program({**CDN, "siteDomain": SITE, "tlsCertificateId": "12345678"})
    assert cdn_certificate_config(run) == (
        {"certType": "cas", "certId": "12345678", "serverCertificateStatus": "on"}, False
    )
    # Otherwise (acme, none, or a certificate for other names) the CDN's own free certificate.
    for overrides in ({}, {"siteDomain": SITE}, PROVIDED):
        run = run_program({**CDN, **overrides})
        assert cdn_certificate_config(run) == ({"certType": "free", "serverCertificateStatus": "on"}, False), overrides


def test_outputs_say_https_where_the_site_serves_it() -> None:
    one = run_program({"siteDomain": SITE}).outputs
    assert (one["site_url"], one["admin_url"], one["admin_urls"]) == (
        "https://raindrop.example.com/", "https://203.0.113.10:8090/", ["https://203.0.113.10:8090/"]
    )
    scale_out = run_program({**SCALE_OUT_ID}).outputs
    assert (scale_out["site_url"], scale_out["admin_url"]) == ("https://raindrop.example.com/",
                                                                "http://203.0.113.10:8090/")
    hosts = run_program({**HOSTS, **PROVIDED}).outputs
    assert (hosts["site_url"], hosts["site_urls"], hosts["admin_urls"]) == (
        "https://raindrop.example.com/", ["https://203.0.113.5/", "https://web2.example.com/"],
        ["https://203.0.113.5:8090/", "https://web2.example.com:8090/"],
    )
    plain = run_program().outputs
    assert (plain["site_url"], plain["admin_url"]) == ("http://203.0.113.10/", "http://203.0.113.10:8090/")
