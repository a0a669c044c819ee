# Moments — the README's two commands (`make run`, `make test`) and helpers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
STAMP := $(VENV)/.installed-stamp
DEV_STAMP := $(VENV)/.dev-installed-stamp
export MOMENTS_PORT ?= 8000
# Coverage may only go up: raise this when the suite covers more (CI runs on PostgreSQL, which covers COPY too).
COVERAGE_FLOOR ?= 92

.PHONY: run test bench lint format messages lock clean venv

# The virtualenv: the runtime set (requirements.txt, locked with hashes) for `make run`, and the tests and
# gates on top (requirements-dev.txt) for everything else; reinstalled when a lock changes.
$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
	@touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt -r requirements-dev.txt
	@touch $(DEV_STAMP)

venv: $(STAMP)

## make run: migrate, seed the demo brand once, start web + Celery worker + beat (Ctrl-C stops all).
run: $(STAMP)
	$(MANAGE) migrate --noinput
	$(MANAGE) seed_demo --if-empty
	@echo ""
	@echo "  Moments is starting at http://127.0.0.1:$(MOMENTS_PORT)/admin/  (health: /healthz)"
	@echo "  Log in with one of the accounts above. Ctrl-C stops web, worker and beat."
	@echo ""
	$(BIN)/honcho start -f Procfile

## make test: the whole suite (SQLite by default; PostgreSQL/Redis when DATABASE_URL/REDIS_URL/CELERY_BROKER_URL are set).
test: $(DEV_STAMP)
	@mkdir -p test-results
	$(BIN)/pytest --cov --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_FLOOR) $(PYTEST_ARGS)

## make bench: the benchmarks under bench/ (PostgreSQL: BENCH_DATABASE_URL, default moments_bench on the local server).
bench: $(DEV_STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## make messages: refresh and compile the zh-hans translations (needs GNU gettext).
messages: $(DEV_STAMP)
	$(MANAGE) makemessages --locale zh_Hans --ignore '.venv/*' --ignore 'var/*' --no-obsolete
	$(MANAGE) compilemessages --locale zh_Hans --ignore '.venv/*'

## make lock: lock requirements.txt (runtime) and requirements-dev.txt (tests, gates) from their .in files, with
## hashes (pip-tools). Edit the .in files, never the locks.
LOCK_FLAGS := --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
lock:
	rm -rf /tmp/moments-lock && $(PYTHON) -m venv /tmp/moments-lock
	/tmp/moments-lock/bin/pip install --quiet --disable-pip-version-check pip-tools
	/tmp/moments-lock/bin/pip-compile $(LOCK_FLAGS) --output-file requirements.txt requirements.in
	/tmp/moments-lock/bin/pip-compile $(LOCK_FLAGS) --output-file requirements-dev.txt requirements-dev.in

clean:
	rm -rf $(VENV) var test-results .pytest_cache .ruff_cache .coverage
