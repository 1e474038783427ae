"""Host steps: pure functions that return scripts. Nothing in this package opens a connection.

One executor layer runs them, either Pulumi's command provider on an ECS host or SSH to a sandbox host,
so both run the very same text. Order on a host: write_secrets → provision → deploy (→ rollback).
"""

from app.steps.config import SECRET_NAMES, Bundle, HostConfig, HostFile
from app.steps.deploy import deploy
from app.steps.provision import provision
from app.steps.rollback import rollback
from app.steps.script import Script
from app.steps.secrets import write_secrets

__all__ = [
    "SECRET_NAMES",
    "Bundle",
    "HostConfig",
    "HostFile",
    "Script",
    "deploy",
    "provision",
    "rollback",
    "write_secrets",
]
