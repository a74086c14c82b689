"""The framedeck command lets torch's idle OpenMP threads sleep (they spun against the decoder
and encoder threads), set before torch loads, and keeps a policy the user chose."""

from __future__ import annotations

import os
import subprocess
import sys

from core.openmp import quiet_idle_threads

PROBE = """
import os, sys
from tui.cli import main
try:
    main(["run", "--help"])
except SystemExit:
    pass
print(os.environ.get("OMP_WAIT_POLICY"), "torch" in sys.modules)
"""


def policy_seen(env_policy: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_policy is not None:
        env["OMP_WAIT_POLICY"] = env_policy
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    return done.stdout.strip().splitlines()[-1]


def test_the_command_sets_passive_before_torch_loads_unless_the_user_chose():
    assert policy_seen(None) == "PASSIVE False"
    assert policy_seen("ACTIVE") == "ACTIVE False"


def test_quiet_idle_threads_only_fills_in_a_missing_policy():
    environ: dict[str, str] = {}
    quiet_idle_threads(environ)
    assert environ == {"OMP_WAIT_POLICY": "PASSIVE"}
    environ["OMP_WAIT_POLICY"] = "ACTIVE"
    quiet_idle_threads(environ)
    assert environ == {"OMP_WAIT_POLICY": "ACTIVE"}
