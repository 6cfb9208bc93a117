# Two entry points: `make demo` and `make test`. Each builds the virtual environment the
# first time (and again when pyproject.toml changes), so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test clean bench

# The first build takes about half a minute: one line per stage says what is going on.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "· creating the virtual environment in $(VENV)"; \
		$(PYTHON) -m venv $(VENV); }
	@echo "· installing rillet and its dependencies (the SDKs, the Claude CLI: ~30 s)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)
	@echo "· ready"

demo: $(STAMP)
	@$(BIN)/rillet run examples/showcase.yaml

test: $(STAMP)
	@$(BIN)/python -m pytest --cov=rillet --cov-report=term --cov-fail-under=90 -q

# rillet vs the raw SDKs on the local simulator; writes bench/results/<UTC date>.json.
bench: $(STAMP)
	@$(BIN)/python -m bench

clean:
	rm -rf $(VENV) outputs workspace checkpoints .pytest_cache .coverage
