"""Raindrop on Alibaba Cloud: VPC, security group, ECS host(s), OSS (+ optional CDN), and in scale-out a load
balancer, RDS MySQL and managed Redis; then the app deployed onto the host(s) by pulumi-command.

config → cloud components → deploy → exports. Everything lives in importable modules so the tests can run
the same program under `pulumi.runtime.set_mocks`.
"""

from app import cloud
from infra import stack, stack_config

infra = stack.build(stack_config.load())
cloud.deploy(infra)
stack.export(infra)
