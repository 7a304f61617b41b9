# slidepacs — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: run test install install-test bench clean

run: install
	$(VENV)/bin/slidepacs serve

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

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

bench: install-test
	scripts/system-packages.sh bench
	$(PIP) install -e '.[bench]'
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
