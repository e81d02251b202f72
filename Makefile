# The two commands a newcomer needs: `make test` and `make demo` (`make unit` for the quick tests while working).
# Every target installs what it needs itself (a local .venv, pinned anvil and solc under tools/node_modules, and for
# the tests only gitlab-ci-local under tools/test/node_modules) and is a quick no-op when set up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TOOLS := tools/node_modules/.installed
# Node tools only the tests use (gitlab-ci-local and its ~140 packages): `make demo` never installs them.
TEST_TOOLS := tools/test/node_modules/.installed
PYTEST_ARGS ?=
# pytest-xdist workers: anvil-bound tests mostly wait on I/O, so 3 workers beat 2 on 2 cores (4 gain nothing).
# --dist loadfile keeps each file on one worker, in order: a module's shared devnet is built once, as in a serial
# run, and tests that build on the one before still do.
PYTEST_WORKERS ?= 3
# The tests that need no anvil, no browser and no slow external tool (markers in pyproject.toml).
UNIT_MARKERS := not devnet and not browser and not slow

.PHONY: test unit demo setup lint typecheck pytest contracts clean bench rsync chromium promtool systemd-analyze

setup: $(STAMP) $(TOOLS)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

$(TOOLS): tools/package.json tools/package-lock.json
	cd tools && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(TEST_TOOLS): tools/test/package.json tools/test/package-lock.json
	cd tools/test && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# gitlab-ci-local (tests/repo/test_gitlab_ci.py) copies projects with rsync: install Debian's when missing only.
rsync:
	@command -v rsync > /dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends rsync; }

# The status page's browser test (tests/status/test_page_browser.py) drives Debian's headless Chromium through its
# chromedriver: install both when missing only (never a downloaded browser).
chromium:
	@command -v chromium > /dev/null && command -v chromedriver > /dev/null || { apt-get update -qq && \
		apt-get install -y -qq --no-install-recommends chromium chromium-driver; }

# `promtool check rules` validates examples/monitoring's alert rules: Debian's prometheus package, when missing.
promtool:
	@command -v promtool > /dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }

# `systemd-analyze verify` checks examples/deploy's units, the fleet's template morpheus-reconcile-watch@.service as such
# and as an instance included (tests/repo/test_deploy_start.py, test_deploy_fleet.py): Debian's systemd
# package, when missing (only the binary is used; nothing is started).
systemd-analyze:
	@command -v systemd-analyze > /dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd; }

pytest: setup $(TEST_TOOLS) rsync chromium promtool systemd-analyze
	PATH="$(CURDIR)/tools/node_modules/.bin:$(CURDIR)/tools/test/node_modules/.bin:$$PATH" $(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test: lint typecheck pytest

# The quick tests (no anvil, no browser, no solc build): under a minute; needs the venv, promtool, systemd-analyze.
unit: $(STAMP) promtool systemd-analyze
	$(VENV)/bin/pytest -n 2 --dist loadfile -m "$(UNIT_MARKERS)" $(PYTEST_ARGS)

# Rebuild the committed contract artifacts (ABI + bytecode) with the pinned solc.
contracts: setup
	PATH="$(CURDIR)/tools/node_modules/.bin:$$PATH" $(PY) -m reconciler.devnet.contracts_build

demo: setup
	PATH="$(CURDIR)/tools/node_modules/.bin:$$PATH" $(PY) examples/demo/run_demo.py

# Forwarder benchmark (not a test): installs wrk, nginx-light and LiteLLM (own venv), prints figures.
bench: setup
	bash bench/run.sh

clean:
	rm -rf $(VENV) tools/node_modules tools/test/node_modules .devnet .pytest_cache .mypy_cache .ruff_cache
