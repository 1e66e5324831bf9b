# Two commands on a fresh machine:  `make demo`  and  `make test`.
# Both create .venv at the project root and install everything they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup browser demo test lint bench clean

$(BIN)/logguard: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: a bare torch requirement would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/logguard

setup: $(BIN)/logguard

demo: setup
	$(BIN)/logguard demo

# the browser tests drive Debian's Chromium (headless); installed here when we may (root + apt),
# otherwise those tests skip and say why
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
	  echo "note: no chromium: the browser tests will be skipped (apt-get install chromium)"; }

test: setup browser
	$(BIN)/ruff check logguard tests bench
	$(BIN)/python -m pytest -q

bench: setup  # every quality and speed number in the README (about an hour on 2 cores)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/daemon.py
	$(BIN)/python bench/categorical.py
	$(BIN)/python bench/paths.py
	$(BIN)/python bench/alerts.py
	$(BIN)/python bench/insider.py
	$(BIN)/python bench/lan_training.py

clean:
	rm -rf $(VENV) logguard-demo.duckdb .pytest_cache
