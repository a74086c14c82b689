# framedeck: `make demo` runs the main job, `make test` runs the tests.
# Both create .venv on first use. A torch that python3 can already import (a CUDA box)
# is reused through --system-site-packages; otherwise the CPU build torch==2.13.0 is installed.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.framedeck-installed

.PHONY: venv demo run test lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@if $(PYTHON) -c "import torch" >/dev/null 2>&1; then \
		echo "reusing the torch that $(PYTHON) already imports"; \
		$(PYTHON) -m venv --system-site-packages $(VENV); \
	else \
		$(PYTHON) -m venv $(VENV); \
		$(PY) -m pip install --quiet --upgrade pip; \
		$(PY) -m pip install --quiet "torch==2.13.0"; \
	fi
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: venv
	$(VENV)/bin/framedeck demo

test: venv
	$(PY) -m pytest -q

lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
