# Two commands on a fresh clone with only Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test lint clean bench bench-deps stripe-app-test

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,test]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/bridge dev

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check bridge workers tests bench
	$(BIN)/ruff format --check bridge workers tests bench

# Every benchmark in turn, then where the time goes (py-spy profiles), in under 5 minutes on 2
# cores; each prints its tables and appends them to bench/RESULTS.md. Redis: $REDIS_URL, else
# database 11 of 127.0.0.1:6379 (flushed).
bench: install
	@command -v wrk >/dev/null || { echo "bench/ingest.py needs wrk: apt-get install wrk (or, as root, make bench-deps)" >&2; exit 1; }
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/worker.py
	$(BIN)/python bench/end_to_end.py
	$(BIN)/python bench/rate.py
	$(BIN)/python bench/fairness.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/profile.py

# What the benchmarks need besides the virtualenv: wrk (Debian's package), installed when run as root.
bench-deps:
	@if command -v wrk >/dev/null; then echo "wrk is installed"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y wrk; \
	else echo "wrk is missing: run this as root, or sudo apt-get install wrk" >&2; exit 1; fi

# The Stripe App (stripe-app/, Node.js 18+): the locked packages, type check, lint, Jest tests.
stripe-app-test:
	cd stripe-app && npm ci --no-audit --no-fund && npx tsc --noEmit && npm run lint && npm test -- --ci

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
