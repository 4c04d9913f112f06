# smscampaigns: `make run` to try it, `make test` to test it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# Extra pytest arguments, e.g. `make test ARGS="-k links -x"`
ARGS ?=

.PHONY: run test venv static browser lint bench clean services-stop manage lock

# requirements-dev.txt: the runtime lock (requirements.txt) plus test and development tools, every package pinned
# with its hashes (pip checks them). Edit requirements.in / requirements-dev.in, then `make lock`.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.txt
	touch $@

# Chart.js and friends from npm (package-lock.json), served as the project's own static files.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

static: node_modules/.installed

venv: $(VENV)/.installed static

# The browser tests drive Debian's Chromium through Playwright (no browser download).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@test -x /usr/bin/chromium

# The demo: the simulator gateway, a Celery worker and beat on Redis, and runserver, on PostgreSQL.
# DATABASE_URL / REDIS_URL when given; otherwise embedded servers from pip wheels (devservices/), data under
# var/services, ports 54329 / 63799 (or free ones, kept in var/services/ports.json). Ctrl-C or SIGTERM stops the
# worker, beat, runserver and the servers it started. Links and callbacks point at this server (another PORT
# too), unless PUBLIC_BASE_URL says otherwise.
RUN_SERVICES ?= var/services
run: export PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
run: export SMS_GATEWAY ?= simulator
run: venv
	@mkdir -p var
	@DEBUG=1 exec $(PY) -m devservices run --dir $(RUN_SERVICES) --database smscampaigns --banner "make run" -- \
	  bash -c 'set -e; \
	    $(PY) manage.py migrate --noinput; \
	    $(PY) manage.py seed_demo; \
	    $(VENV)/bin/celery -A smscampaigns worker --pool=threads --concurrency=4 --loglevel=INFO >var/worker.log 2>&1 & \
	    $(VENV)/bin/celery -A smscampaigns beat -s var/celerybeat-schedule --loglevel=INFO >var/beat.log 2>&1 & \
	    echo "  Celery worker log: var/worker.log, beat log: var/beat.log"; \
	    exec $(PY) manage.py runserver $(HOST):$(PORT)'

# The suite runs on PostgreSQL and Redis, never anything else: DATABASE_URL / REDIS_URL when given (CI), else
# the system ones when they answer on 127.0.0.1:5432 / 6379, else embedded servers under var/test-services
# (started for the run and stopped after it); `make test EMBEDDED=1` skips the system ones.
EMBEDDED ?=
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/smscampaigns
TEST_REDIS_URL ?= redis://127.0.0.1:6379/5
TEST_SERVICES ?= var/test-services
answers = $(PY) -c "import socket; socket.create_connection(('127.0.0.1', $(1)), 1).close()" 2>/dev/null
test: venv browser
	@db="$${DATABASE_URL:-}"; redis="$${REDIS_URL:-}"; \
	if [ -z "$$db" ] && [ -z "$(EMBEDDED)" ] && $(call answers,5432); then db="$(TEST_DATABASE_URL)"; fi; \
	if [ -z "$$redis" ] && [ -z "$(EMBEDDED)" ] && $(call answers,6379); then redis="$(TEST_REDIS_URL)"; fi; \
	exec env -u DATABASE_URL -u REDIS_URL $${db:+DATABASE_URL=$$db} $${redis:+REDIS_URL=$$redis} \
	  $(PY) -m devservices run --dir $(TEST_SERVICES) --pg-port 54339 --redis-port 63809 --banner "make test" -- \
	  $(PY) -m pytest $(ARGS)

# A management command on make run's database and Redis (running or not): make manage CMD="send_demo_campaign"
CMD ?= help
manage: venv
	@DEBUG=1 exec $(PY) -m devservices run --dir $(RUN_SERVICES) --database smscampaigns -- $(PY) manage.py $(CMD)

# Stop embedded servers left running (by `python -m devservices start`, or a run that was SIGKILLed).
services-stop:
	-$(PY) -m devservices stop --dir $(RUN_SERVICES)
	-$(PY) -m devservices stop --dir $(TEST_SERVICES)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	DEBUG=1 $(PY) -m devservices run --dir $(RUN_SERVICES) -- $(PY) manage.py makemigrations --check --dry-run

# Everything local, the embedded servers' data included (stopped first): the next `make run` starts afresh.
clean: services-stop
	rm -rf var staticfiles node_modules

# Recompile the locks after editing requirements.in or requirements-dev.in (pip-tools in a venv of its own, so the
# project's venv holds only what the locks list). Then `make venv` installs them.
PIP_COMPILE = var/pip-tools/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-find-links --no-emit-index-url
lock:
	test -x var/pip-tools/bin/pip-compile || { $(PYTHON) -m venv var/pip-tools && \
	  var/pip-tools/bin/pip install --quiet pip-tools==7.7.0; }
	$(PIP_COMPILE) --output-file=requirements.txt requirements.in
	$(PIP_COMPILE) --output-file=requirements-dev.txt requirements-dev.in
