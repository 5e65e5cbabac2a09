# Every target sets itself up: a virtual environment in .venv with the project installed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: demo test interop lint typecheck check wheel clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,mysql,async,adk,openai-agents,pydantic-ai]'
	touch $(STAMP)

demo: $(STAMP)  ## the main job on SQLite, no server needed
	$(BIN)/python examples/demo.py

test: $(STAMP) lint typecheck  ## lint, type-check and run the whole test suite
	$(BIN)/python -m pytest

interop: $(STAMP)  ## the real OpenClaw as the judge: installs Node and its releases into a cache, then runs tests/interop
	$(BIN)/python -m tests.interop.install
	$(BIN)/python -m pytest tests/interop -m interop

check: $(STAMP) lint typecheck  ## lint, type-check and run the quick tests (not slow, no network)
	$(BIN)/python -m pytest -m "not slow and not network"

lint: $(STAMP)  ## ruff (lint and format) and the import contracts (layers, no cycles)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,mysql,async,adk,openai-agents,pydantic-ai,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)  ## the benchmarks (the suite under 10 minutes, then the peers, the async API, backup, space and the adapters): docs/benchmarks.md and its plots
	$(BIN)/python benchmarks/suite.py --out benchmarks/results.json \
		--plots docs/benchmarks --markdown docs/benchmarks.md
	# beside OpenClaw 2026.9.6, from the releases make interop installs (without them: a note)
	$(BIN)/python benchmarks/openclaw_peer.py --markdown docs/benchmarks.md
	# the async API beside bare psycopg, a thread pool, Google ADK and the other drivers
	$(BIN)/python benchmarks/async_api.py --markdown docs/benchmarks.md
	# an online backup of a 1 GB SQLite database while a writer puts 100 entries/s
	$(BIN)/python benchmarks/backup.py --markdown docs/benchmarks.md
	# disk space that comes back after cleanup, and integrity checks, at 100,000 sessions
	$(BIN)/python benchmarks/space.py --markdown docs/benchmarks.md
	# the framework adapters beside ADK's session services and the Agents SDK's SQLAlchemySession
	$(BIN)/python benchmarks/integrations.py --markdown docs/benchmarks.md

wheel: $(STAMP)
	$(BIN)/python -m build --wheel --outdir dist

clean:
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache
