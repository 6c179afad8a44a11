# Two entry points: `make demo` (the paper's Figure-1 comparison) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Tests spread over both cores; those sharing a module fixture stay together (tests/conftest.py).
PYTEST_PARALLEL ?= -n 2 --dist loadgroup

.PHONY: demo test test-fast browser lint bench clean docs

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# PyTorch for the import tests is installed first, pinned to the CPU build, so that the
# [torch] extra is already satisfied and no CUDA build is downloaded.
$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[test,plots,experiments,dask,docs,torch]"
	# neurogym 2.3 pins numpy 2.2 and matplotlib 3.10 but runs with the newer ones installed
	# above: it goes in without its pins, then its other dependencies.
	@echo "installing neurogym 2.3.1 without its numpy/matplotlib pins (it runs with the newer ones; tests/test_neurogym_task.py checks)"
	$(BIN)/python -m pip install --quiet --no-warn-conflicts --no-deps "neurogym==2.3.1"
	$(BIN)/python -m pip install --quiet --no-warn-conflicts "gymnasium==0.29.1" pydantic-settings loguru tomlkit natsort
	touch $@

demo: $(VENV)/.installed
	$(BIN)/overlapflow compare examples/fig1.toml --out results/demo --time-compiled --overwrite

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks docs

test: $(VENV)/.installed browser
	$(BIN)/ruff check src tests benchmarks docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL) --durations=15; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

# Headless Chromium for the report-page test, where it can be had (root with apt-get); the
# test skips with a printed reason where it cannot.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && timeout 600 sh -c 'apt-get update -qq && apt-get install -y -qq chromium' >/dev/null 2>&1; } \
	  || echo "chromium is not available: the report-page browser tests will be skipped"

# The edit-loop tier (≤ 2 min on 2 cores): every test not marked slow (tests/conftest.py).
test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_PARALLEL)

# The site, into site/; the CLI, configuration and API references are generated during the
# build from the code (docs/gen_reference.py, a mkdocs hook). --strict: broken links fail.
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) results .pytest_cache site
