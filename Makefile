# Two commands do everything on a fresh machine with Python 3.13 and make:
#   make run    set up .venv if needed, then serve the app at http://localhost:7071/api
#   make test   set up .venv if needed, then run the whole test suite
# The interpreter: PYTHON=... if given, else a 3.13 found on PATH or under pyenv (tools/find-python).
# Two installs, each with its stamp: `make run` installs only what running needs
# (requirements-local.txt: the app and the local host); the test toolchain (requirements-dev.txt:
# pytest, Playwright, schemathesis, ruff, mypy, ...) is added by the first target that needs it.
PYTHON ?= $(shell sh tools/find-python)
VENV := .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run-py313
DEV_STAMP := $(VENV)/.installed-dev-py313

.PHONY: run test test-deps bench bench-layouts bench-scale eval lint format migrate clean-db

IS_313 := import sys; sys.exit(sys.version_info[:2] != (3, 13))
# A .venv whose Python is no longer 3.13 (removed, upgraded, made by another one) is rebuilt:
# its stamps go, so that the installs below run again.
ifneq ($(shell test -x $(PY) && $(PY) -c '$(IS_313)' 2>/dev/null && echo 3.13),3.13)
$(shell rm -f $(RUN_STAMP) $(DEV_STAMP))
endif

$(RUN_STAMP): requirements.txt requirements-local.txt
	@test -n "$(PYTHON)" || { echo "Python 3.13 is needed and none was found on PATH or under pyenv." \
	  "Install it (python.org, your package manager, or 'pyenv install 3.13'), or name it:" \
	  "make PYTHON=/path/to/python3.13 ..." >&2; exit 1; }
	@if [ -e $(VENV) ] && ! $(PY) -c '$(IS_313)' 2>/dev/null; then \
	  echo "Recreating $(VENV) with Python 3.13"; rm -rf $(VENV); fi
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c '$(IS_313)' || { echo "$(PYTHON) is not Python 3.13" >&2; rm -rf $(VENV); exit 1; }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-local.txt
	touch $(RUN_STAMP)

$(DEV_STAMP): $(RUN_STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(DEV_STAMP)

local.settings.json:
	cp local.settings.example.json local.settings.json

run: $(RUN_STAMP) local.settings.json
	$(PY) -m local_host

# System tools some tests drive, from Debian: Chromium (browser tests), Node.js and npm (newman,
# openapi-typescript, tsc). Installed with apt-get as root, or through passwordless sudo; without
# either, the tests that need them are skipped with the reason in the test summary.
test-deps:
	@missing=""; test -x /usr/bin/chromium || missing="$$missing chromium"; \
	  command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	    else sudo=none; fi; \
	    if [ "$$sudo" != none ] && command -v apt-get >/dev/null 2>&1; then \
	      echo "Installing$$missing for the tests..."; \
	      { $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
	        && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; } >/dev/null 2>&1 \
	      || echo "Could not install$$missing: the tests that need them will be skipped."; \
	    else echo "Not installed:$$missing (needs root or sudo, and apt-get): those tests will be skipped."; \
	    fi; \
	  fi

test: $(DEV_STAMP) test-deps
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(DEV_STAMP)
	$(PY) -m benchmarks.cold_start
	$(PY) -m benchmarks.ingest
	$(PY) -m benchmarks.retrieval
	$(PY) -m benchmarks.chat
	$(PY) -m benchmarks.streaming
	$(PY) -m benchmarks.cleanup
	$(PY) -m benchmarks.offline_embedders
	$(PY) -m benchmarks.memory

# Optional: where retrieval time goes per storage layout (~2 min), and retrieval at 10x the data
# (~15 min, ~18 GB of disk).
bench-layouts: $(DEV_STAMP)
	$(PY) -m benchmarks.retrieval_layouts

bench-scale: $(DEV_STAMP)
	$(PY) -m benchmarks.retrieval --scale 10

# Answer quality: labelled questions over five transcripts, asked through the HTTP API of a local
# host with the offline provider (~10 s); EVAL_ARGS="--base-url http://localhost:7071/api" asks a
# running server instead, EVAL_ARGS=--details lists the questions that did not pass.
eval: $(DEV_STAMP)
	$(PY) -m benchmarks.evaluation $(EVAL_ARGS)

lint: $(DEV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .

format: $(DEV_STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

migrate: $(RUN_STAMP)
	$(PY) -m alembic upgrade head

clean-db:
	rm -rf .local/pgdata
