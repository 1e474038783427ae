"""The order of the steps on a host and what makes each run again: one definition for both executors.

pulumi-command turns these into `depends_on` and `triggers`; the sandbox keeps the last triggers beside the
host and skips a step whose triggers are unchanged. Either way an unchanged release runs nothing.
"""

from __future__ import annotations

import hashlib
from typing import TypeVar

# secrets → provision → bundle upload → deploy: provision reads the secrets file, deploy the uploaded bundle.
STEP_ORDER = ("secrets", "provision", "bundle", "deploy")

T = TypeVar("T")  # str on the sandbox, pulumi.Output[str] in the Pulumi program


def digest(text: str) -> str:
    """A short content hash of a script or file set: same text, no run."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def step_triggers(*, bundle_hash: T, config_hash: T, provision_digest: T, deploy_digest: T,
                  secrets_digest: T) -> dict[str, list[T]]:
    """Each step's triggers. A deploy re-runs for a new bundle, new rendered files (index.html included, via
    the deploy script's digest) or new secrets; an upload only for a new bundle."""
    return {
        "secrets": [secrets_digest],
        "provision": [provision_digest],
        "bundle": [bundle_hash],
        "deploy": [bundle_hash, config_hash, deploy_digest, secrets_digest],
    }
