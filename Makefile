# Developer entry points. `make test` is the whole suite, as CI runs it (.ci/run).
#
#   make run        install jobu into .venv and run it (dispatcher, worker and the admin on
#                   127.0.0.1:8080) on SQLite under ./var, with example crons, until Ctrl-C (the
#                   README's first command)
#   make test       test servers, both venvs, then its stages (packaging/run-tests.sh): lint,
#                   pytest with the newest PyPI releases (.venv), with Debian 12's packages
#                   (.venv-debian), with Debian 13's (in a Debian 13 root filesystem,
#                   packaging/debian-env.sh), the admin in headless Chromium (tests/browser;
#                   installs chromium from apt), and the package suite (tests/package); each stage
#                   timed; fails if any part fails
#   make test-fast  unit tests only, in .venv
#   make lint       ruff and import-linter (the import rules of DESIGN.md section 6)
#   make venv       create or refresh .venv and .venv-debian
#   make servers    start and provision PostgreSQL and MariaDB for the tests
#   make clean      remove caches and build output (keeps the venvs; `make distclean` drops them)
#   make deb        build dist/jobu_<version>_all.deb in a clean Debian 12 root filesystem and
#                   lintian it with Debian 12's and 13's lintian (root; installs what it needs, apt)
#   make test-package  the package suite alone: the .deb built in a clean room, installed and
#                   driven in booted Debian 12 and 13 systemd containers (root); e.g.
#                   make test-package PYTEST_ARGS='-k watchdog'
#   make test-browser  the browser stage alone: headless Chromium drives the admin (tests/browser;
#                   installs chromium and chromium-driver with apt), screenshots in
#                   dist/test-artifacts/browser/
#
# PYTEST_ARGS is passed to pytest, e.g. make test PYTEST_ARGS='-x -k claim'.

SHELL := /bin/bash
.DEFAULT_GOAL := test
# apt and pip must not run twice at once, whatever -j says.
.NOTPARALLEL:

PYTHON ?= python3
VENV := .venv
DEBIAN_VENV := .venv-debian
PYTEST_ARGS ?=
# CI (and anything else in the environment) reaches pytest as it is; make exports it already.

# A venv is rebuilt when what it is built from changes; otherwise it is left alone.
VENV_INPUTS := setup.cfg pyproject.toml packaging/venv.sh packaging/apt-ensure.sh

.PHONY: run test test-fast lint venv servers clean distclean deb test-package test-browser

# `make run` uses this checkout's etc/jobu and keeps its SQLite database in ./var.
RUN_ENV := JOBU_CONFIG_DIR=$(CURDIR)/etc/jobu JOBU_STATE_DIR=$(CURDIR)/var
JOBU := $(VENV)/bin/jobu
EXAMPLE_CRON := sqlite-crud-demo

$(VENV)/.jobu-installed: $(VENV_INPUTS)
	@PYTHON=$(PYTHON) bash packaging/venv.sh pypi $(VENV)

$(DEBIAN_VENV)/.jobu-installed: $(VENV_INPUTS)
	@bash packaging/venv.sh debian $(DEBIAN_VENV)

venv: $(VENV)/.jobu-installed $(DEBIAN_VENV)/.jobu-installed

run: $(VENV)/.jobu-installed
	@mkdir -p var
	@$(RUN_ENV) $(JOBU) migrate
	@$(RUN_ENV) $(JOBU) cron show $(EXAMPLE_CRON) >/dev/null 2>&1 || \
		$(RUN_ENV) $(JOBU) cron add $(EXAMPLE_CRON) --schedule '* * * * *' --force \
			--handler sqlite_crud --description 'the sample handler handlers/basic/sqlite_crud'
	@$(RUN_ENV) $(JOBU) cron show hello-every-minute >/dev/null 2>&1 || \
		$(RUN_ENV) $(JOBU) cron add hello-every-minute --schedule '* * * * *' \
			--handler noop --params '{"hello": "world"}' --description 'the built-in noop'
	@$(RUN_ENV) $(JOBU) cron run-now $(EXAMPLE_CRON)
	@$(RUN_ENV) $(JOBU) admin user list --json | grep -q '"name": "dev"' || { \
		$(VENV)/bin/python -c 'import secrets; print(secrets.token_urlsafe(12))' > var/admin-password \
		&& chmod 600 var/admin-password \
		&& $(RUN_ENV) $(JOBU) admin user add dev --role admin < var/admin-password >/dev/null; }
	@$(RUN_ENV) $(JOBU) cron list
	@echo
	@echo "jobu runs the dispatcher, a worker and the admin until Ctrl-C."
	@echo "  the admin:  http://127.0.0.1:8080  (user dev, password in var/admin-password)"
	@echo "  the history in another terminal:  $(RUN_ENV) $(JOBU) jobs list"
	@echo
	@$(RUN_ENV) $(JOBU) run --handler-path handlers --admin

servers:
	@bash packaging/test-env.sh

lint: $(VENV)/.jobu-installed
	@status=0; \
	echo "ruff check ."; $(VENV)/bin/ruff check . || status=1; \
	echo "lint-imports"; $(VENV)/bin/lint-imports --no-cache --no-logo || status=1; \
	exit $$status

test: venv servers
	@bash packaging/run-tests.sh --lint --debian13 --browser --package $(VENV) $(DEBIAN_VENV) -- $(PYTEST_ARGS)

test-fast: $(VENV)/.jobu-installed
	$(VENV)/bin/python -m pytest tests/unit $(PYTEST_ARGS)

deb:
	@bash packaging/build-deb.sh

test-browser: $(VENV)/.jobu-installed
	@bash packaging/apt-ensure.sh chromium chromium-driver
	$(VENV)/bin/python -m pytest tests/browser $(PYTEST_ARGS)

test-package: $(VENV)/.jobu-installed
	$(VENV)/bin/python -m pytest tests/package $(PYTEST_ARGS)

clean:
	rm -rf .pytest_cache .ruff_cache .hypothesis .import_linter_cache build dist *.egg-info
	find . -path ./.git -prune -o -path './.venv*' -prune -o -name __pycache__ -type d \
		-exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(DEBIAN_VENV)
