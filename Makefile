# Every target installs what it needs into .venv first, so each works on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install codegen codegen-check lint format typecheck test test-lowest matrix check dist mutation demo bench bench-simulator bench-redis serve clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,redis,cli]'
	touch $(STAMP)

install: $(STAMP)

codegen: $(STAMP)
	$(PY) codegen/regen.py

codegen-check: $(STAMP)
	$(PY) codegen/regen.py --check

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

typecheck: $(STAMP)
	$(PY) -m mypy

test: $(STAMP)
	$(PY) -m pytest -n 2

check: codegen-check lint typecheck test

# The sdist and the wheel into dist/, as a package index would get them:
# twine checks their metadata and that the README renders, then
# tests/check_dist.py lists the wheel and fails unless it holds the package
# alone (py.typed included; no tests, bench or examples).
dist: $(STAMP)
	rm -rf dist
	$(PY) -m build --outdir dist .
	$(PY) -m twine check --strict dist/*
	$(PY) -m tests.check_dist dist

# The suite on the oldest versions pyproject.toml allows for every runtime
# dependency (and the cli and redis extras), dev tools at their usual versions: proves
# the floors (.ci/floors.py reads them). nox's `lowest` session, in .nox/lowest.
test-lowest:
	$(MAKE) matrix SESSIONS=lowest

# The test matrix (noxfile.py): the suite on Python 3.11, 3.12 and 3.13, then
# on the floors, each in its own venv under .nox/; `make matrix
# SESSIONS='tests-3.13 lowest'` runs some. The interpreters come from PATH
# (python3.12, ...); a missing one skips its session (fails it on CI).
SESSIONS ?=
matrix: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,redis,cli,matrix]'
	$(PY) -m nox $(if $(SESSIONS),-s $(SESSIONS))

# The wheel in dist/ (`make dist` first) installed with [cli] into a fresh
# venv: the README's quickstart and the billabex command run from it
# (noxfile.py's `wheel` session, tests/wheel_smoke.py).
.PHONY: wheel-smoke
wheel-smoke:
	$(MAKE) matrix SESSIONS=wheel

# Mutation testing (not part of check or CI; minutes to an hour on 2 cores):
# mutmut mutates _ratelimit/, _http/, _engine/, bulk/, sync/ and _matching/ in a mutants/ copy
# (see [tool.mutmut] in pyproject.toml), runs the tests that reach each
# mutant, then prints the caught share per module. Narrow it with e.g.
# `make mutation MUTANTS='billabex_async._http._retry*'`; `mutmut browse`
# shows each survivor.
MUTANTS ?=
mutation: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,redis,cli,mutation]'
	nice -n 10 $(VENV)/bin/mutmut run $(MUTANTS) > /dev/null || true
	$(VENV)/bin/mutmut results --all true | awk '{ m = $$1; sub(/\.x(_|ǁ).*/, "", m); \
		n[m]++; s[m, $$2]++ } END { for (m in n) { done = n[m] - s[m, "not"]; \
		if (done) printf "%-42s killed %4d  timeout %3d  survived %3d  caught %3.0f%%\n", m, \
		s[m, "killed"], s[m, "timeout"], s[m, "survived"], \
		100 * (s[m, "killed"] + s[m, "timeout"]) / done } }' | sort

# Starts the embedded simulator, syncs 2,000 generated contacts through the
# CLI (compressed rate-limit window), then re-syncs with 1 % changed.
demo: $(STAMP)
	$(PY) examples/demo.py

# Ours against the alternatives (sections 1-5, with their targets: bulk_upsert
# against a raw aiohttp gather at the same concurrency, memory of a cancelled
# million-item stream, an unchanged re-sync), and against the package before
# the performance work ("Performance at scale": bench/sections/perf/), in one
# run of `python -m bench`; rewrites bench/results.md, bench/ratelimited.png and
# bench/matching.png. `python -m bench --only perf [--quick]` reruns the
# performance part alone; `python -m bench --help` lists the sections.
bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,redis,cli,bench]'
	$(PY) -m bench

# The simulator's own speed: upserts/s with 10,000 contacts stored (prints a
# table; exits 1 below 1,000 upserts per server CPU-second).
bench-simulator: $(STAMP)
	$(PY) -m bench --only simulator

# Four worker processes on one token, with the Redis limiter and without
# (prints a table; needs redis-server on the PATH, or $$REDIS_SERVER).
bench-redis: $(STAMP)
	$(PY) -m bench --only redis

# Three tenants x ten accounts synced by four worker processes on an arq queue,
# one SIGKILLed mid-run; prints per tenant what the simulator saw (about half
# a minute; needs redis-server on the PATH, or $$REDIS_SERVER).
.PHONY: fleet-demo
fleet-demo: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,redis,cli,fleet]'
	$(PY) examples/fleet_demo.py

# schemathesis runs openapi/contacts.yaml against FakeBillabex with every check
# and every phase (examples, coverage, fuzzing, stateful links): seeded and
# deterministic, 30-60 s, cut off at 5 minutes (tests/run_contract.py).
.PHONY: contract
contract: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,redis,cli,contract]'
	$(PY) -m tests.run_contract

# The docs site into site/ (docs/ and mkdocs.yml; the API reference is read
# from the docstrings): --strict turns every warning, such as a broken link
# or a reference to a name that does not exist, into a failure.
.PHONY: docs docs-serve
docs: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,redis,cli,docs]'
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

# The same site served at http://127.0.0.1:8000, rebuilt on every change.
docs-serve: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,redis,cli,docs]'
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve --strict

# The simulator on a fixed port (`make serve PORT=9000` to move it), for
# pointing your own code or the CLI at it: it prints the variables to export.
PORT ?= 8080
serve: $(STAMP)
	$(PY) -m billabex_async.testing --port $(PORT) --seed-contacts 100

clean:
	rm -rf $(VENV) $(VENV_LOWEST) .nox .mypy_cache .pytest_cache .ruff_cache dist site
