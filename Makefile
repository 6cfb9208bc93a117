# Two entry points: `make demo` and `make test`. Each builds the virtual environment the
# first time (and again when pyproject.toml changes), so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test clean bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,ray]'
	@touch $(STAMP)

demo: $(STAMP)
	@$(BIN)/rillet run examples/showcase.yaml

test: $(STAMP)
	@$(BIN)/python -m pytest --cov=rillet --cov-report=term --cov-fail-under=90 -q

# rillet vs the raw SDKs on the local simulator; writes bench/results/<UTC date>.json.
bench: $(STAMP)
	@$(BIN)/python -m bench

clean:
	rm -rf $(VENV) outputs workspace checkpoints .pytest_cache .coverage
