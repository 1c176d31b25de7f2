# The two commands: `make run` and `make test`. Both make .venv and install first: `make run`
# (and `make install`, for a server) the app's requirements only, `make test` the tests' too.
PYTHON ?= python3
VENV := .venv
FLASK := $(VENV)/bin/flask --app karusaku

$(VENV)/.installed: requirements.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-test: requirements-test.txt $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $@

.PHONY: install install-test run test lint
install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(FLASK) init-db
	$(FLASK) seed-demo
	$(VENV)/bin/python run.py

# The suite runs on every core (pytest-xdist); TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
test: install-test lint
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS)

# What pytest does not see, run first by `make test`: mistakes and style (ruff.toml), and
# imports against the layers or in a cycle (.importlinter).
lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

# The benchmark (not part of `make test`) on phase-3 databases made by bench/generate.py
# (`.venv/bin/python bench/generate.py /tmp/phase3.db --clinics 100 --months 60`: bench/README.md).
BENCH_DBS ?= /tmp/phase3-1m.db /tmp/phase3-12m.db /tmp/phase3.db
.PHONY: bench
bench: install
	$(VENV)/bin/python bench/run.py $(addprefix --database ,$(BENCH_DBS))
