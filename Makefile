# Raindrop: one Pulumi program for Alibaba Cloud, and a local sandbox host that proves its host steps.
#   make sandbox   fresh local Debian 12 host, deployed with the same host steps as `pulumi up`
#   make test      everything: Pulumi mocks, server, client, end-to-end on sandbox hosts
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST := $(PY) -m pytest

.PHONY: help deps packages toolchain setup services lint test test-toolchain test-infra test-templates test-deploy release rollback-script test-server test-client test-client-e2e test-sandbox test-e2e test-https test-bench-smoke bench-pulumi bench chaos sandbox sandbox-down

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

deps: ## install the Debian packages the tests and the sandbox need, then the Pulumi toolchain (root)
	bash scripts/install-deps.sh
	bash scripts/install-pulumi.sh

toolchain: ## the Pulumi CLI built from the Go module proxy (versions in scripts/toolchain.env); fast when built
	bash scripts/install-pulumi.sh

packages: ## the Debian packages the tests and the sandbox need (root); a quick check when all are there
	bash scripts/install-deps.sh

# Order-only: the check runs before the venv is made (python3-venv is one of the packages), but a package
# check never makes the venv stale.
$(VENV)/.installed: requirements.txt requirements-dev.txt server/pyproject.toml bench/requirements.txt | packages
	python3 -m venv $(VENV)
	$(PIP) install -q -r requirements-dev.txt -r bench/requirements.txt -e 'server[test]'
	touch $@

setup: $(VENV)/.installed ## create .venv and install everything

lint: setup ## ruff over the Python code
	$(VENV)/bin/ruff check .

test-infra: setup ## the Pulumi program under mocks: cloud half and deploy wiring
	$(PYTEST) -q tests/test_infra.py tests/test_deployment.py

test-toolchain: setup toolchain ## the real Pulumi CLI: a local-backend stack's config, as the program parses it
	$(PYTEST) -q tests/test_pulumi_cli.py

test-templates: setup ## every config template rendered and validated by the real program (root)
	$(PYTEST) -q tests/test_templates.py

services: ## start MariaDB and Redis on loopback (root), with the test account
	bash scripts/services-up.sh

test-server: setup services ## the Flask server against a real MariaDB and Redis
	$(PYTEST) -q server/tests

test-client-e2e: client/node_modules/.installed setup services ## the client in Chromium against the real server
	cd client && RAINDROP_VENV=$(abspath $(VENV)) npm run e2e

test-deploy: setup ## release bundle, host steps (real bash on a scratch tree), static publish, backup and restore, raindrop-tls
	$(PYTEST) -q tests/test_release.py tests/test_steps.py tests/test_publish.py tests/test_backup.py tests/test_backup_oss.py tests/test_tls.py

release: setup ## the release bundle dist/raindrop-<hash>.tar.gz (built or reused; prints its path)
	$(PY) -m app.release

rollback-script: ## print the rollback script; RELEASE=<releases/ name> for a named one
	$(PY) -m app.steps.rollback $(RELEASE)

client/node_modules/.installed: client/package-lock.json
	cd client && npm ci --no-audit --no-fund
	touch $@

test-client: client/node_modules/.installed ## Angular unit tests in Debian's headless Chromium
	cd client && CHROME_BIN=/usr/bin/chromium npm test

test: lint test-infra test-toolchain test-templates test-deploy test-server test-client test-client-e2e test-sandbox test-e2e test-https test-bench-smoke ## the whole suite

bench-pulumi: setup ## time the mocked Pulumi program (target < 3 s)
	$(PY) bench/pulumi_graph.py

bench: setup client/node_modules/.installed ## the benchmarks on a sandbox host (made or reused): bench/results/latest.{json,md}, latency.png
	$(PY) -m bench $(BENCH_ARGS)

chaos: setup ## the fault suite on the sandbox host; fails when a target is missed
	$(PY) -m bench.chaos $(CHAOS_ARGS)

test-bench-smoke: setup client/node_modules/.installed ## a short run of both, so they cannot rot (root); the open loop's h2load on loopback
	$(PYTEST) -q tests/test_bench_openloop.py tests/test_bench_socketio.py tests/test_bench_smoke.py

sandbox: setup ## a local Debian 12 host deployed end to end (root); last line: JSON with url, admin_url, ssh, key…
	$(PY) -m app.sandbox up $(SANDBOX_ARGS)

sandbox-down: setup ## remove the sandbox host and everything it made
	$(PY) -m app.sandbox down $(SANDBOX_ARGS)

test-sandbox: setup ## the sandbox host and the SSH executor (root)
	$(PYTEST) -q tests/test_sandbox.py

test-e2e: setup ## a fresh sandbox host: provision + deploy, then backups, the site, admin, host, redeploys, recovery (root)
	$(PYTEST) -q tests/e2e --ignore=tests/e2e/test_https.py

test-https: setup ## a fresh sandbox host's certificate from pebble (a real ACME server), https, renewal under load (root)
	$(PYTEST) -q tests/e2e/test_https.py

