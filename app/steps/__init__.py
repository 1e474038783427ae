"""Host steps: pure functions that return scripts. Nothing in this package opens a connection.

One executor layer runs them, either Pulumi's command provider on an ECS host or SSH to a sandbox host,
so both run the very same text. Order on a host: write_secrets → provision → deploy (→ rollback).

The step functions are imported from their modules (`from app.steps.deploy import deploy`): re-exported
here under the modules' own names they would hide the modules (`app.steps.deploy` would be the function).
"""

from app.steps.host import SECRET_NAMES, Bundle, HostConfig, HostFile
from app.steps.script import Script

__all__ = ["SECRET_NAMES", "Bundle", "HostConfig", "HostFile", "Script"]
