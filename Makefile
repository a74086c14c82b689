# framedeck: `make demo` runs the main job, `make test` runs the tests.
# Both create .venv on first use. A torch that python3 can already import (a CUDA box)
# is reused through --system-site-packages; otherwise the CPU build torch==2.13.0 is installed.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.framedeck-installed

.PHONY: venv demo run test pycompat lint bench clean

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

test: venv pycompat
	$(PY) -m pytest -q

# Fails when code needs a newer Python than pyproject.toml's requires-python (e.g. typing.Self).
PY_MIN := $(shell sed -n 's/^requires-python = ">=\([0-9.]*\)"/\1/p' pyproject.toml)
pycompat: venv
	$(VENV)/bin/vermin --target=$(PY_MIN)- --violations --no-tips --eval-annotations \
		core monitor tui bench tests sample_media

lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
