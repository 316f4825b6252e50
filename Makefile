# The module's two everyday commands, each doing all set-up on a fresh Debian machine:
#   make run    install what is missing, build, run redis-server with the module on
#               127.0.0.1:6379 in the foreground
#   make test   install what is missing, build, run every test (lint, unit, property, the
#               integration suite on Redis 7.0, Redis 8.2 and Valkey 9.1, the Python
#               package's checks and tests on the same servers, and a quick soak)

MODULE := target/release/librl.so
PORT ?= 6379
RUN_DIR := build/run

VENV_PYTHON := build/venv/bin/python
# The soak runs the module named by RL_MODULE when it is set, else the one built here.
SOAK_BUILD := $(if $(RL_MODULE),,build)
export RL_MODULE ?= $(abspath $(MODULE))

.PHONY: build run install test unit matrix python-test python-lint accuracy bench bench-http lint \
	clean soak soak-quick soak-lint

# Where `make install` puts the module (PREFIX=... to change it).
PREFIX ?= /usr/local
MODULE_DIR := $(PREFIX)/lib/redis/modules

build:
	scripts/install-deps.sh
	cargo build --release

run: build
	mkdir -p $(RUN_DIR)
	redis-server --bind 127.0.0.1 --port $(PORT) --dir $(abspath $(RUN_DIR)) \
		--loadmodule $(abspath $(MODULE))

# Copies the module to $(MODULE_DIR) and prints the line that loads it.
install: build
	install -d $(DESTDIR)$(MODULE_DIR)
	install -m 0755 $(MODULE) $(DESTDIR)$(MODULE_DIR)/librl.so
	@echo "installed $(DESTDIR)$(MODULE_DIR)/librl.so; load it with this line in redis.conf:"
	@echo "loadmodule $(MODULE_DIR)/librl.so"

test: build
	scripts/install-deps.sh --servers
	$(MAKE) lint python-lint soak-lint unit matrix soak-quick

# The pure limiter (core/) and the module's own unit tests, with a simulated clock and
# property tests.
unit:
	cargo test --profile integration --workspace --lib

# The integration tests against real servers (the module's, then the Python package's), once
# per server of the matrix.
matrix:
	scripts/test-matrix.sh

# The Python package alone (python/): its checks, then its tests on each server of the matrix.
python-test: build
	scripts/install-deps.sh --servers
	$(MAKE) python-lint
	scripts/test-matrix.sh --python

# Formatting, lint and types of python/ (ruff, mypy --strict; settings in python/pyproject.toml),
# and formatting and lint of the HTTP benchmark's Python (settings in bench/http/ruff.toml).
python-lint:
	build/venv/bin/ruff format --check python examples bench/http
	build/venv/bin/ruff check python examples bench/http
	cd python && ../build/venv/bin/mypy

# Replays seeded request traces through every algorithm and an exact sliding log, and
# writes the comparison to ACCURACY.md.
accuracy:
	cargo test --release -p rl-core --lib write_accuracy_table -- --ignored --nocapture

# The side-by-side benchmark, written to BENCHMARKS.md (about 7 minutes; QUICK=1 for a
# smoke run under a minute, written to build/BENCHMARKS-quick.md).
bench: build
	scripts/install-deps.sh --servers
	$(VENV_PYTHON) bench/bench.py $(if $(QUICK),--quick)

# The HTTP benchmark: the tutorial's Flask endpoint under gunicorn with no limiter, the
# tutorial's INCR+EXPIRE pipeline, Flask-Limiter and redis-rl, load from wrk; rewrites its
# section of BENCHMARKS.md (about 10 minutes; QUICK=1 for a smoke run under a minute, written
# to build/BENCHMARKS-http-quick.md).
bench-http: build
	scripts/install-deps.sh --bench
	$(VENV_PYTHON) bench/http/run.py $(if $(QUICK),--quick)

# The probes that found the module's reliability bugs, on every server of the matrix: command
# fuzzing, crafted RESTORE payloads, SIGKILL under load, resharding under traffic, clock
# steps and valgrind; a summary table, and a non-zero exit on any failure (about five
# minutes; see tests/soak/README.md). SOAK_ARGS passes options to tests/soak/run.py
# (--server redis7.0, --probe fuzz, --seed N).
soak: $(SOAK_BUILD)
	scripts/install-deps.sh --servers --valgrind
	$(VENV_PYTHON) tests/soak/run.py $(SOAK_ARGS)

# A few seconds of each probe class but valgrind, for make test.
soak-quick: $(SOAK_BUILD)
	scripts/install-deps.sh --servers
	$(VENV_PYTHON) tests/soak/run.py --quick $(SOAK_ARGS)

# Formatting, lint and types of the soak's Python (settings in tests/soak).
soak-lint:
	scripts/install-deps.sh --servers
	build/venv/bin/ruff format --check tests/soak
	build/venv/bin/ruff check tests/soak
	cd tests/soak && ../../build/venv/bin/mypy

# Formatting and lint of the Rust code (rustfmt, clippy with warnings as errors).
lint:
	cargo fmt --all -- --check
	cargo clippy --release --workspace --all-targets -- -D warnings

clean:
	cargo clean
	rm -rf build
