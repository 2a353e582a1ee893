# Accord: two set-up commands, `make run` and `make test`; both bootstrap .venv.
#
# The virtualenv is rebuilt only when pyproject.toml or the constraints change
# (a stamp file), so a second call installs nothing. torch is installed first,
# pinned to the local CPU wheel, so no later requirement can pull CUDA packages.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TORCH  := torch==2.13.0
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
PYTEST_ARGS ?= -n 2 --dist worksteal --durations=25  # two workers for two cores (pytest-xdist), the slowest listed; PYTEST_ARGS= runs serially
# pip's machine-wide config names local index folders that do not all exist; hide
# only those warnings, and keep pip's exit status (pipefail).
QUIET  := 2>&1 | { grep -v '^WARNING: Location' || true; }

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

.PHONY: venv run test lint fmt typecheck imports bench lock clean

$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip $(QUIET)
	$(PIP) install $(TORCH) $(QUIET)
	$(PIP) install -c requirements/constraints.txt -e '.[federation,simulation,tracing,dev]' $(QUIET)
	@$(BIN)/python -c "import torch, gateway, consent, sdk, federation" 
	@touch $@

venv: $(STAMP)

run: $(STAMP)
	ACCORD_ENV=$${ACCORD_ENV:-development} $(BIN)/accord demo up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

test: lint typecheck imports
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

# Re-pin every transitive requirement from a fresh virtualenv.
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/python -m pip -q install --upgrade pip
	.lockvenv/bin/python -m pip -q install $(TORCH)
	.lockvenv/bin/python -m pip -q install -e '.[federation,simulation,tracing,dev]'
	.lockvenv/bin/python -m pip freeze --exclude-editable 2>/dev/null | grep -E '^[A-Za-z0-9_.-]+==' | grep -v '^accord==' > requirements/constraints.txt
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
