# slidepacs — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
UI     := slidepacs/web/ui
UI_DEPS := $(UI)/node_modules/.package-lock.json

.PHONY: run test install install-test bench clean screenshots

# on an empty archive and a terminal, serve offers to start the demo's virtual scanners
run: install
	$(VENV)/bin/slidepacs serve --offer-demo

test: install-test
	$(PY) -m pytest

$(PY):
	PYTHON=$(PYTHON) scripts/system-packages.sh run
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(PY) pyproject.toml
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	PYTHON=$(PYTHON) scripts/system-packages.sh test
	$(PIP) install -e '.[test]'
	touch $@

# the browser UI's third-party files (OpenSeadragon) from the npm registry, as locked
$(UI_DEPS): $(UI)/package.json $(UI)/package-lock.json
	PYTHON=$(PYTHON) scripts/system-packages.sh run
	cd $(UI) && npm ci --no-audit --no-fund --loglevel=error

install: $(VENV)/.installed $(UI_DEPS)

install-test: $(VENV)/.installed-test $(UI_DEPS)

# refresh docs/screenshots from the browser tests
screenshots: install-test
	SLIDEPACS_SCREENSHOTS=1 $(PY) -m pytest tests/ui -q

bench: install-test
	scripts/system-packages.sh bench
	$(PIP) install -e '.[bench]'
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache $(UI)/node_modules
