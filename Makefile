# Two entry points: `make demo` (the paper's Figure-1 comparison) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test test-fast lint bench clean docs

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test,dask,docs]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/overlapflow compare examples/fig1.toml --out results/demo --time-compiled --overwrite

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks docs

test: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site
	$(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

# The edit-loop tier (≤ 2 min on 2 cores): every test not marked slow (tests/conftest.py).
test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -q -m "not slow"

# The site, into site/; the CLI, configuration and API references are generated during the
# build from the code (docs/gen_reference.py, a mkdocs hook). --strict: broken links fail.
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) results .pytest_cache site
