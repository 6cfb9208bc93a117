# Two entry points: `make demo` and `make test`. Each builds the virtual environment the
# first time (and again when pyproject.toml changes), so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BROWSER := $(VENV)/.browser

.PHONY: demo test clean bench

# The first build takes a while (Ray is large): one line per stage says what is going on.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "· creating the virtual environment in $(VENV)"; \
		$(PYTHON) -m venv $(VENV); }
	@echo "· installing rillet and its dependencies (the SDKs, the Claude CLI, Ray)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,ray]'
	@touch $(STAMP)
	@echo "· ready"

# The browser test drives Debian's Chromium: as root on a machine without it, apt-get it.
$(BROWSER): $(STAMP)
	@if ! { command -v chromium && command -v chromedriver; } >/dev/null \
	    && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Chromium for the browser test (apt-get install chromium chromium-driver)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium chromium-driver >/dev/null; fi
	@touch $@

demo: $(STAMP)
	@$(BIN)/rillet run examples/showcase.yaml

test: $(STAMP) $(BROWSER)
	@$(BIN)/python -m pytest --cov=rillet --cov-report=term --cov-fail-under=90 -q

# rillet vs the raw SDKs on the local simulator; writes bench/results/<UTC date>.json.
bench: $(STAMP)
	@$(BIN)/python -m bench

clean:
	rm -rf $(VENV) outputs workspace checkpoints .pytest_cache .coverage
