# Two entry points: `make demo` and `make test`. Each builds the virtual environment the
# first time (and again when pyproject.toml changes), so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BROWSER := $(VENV)/.browser

.PHONY: demo test clean bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,ray]'
	@touch $(STAMP)

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
