# Railway reservation system: the two commands.
#
#   make run    migrate, seed the demo timetable, then serve everything in the
#               foreground under supervisord, which restarts any that dies: the
#               API at http://127.0.0.1:8000 (nginx in front of gunicorn, which
#               listens on .run/gunicorn.sock), Flower at http://127.0.0.1:5555
#               (user admin, password in .run/flower_password), a Celery worker,
#               a webhook worker (queue webhooks; WEBHOOK_ALLOW_PRIVATE=1 lets it
#               call receivers on this machine) and beat. Ctrl-C stops them all.
#               `make token` prints a bearer token.
#   make test   ruff, mypy (domain, use cases and tasks, strict) and the unit tests, which need
#               no server and stop at the first failure; then the integration, e2e
#               and fault tests against database rail_test and Redis db 15.
#
# Both find or start PostgreSQL and Redis themselves (scripts/services.sh):
# DATABASE_URL / REDIS_URL when set, else the servers on the local default
# ports if they let us in without a password, else private instances under .run/
# (RAIL_PRIVATE_SERVICES=1 forces those; RAIL_PG_PORT / RAIL_REDIS_PORT are their ports). nginx comes from Debian's package (scripts/nginx.sh installs it as root).
# `make help` lists every target.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVICES := scripts/services.sh

# The API listens on 127.0.0.1:$(PORT), Flower on 127.0.0.1:$(FLOWER_PORT).
PORT ?= 8000
FLOWER_PORT ?= 5555

# `make test` runs against this database (on the same server as DATABASE_URL)
# and this Redis database number; the suite empties them as it likes.
TEST_DB ?= rail_test
TEST_REDIS_DB ?= 15
PYTEST_ARGS ?=

# Prefix of a recipe line: makes sure PostgreSQL and Redis answer, and exports
# DATABASE_URL / REDIS_URL for the rest of the line. $(call with_services,ARGS)
# passes ARGS to scripts/services.sh (e.g. --db NAME --redis-db N).
with_services = exports="$$($(SERVICES) $(1))" && eval "$$exports" &&

# No built-in secret: JWT_SECRET, FLOWER_PASSWORD and METRICS_TOKEN (GET /metrics), when
# not set, are made once and kept in .run/ (mode 0600) by scripts/secret.sh. Prefix of a
# recipe line, like with_services.
with_secrets = export JWT_SECRET="$${JWT_SECRET:-$$(scripts/secret.sh .run/jwt_secret)}" \
	  FLOWER_PASSWORD="$${FLOWER_PASSWORD:-$$(scripts/secret.sh .run/flower_password)}" \
	  METRICS_TOKEN="$${METRICS_TOKEN:-$$(scripts/secret.sh .run/metrics_token)}" &&

.PHONY: help venv lock services migrate seed run token ctl test lint format bench-seed bench-queries bench-load bench-abuse clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN { FS = ":.*## " } { printf "  make %-14s %s\n", $$1, $$2 }'

# ---------------------------------------------------------------- setup

venv: $(VENV)/.installed ## create .venv with the runtime and development pins, when they changed

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check \
	  -r requirements.txt -r requirements-dev.txt
	touch $@

# requirements.txt (what runs) and requirements-dev.txt (tests and tools) are compiled
# from the *.in files for CPython 3.11-3.13, every package pinned with its hashes. Edit a
# .in file, then `make lock`; versions already locked are kept unless a pin moved.
lock: venv ## recompile requirements.txt and requirements-dev.txt from the .in files
	$(BIN)/uv pip compile -q --universal --python-version 3.11 --generate-hashes --no-header \
	  requirements.in -o requirements.txt
	$(BIN)/uv pip compile -q --universal --python-version 3.11 --generate-hashes --no-header \
	  requirements-dev.in -o requirements-dev.txt

services: ## start PostgreSQL and Redis if needed; print their export lines (to eval)
	@$(SERVICES)

migrate: venv ## apply the database migrations (alembic upgrade head)
	@$(with_services) $(BIN)/alembic upgrade head

seed: migrate ## load the demo timetable, if the database has none yet
	@$(with_services) $(with_secrets) $(BIN)/flask --app web demo seed --if-empty

# ---------------------------------------------------------------- the two commands

