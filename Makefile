# smscampaigns: `make run` to try it, `make test` to test it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# Extra pytest arguments, e.g. `make test ARGS="-k links -x"`
ARGS ?=

.PHONY: run test venv static browser lint bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
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

# A demo on SQLite, a filesystem Celery broker and the simulator gateway:
# no PostgreSQL, Redis or Twilio needed.
# Links and callbacks point at this server (another PORT too), unless PUBLIC_BASE_URL says otherwise.
run: export PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
run: venv
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py seed_demo
	@bash -c 'set -m; trap "kill 0" EXIT INT TERM; \
	  DEBUG=1 SMS_GATEWAY=simulator $(VENV)/bin/celery -A smscampaigns worker -B -s var/celerybeat-schedule \
	    --pool=threads --concurrency=4 --loglevel=INFO >var/worker.log 2>&1 & \
	  echo "  Celery worker log: var/worker.log"; \
	  DEBUG=1 SMS_GATEWAY=simulator $(PY) manage.py runserver $(HOST):$(PORT)'

# The suite runs on PostgreSQL and Redis (as CI does) when they answer on their usual local ports and
# DATABASE_URL / REDIS_URL are not set; with neither it falls back to SQLite and skips the Redis tests.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/smscampaigns
TEST_REDIS_URL ?= redis://127.0.0.1:6379/5
answers = $(PY) -c "import socket; socket.create_connection(('127.0.0.1', $(1)), 1).close()" 2>/dev/null
test: venv browser
	@db="$${DATABASE_URL:-}"; redis="$${REDIS_URL:-}"; \
	if [ -z "$$db" ] && $(call answers,5432); then db="$(TEST_DATABASE_URL)"; fi; \
	if [ -z "$$redis" ] && $(call answers,6379); then redis="$(TEST_REDIS_URL)"; fi; \
	echo "make test: database $${db:-SQLite (no PostgreSQL on 127.0.0.1:5432)}," \
	  "Redis $${redis:-none, its tests skipped (no Redis on 127.0.0.1:6379)}"; \
	env -u DATABASE_URL -u REDIS_URL $${db:+DATABASE_URL=$$db} $${redis:+REDIS_URL=$$redis} $(PY) -m pytest $(ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf var db.sqlite3 staticfiles node_modules
