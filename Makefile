# The project's verbs. `make dev` runs the whole stack locally; `make test` runs every test.
# Both do their own setup: a virtualenv with the pinned dependencies, and a prerequisite check.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# checkov has a virtualenv of its own: it depends on bc-python-hcl2, whose `hcl2` module would
# replace python-hcl2's, which the tests parse Terraform with.
LINT_VENV  := .venv-lint
LINT_STAMP := $(LINT_VENV)/.installed

.PHONY: help setup prerequisites browser provider-schema node-packages dev stop tick test lint fmt package bench load lock runtime-lock lint-lock clean smoke replay-dead-letters

help:
	@echo "make dev      run emulators, provider sandbox and every function locally"
	@echo "make stop     stop a make dev left running (only what its pid file names)"
	@echo "make tick     JOB=token_refresh|renew_watches|reencrypt_tokens|migrate_connections: run a scheduled job once on make dev"
	@echo "make test     run the whole test suite against the emulators"
	@echo "make lint     ruff, terraform fmt -check and checkov (accepted findings: checkov:skip comments in infra/)"
	@echo "make package  build dist/<function>.zip bundles"
	@echo "make bench    hot paths and cold starts against a bare hello, refresh job (own stack)"
	@echo "make load     Locust load profile, fault checks, report in load-report/ (LOAD_ARGS=\"--scale 0.1 --faults\")"
	@echo "make browser  install Debian's chromium for the console tests (make test does)"
	@echo "make node-packages  npm ci from package-lock.json: Firebase JS SDK (rules tests), Swagger UI (/docs)"
	@echo "make lock     re-pin constraints.txt from requirements*.txt, then make runtime-lock"
	@echo "make runtime-lock  write requirements.lock (the bundles' hashed lock) from requirements.txt and constraints.txt"
	@echo "make smoke BASE_URL=https://... ID_TOKEN=... SLACK_SIGNING_SECRET=...   post-deploy smoke test"
	@echo "make replay-dead-letters TOPIC=slack-events [PROJECT=...] [LIMIT=...] [DRY_RUN=1]   re-publish a consumer's dead letters"

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Missing prerequisite: $(PYTHON) (Python 3.11 or newer). Install it or set PYTHON=/path/to/python3.11"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Missing prerequisite: Python 3.11 or newer (found " + sys.version.split()[0] + "). Set PYTHON=/path/to/python3.11")'
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { echo "Missing prerequisite: the venv module for $(PYTHON) (Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $@

setup: $(STAMP) prerequisites

prerequisites: $(STAMP)
	@$(PY) -m local.prerequisites

# Debian's chromium, which the console tests drive (installed with apt-get when missing and root).
browser: $(STAMP)
	@$(PY) -m local.chromium

# The Google providers' schemas (npm packages of their CDKTF bindings), fetched once into
# ~/.cache/oauth-webhook-gateway for the offline `terraform validate` of the tests (needs npm).
provider-schema: $(STAMP)
	@$(PY) -m local.tf_schema

# The npm packages of package-lock.json in node_modules/ (the security-rules tests and the API
# reference at /docs; never in a function bundle): `npm ci` when the lock changed (needs node and npm).
node-packages: $(STAMP)
	@$(PY) -m local.node_packages

dev: setup node-packages
	$(PY) -m local.dev

test: setup browser provider-schema node-packages
	$(PY) -m pytest $(PYTEST_ARGS)

$(LINT_STAMP): requirements-lint.txt
	$(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-lint.txt
	@touch $@

lint: $(STAMP) $(LINT_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	terraform fmt -check -recursive infra
	$(LINT_VENV)/bin/checkov --directory infra --framework terraform --quiet --compact --skip-download

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
	terraform fmt -recursive infra

package: $(STAMP)
	$(PY) -m local.package

lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable | sed '1i # Full transitive lock for the dev/test environment (pip freeze). Regenerate with: make lock' > constraints.txt

# The function bundles' requirements.txt: requirements.txt resolved within constraints.txt (so the
# tested versions), every package with the hashes of all its files on PyPI (pip-tools).
runtime-lock: $(STAMP)
	CUSTOM_COMPILE_COMMAND="make runtime-lock" $(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
		--no-emit-index-url --no-emit-find-links --strip-extras --constraint constraints.txt \
		--output-file requirements.lock requirements.txt

# checkov's own lock (hashed), from its one pin in this recipe.
lint-lock: $(STAMP)
	echo "checkov==3.3.30" | CUSTOM_COMPILE_COMMAND="make lint-lock" $(VENV)/bin/pip-compile --quiet --generate-hashes \
		--allow-unsafe --no-emit-index-url --no-emit-find-links --strip-extras --output-file requirements-lint.txt -

clean:
	rm -rf $(VENV) $(LINT_VENV) dist .local .pytest_cache .ruff_cache load-report node_modules

bench: setup
	$(PY) -m local.bench

load: setup
	$(PY) -m local.load $(LOAD_ARGS)

# Stop a make dev left running (another terminal, or orphaned): only what its pid file names.
stop: $(STAMP)
	@$(PY) -m local.stop

# Run a scheduled job once against the running make dev, as Cloud Scheduler would.
tick: $(STAMP)
	@test -n "$(JOB)" || { echo "usage: make tick JOB=token_refresh|renew_watches|reencrypt_tokens|migrate_connections"; exit 2; }
	@$(PY) -m local.tick $(JOB)

# After a deploy: health, an authenticated call, a signed Slack url_verification, the OAuth start URLs
# (docs/deploy.md). BASE_URL, ID_TOKEN and SLACK_SIGNING_SECRET come from the environment or the command line.
smoke: $(STAMP)
	$(PY) -m local.smoke

# Re-publish what a consumer's dead-letter store holds to the topic it consumes (docs/operate.md).
replay-dead-letters: $(STAMP)
	$(PY) -m local.dead_letters --topic "$(TOPIC)" $(if $(PROJECT),--project "$(PROJECT)") $(if $(LIMIT),--limit "$(LIMIT)") $(if $(DRY_RUN),--dry-run)
