# The project's verbs. `make dev` runs the whole stack locally; `make test` runs every test.
# Both do their own setup: a virtualenv with the pinned dependencies, and a prerequisite check.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help setup prerequisites browser dev test lint fmt package bench load lock clean smoke replay-dead-letters

help:
	@echo "make dev      run emulators, provider sandbox and every function locally"
	@echo "make test     run the whole test suite against the emulators"
	@echo "make lint     ruff and terraform fmt -check"
	@echo "make package  build dist/<function>.zip bundles"
	@echo "make bench    hot paths and cold starts against a bare hello, refresh job (own stack)"
	@echo "make load     Locust load profile, fault checks, report in load-report/ (LOAD_ARGS=\"--scale 0.1 --faults\")"
	@echo "make browser  install Debian's chromium for the console tests (make test does)"
	@echo "make lock     re-pin constraints.txt from requirements*.txt"
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

dev: setup
	$(PY) -m local.dev

test: setup browser
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	terraform fmt -check -recursive infra

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
	terraform fmt -recursive infra

package: $(STAMP)
	$(PY) -m local.package

lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable | sed '1i # Full transitive lock for the dev/test environment (pip freeze). Regenerate with: make lock' > constraints.txt

clean:
	rm -rf $(VENV) dist .local .pytest_cache .ruff_cache load-report

bench: setup
	$(PY) -m local.bench

load: setup
	$(PY) -m local.load $(LOAD_ARGS)

# After a deploy: health, an authenticated call, a signed Slack url_verification, the OAuth start URLs
# (docs/deploy.md). BASE_URL, ID_TOKEN and SLACK_SIGNING_SECRET come from the environment or the command line.
smoke: $(STAMP)
	$(PY) -m local.smoke

# Re-publish what a consumer's dead-letter store holds to the topic it consumes (docs/operate.md).
replay-dead-letters: $(STAMP)
	$(PY) -m local.dead_letters --topic "$(TOPIC)" $(if $(PROJECT),--project "$(PROJECT)") $(if $(LIMIT),--limit "$(LIMIT)") $(if $(DRY_RUN),--dry-run)
