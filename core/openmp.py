"""How torch's OpenMP threads wait between parallel regions, set before torch starts them.

By default they spin for a while after each region, holding a core. The pipeline's decoder,
colour and encoder threads need those cores: on a loaded 2-core machine a CPU job with the
blend model took 51 s of wall time spinning against them where it takes 10 s with idle
threads asleep (BENCHMARKS.md, "OpenMP's idle threads"). OpenMP reads the setting once, when
torch loads it, so the ``framedeck`` command sets it first thing; a script that imports torch
itself and calls ``core.job.run_job`` can set ``OMP_WAIT_POLICY=PASSIVE`` before that import.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

POLICY = "OMP_WAIT_POLICY"


def quiet_idle_threads(environ: MutableMapping[str, str] = os.environ) -> None:
    """Idle OpenMP threads sleep at once (PASSIVE) unless the user chose a policy."""
    environ.setdefault(POLICY, "PASSIVE")
