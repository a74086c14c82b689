"""Shared fixtures: the ../shared material, small thread counts for a 2-core machine."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

# torch's OpenMP threads sleep as soon as a parallel region ends instead of spinning for a
# while. Most tests run tiny frames (microseconds per op) beside the job's decoder, encoder and
# the test's own thread, and a spinning helper thread took one of the two cores from them: a
# 60-frame blend job cost 1.1 s of CPU instead of 0.3 s. Read when libgomp loads (import torch
# below), and passed on to the framedeck processes the tests start.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FRAMEDECK_SHARED") or ROOT.parent / "shared")  # see bench/paths.py

torch.set_num_threads(2)

# The devices present. A test that asserts CPU behaviour says device="cpu"; one that holds on
# every device is parametrised over these (on a GPU box device="auto" means CUDA).
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Everything imported so far (torch, PyAV, Textual, every test module) lives to the end:
    move it out of the garbage collector's sight. The job's own clean-up runs gc.collect()
    two or three times per job, and each full pass over these ~400,000 objects took 0.1-0.3 s;
    objects made by the tests are collected as before."""
    gc.collect()
    gc.freeze()


def shared_path(relative: str) -> Path:
    """Path of a file under ../shared; fails the test loudly when it is missing."""
    path = SHARED / relative
    if not path.exists():
        pytest.fail(f"test material missing: {path} (see ../shared/README.md)")
    return path


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or fills the user's model cache: ``--model auto`` finds it empty."""
    monkeypatch.setenv("FRAMEDECK_CACHE", str(tmp_path_factory.mktemp("model-cache")))


@pytest.fixture(autouse=True)
def _private_session_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Sessions started by a test listen in a folder of its own (short: a socket path has a
    limit), never beside the user's real sessions."""
    folder = Path(tempfile.mkdtemp(prefix="fd"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def shared() -> type:
    """Gives tests ``shared("media/clips/...")``."""
    return shared_path
