# Darkroom — `make run` serves the studio, `make test` runs the whole suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

# Django 6 needs Python 3.12+; take the first one found on PATH or under pyenv.
PYTHON_BASE := $(shell for c in python3.13 python3.12 \
	$$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3 python3; do \
	p=$$(command -v $$c 2>/dev/null) || continue; \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; break; }; done)

.PHONY: help run simulator stripe-fake test superuser services browser bench chaos clean

help:
	@echo "make run        serve Darkroom at http://$(HOST):$(PORT) (embedded mode: no services needed)"
	@echo "make test       run the whole test suite against PostgreSQL and Redis"
	@echo "make superuser  create a staff account for the admin at /admin/"
	@echo "make simulator  serve fake hosted providers on :8800 (then: make run PROVIDER_SIMULATOR_URL=http://127.0.0.1:8800)"
	@echo "make stripe-fake serve a fake Stripe on :12111 (then: make run STRIPE_FAKE_URL=http://127.0.0.1:12111)"
	@echo "make bench      performance scenarios on the production shape → devtools/bench/results/latest.json"
	@echo "make chaos      fault scenarios (worker kills, Redis/PostgreSQL restarts, provider faults, webhook storms, load, hostile bodies) → devtools/chaos/results/"

$(VENV)/.installed-run: pyproject.toml
	@test -n "$(PYTHON_BASE)" || { echo "Darkroom needs Python 3.12 or later; none was found." >&2; exit 1; }
	@test -x $(PY) || $(PYTHON_BASE) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed-run
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $@

run: $(VENV)/.installed-run
	@$(PY) manage.py migrate --no-input -v 0
	@$(PY) manage.py catalog_load
	@echo ""
	@echo "  Darkroom is starting at http://$(HOST):$(PORT)/"
	@echo "  First account: open http://$(HOST):$(PORT)/accounts/signup/ and sign up with any email."
	@echo "  Staff account for /admin/: make superuser"
	@echo ""
	@$(PY) -m devtools.env $(PY) manage.py serve --host $(HOST) --port $(PORT)

# Developer tools (devtools/, not part of the product's package). `make run` expands the two
# shorthands PROVIDER_SIMULATOR_URL and STRIPE_FAKE_URL into the provider and Stripe variables the
# settings read (devtools/standins.py), so these work as they are:
#   make simulator    then  make run PROVIDER_SIMULATOR_URL=http://127.0.0.1:8800
#   make stripe-fake  then  make run STRIPE_FAKE_URL=http://127.0.0.1:12111
# Fake Replicate, fal, OpenAI, Stability and ComfyUI APIs on loopback, with fault knobs at /_sim.
simulator: $(VENV)/.installed-run
	@$(PY) -m devtools.simulator --port 8800

# Stripe's API and Checkout pages on loopback, delivering signed webhooks to http://$(HOST):$(PORT).
stripe-fake: $(VENV)/.installed-run
	@SITE_URL=http://$(HOST):$(PORT) $(PY) -m devtools.stripe_fake --port 12111

superuser: $(VENV)/.installed-run
	@$(PY) manage.py migrate --no-input -v 0
	$(PY) manage.py createsuperuser

# PostgreSQL and Redis must be up for the tests; start whichever is installed and down.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || { \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start; \
		for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; }
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { \
		mkdir -p /var/lib/redis /var/log/redis; \
		redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
			--dir /var/lib/redis --logfile /var/log/redis/ci.log; \
		for i in $$(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done; }

# The browser journey drives Debian's Chromium (Playwright's own download is not used).
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

test: $(VENV)/.installed-test services browser
	$(PY) -m ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

# Every scenario in devtools/bench/scenarios/ against the production shape (PostgreSQL, Redis, daphne
# and Celery as separate processes): one table, JSON in devtools/bench/results/. BENCH_ARGS="--quick"
# or "--only a,b".
# LiteLLM's proxy (the gateway rows' peer) lives in a venv of its own: its pins are not the product's.
BENCH_VENV ?= var/bench-litellm
$(BENCH_VENV)/.installed: pyproject.toml
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON_BASE) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet "$$($(PY) -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["bench"][0])')"
	@touch $@

bench: $(VENV)/.installed-run $(BENCH_VENV)/.installed services
	BENCH_LITELLM_BIN=$(BENCH_VENV)/bin/litellm $(PY) devtools/bench/run.py $(BENCH_ARGS)

# Fault scenarios on private PostgreSQL and Redis instances (their own ports and data directories):
# kill -9 of workers, Redis and PostgreSQL restarts, provider faults, webhook storms and load, each
# followed by the invariant checks. One table, JSON in devtools/chaos/results/. CHAOS_ARGS="--quick",
# "--only kill9,redis" or "--load-seconds 60".
chaos: $(VENV)/.installed-test
	$(PY) devtools/chaos/run.py $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) var