# The processes run under supervisord (ops/supervisord.conf), which restarts one that
# dies and logs it; its control socket is .run/supervisor.sock (see `make ctl`).
# The API and the worker count into one metrics directory (GET /metrics adds it up),
# emptied here before they start.
FLOWER_USER ?= admin
# Human-readable log lines under `make run`; `make run LOG_FORMAT=json` for the JSON lines.
LOG_FORMAT ?= console
supervisor_env = $(with_secrets) export RAIL_RUN_DIR=$(CURDIR)/.run API_PORT=$(PORT) \
	  FLOWER_PORT=$(FLOWER_PORT) FLOWER_USER='$(FLOWER_USER)' LOG_FORMAT='$(LOG_FORMAT)' \
	  PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/.run/prometheus \
	  WEBHOOK_ALLOW_PRIVATE="$${WEBHOOK_ALLOW_PRIVATE:-1}"

run: seed ## migrate + seed, then API, workers (bookings, webhooks), beat and Flower in the foreground, kept up
	@mkdir -p .run/prometheus && rm -f .run/prometheus/*.db
	@echo "API: http://127.0.0.1:$(PORT)  Flower: http://127.0.0.1:$(FLOWER_PORT)  (Ctrl-C stops all)"
	@echo "Secrets: JWT_SECRET in .run/jwt_secret unless set, Flower's password ($(FLOWER_USER)) in .run/flower_password"
	@echo "Metrics: curl -H \"Authorization: Bearer \$$(cat .run/metrics_token)\" http://127.0.0.1:$(PORT)/metrics (METRICS_TOKEN unless set)"
	@echo "A token: make -s token SUB=alice ROLE=client"
	@scripts/nginx.sh bin >/dev/null && \
	  $(with_services) $(supervisor_env) && \
	  exec $(BIN)/supervisord -c ops/supervisord.conf

SUB ?= alice
ROLE ?= client
token: venv ## print a bearer token signed with .run/jwt_secret (or JWT_SECRET): SUB=alice ROLE=client
	@$(with_secrets) $(BIN)/flask --app web token --sub '$(SUB)' --role '$(ROLE)'

ctl: venv ## supervisorctl for a running `make run` (ARGS="status", "restart worker", ...)
	@$(supervisor_env) && $(BIN)/supervisorctl -c ops/supervisord.conf $(or $(ARGS),status)

test: venv ## lint, mypy and unit tests (no servers, stop at the first failure); then the rest on rail_test / Redis db 15 (PYTEST_ARGS="-k name -x")
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -x -q tests/unit
	@export NGINX_BIN="$$(scripts/nginx.sh bin)" && \
	  $(call with_services,--db $(TEST_DB) --redis-db $(TEST_REDIS_DB)) \
	  $(BIN)/pytest --ignore-glob='tests/unit/*' $(PYTEST_ARGS)

# ---------------------------------------------------------------- the rest

lint: venv ## ruff check + ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv ## rewrite the code: ruff format + ruff check --fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks print figures; they never run in `make test`. Each uses its own database.
bench-seed: venv ## seed rail_bench: 10,000 departures, 1M tickets (SEED_ARGS="--tickets 100000 --reset")
	@$(call with_services,--db rail_bench) $(BIN)/python -m bench.seed $(SEED_ARGS)

bench-queries: venv ## p50/p99 of the read endpoints at 10k, 100k, 1M tickets (reseeds rail_bench)
	@$(call with_services,--db rail_bench) $(BIN)/python -m bench.queries \
	  --scales $(or $(SCALES),10000 100000 1000000) --explain

bench-load: venv ## HTTP load on a system it starts itself (LOAD_ARGS="--compare-batching")
	@$(call with_services,--db rail_load --redis-db 12) $(BIN)/python -m bench.load --start \
	  --database-url "$$DATABASE_URL" --redis-url "$$REDIS_URL" $(LOAD_ARGS)

bench-abuse: venv ## replay the old system's abusive requests on a system it starts (ABUSE_ARGS="--only 1,9")
	@$(call with_services,--db rail_load --redis-db 12) $(BIN)/python -m bench.abuse --database-url "$$DATABASE_URL" --redis-url "$$REDIS_URL" $(ABUSE_ARGS)

clean: ## stop the private PostgreSQL/Redis, delete .run/ and the caches (keeps .venv)
	$(SERVICES) purge
	rm -rf .run .pytest_cache .ruff_cache .hypothesis
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
