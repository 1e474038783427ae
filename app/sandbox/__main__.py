"""`python -m app.sandbox up|down|status|boot|crash|reboot`: the local sandbox host from the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from app.executor import ScriptFailed
from app.release import ReleaseError
from app.sandbox.deploy import DeployStepsMissing, SandboxTls, deploy
from app.sandbox.host import Sandbox
from app.sandbox.settings import SandboxSettings
from app.sandbox.system import SandboxError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.sandbox", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "boot", "crash", "reboot"])
    parser.add_argument("--name", help="sandbox name (default: RAINDROP_SANDBOX_NAME or 'raindrop')")
    parser.add_argument("--subnet", help="its private /30 (default: RAINDROP_SANDBOX_SUBNET or 10.213.1.0/30)")
    parser.add_argument("--fresh", action="store_true", help="up: remove an existing host and start over")
    parser.add_argument("--bundle", help="up: deploy this release bundle instead of building one")
    parser.add_argument("--always", action="store_true", help="up: run every step even if its triggers are unchanged")
    parser.add_argument("--host-only", action="store_true", help="up: create the host, deploy nothing")
    parser.add_argument("--tls", default="none", help="up: raindrop_tls (acme, provided, offloaded, none)")
    parser.add_argument("--domain", default="", help="up: raindrop_site_domain, the certificate's name")
    parser.add_argument("--acme-email", default="", help="up: raindrop_acme_email (empty: none)")
    parser.add_argument("--acme-directory", default="", help="up: raindrop_acme_directory (default Let's Encrypt)")
    parser.add_argument("--acme-ca", help="up: a CA bundle file certbot on the host trusts for the ACME directory")
    return parser


def _tls(args: argparse.Namespace) -> SandboxTls:
    return SandboxTls(mode=args.tls, domain=args.domain, email=args.acme_email, directory=args.acme_directory,
                      ca_bundle=Path(args.acme_ca) if args.acme_ca else None)


def _log(message: str) -> None:
    print(message, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if os.geteuid() != 0:
        print("the sandbox needs root (debootstrap, mount, ip netns)", file=sys.stderr)
        return 2
    try:
        sandbox = Sandbox(SandboxSettings.from_env(args.name, args.subnet), log=_log)
        if args.command == "up":
            started = time.monotonic()
            sandbox.up_host(fresh=args.fresh)
            info = (
                sandbox.connection_info() if args.host_only else deploy(sandbox, bundle=args.bundle, always=args.always,
                                                                      tls=_tls(args))
            )
            _log(f"sandbox {sandbox.settings.name}: up in {time.monotonic() - started:.1f}s")
            print(json.dumps(info), flush=True)
        elif args.command == "down":
            sandbox.down()
            _log(f"sandbox {sandbox.settings.name}: removed")
        elif args.command == "status":
            print(json.dumps(sandbox.status()), flush=True)
        elif args.command == "boot":
            _log(f"sandbox {sandbox.settings.name}: booted {', '.join(sandbox.boot())}")
        elif args.command == "reboot":
            _log(f"sandbox {sandbox.settings.name}: rebooted; running {', '.join(sandbox.reboot())}")
        elif args.command == "crash":
            sandbox.crash()
            _log(f"sandbox {sandbox.settings.name}: every process killed, /run lost")
    except (SandboxError, DeployStepsMissing, ScriptFailed, ReleaseError, ConnectionError, ValueError) as error:
        print(f"sandbox: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
