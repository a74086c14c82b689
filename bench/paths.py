"""Where the benchmarks find ../shared: beside the checkout, or $FRAMEDECK_SHARED (a GPU box
that gets a copy of the needed files inside the working tree, see bench/device_suite.sh)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FRAMEDECK_SHARED") or ROOT.parent / "shared")
