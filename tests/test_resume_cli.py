"""A real ``framedeck run`` killed (SIGKILL) or terminated (SIGTERM), then run again.

The clip is tiny and the model is ``blend`` on the CPU, so each run takes a few seconds.
``FRAMEDECK_INJECT`` hangs the run at a known point (before a segment is stored, or inside
the final join) and announces it on stderr; the test waits for that line, kills the process,
reruns the same command and compares the result with an uninterrupted run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from core.journal import journal_folder, read_manifest
from tests.clips import moving_frames, write_frames

ROOT = Path(__file__).resolve().parent.parent
FRAMES = 49  # at 2 fps: 48 pairs, six journal segments of 8 pairs (four seconds each)
MODEL_HANG = "hang@pair=30,seconds=60"  # released when the job is stopped


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clip")
    return write_frames(folder / "in.mp4", moving_frames(FRAMES, 96, 64), fps=Fraction(2), codec="libx264",
                        pix_fmt="yuv420p", audio_seconds=FRAMES / 2)


def command(src: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "tui.cli", "run", str(src), "-o", str(out), "--model", "blend",
            "--factor", "2", "--codec", "libx264", "--device", "cpu", "--encode-workers", "1"]


def env(inject: str | None = None) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if k != "FRAMEDECK_INJECT"}
    if inject:
        values["FRAMEDECK_INJECT"] = inject
    return values


def run(src: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command(src, out), cwd=ROOT, env=env(), capture_output=True, text=True, timeout=120)


def start_until(src: Path, out: Path, inject: str, announced: str) -> subprocess.Popen:
    """Start a run with a hang injected; return once it says the hang was reached."""
    proc = subprocess.Popen(command(src, out), cwd=ROOT, env=env(inject), stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 90
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if announced in line:
            return proc
        if time.monotonic() > deadline:
            break
    proc.kill()
    pytest.fail(f"the run never reached {announced!r}: {''.join(seen)}")


def decoded(path: Path) -> tuple[list[np.ndarray], list[int | None], list[tuple[int | None, bytes]]]:
    """Decoded video frames, their pts, and the audio packets (pts, bytes)."""
    with av.open(str(path)) as c:
        frames = [(f.to_ndarray(format="rgb24"), f.pts) for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = [(p.pts, bytes(p)) for p in c.demux(c.streams.audio[0]) if p.size]
    return [f for f, _ in frames], [p for _, p in frames], audio


@pytest.fixture(scope="module")
def reference(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.mp4"
    done = run(clip, out)
    assert done.returncode == 0, done.stderr
    return decoded(out)


def assert_same(got, want) -> None:
    frames, pts, audio = got
    assert len(frames) == len(want[0]) == 2 * FRAMES
    assert all(np.array_equal(a, b) for a, b in zip(frames, want[0], strict=True))
    assert pts == want[1]
    assert audio == want[2] and audio


@pytest.mark.parametrize(("inject", "announced", "segments"), [
    ("hang-store@segment=1,seconds=60", "before storing segment 1", 1),  # early
    ("hang-store@segment=3,seconds=60", "before storing segment 3", 3),  # middle
    ("hang-join@packet=40,seconds=60", "in the join after 40 packets", 7),  # during the final join (the last
    # frame's own slots make a seventh segment)
], ids=["early", "middle", "join"])
def test_sigkill_then_the_same_command_gives_the_uninterrupted_output(clip, reference, tmp_path, inject,
                                                                     announced, segments):
    out = tmp_path / "out.mp4"
    proc = start_until(clip, out, inject, announced)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    manifest = read_manifest(journal_folder(out))
    assert sorted(int(n) for n in manifest["segments"]) == list(range(segments))
    assert not out.exists()

    again = run(clip, out)
    assert again.returncode == 0, again.stderr
    if segments < 7:
        assert f"resuming at pair {8 * segments + 1} of 48" in again.stderr
    assert_same(decoded(out), reference)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]  # journal and temporary files gone


def test_sigterm_keeps_progress_says_so_and_exits_non_zero(clip, reference, tmp_path):
    out = tmp_path / "out.mp4"
    # the model also waits at its 30th forward (pair 29), so the signal comes mid-stream
    proc = start_until(clip, out, f"hang-store@segment=2,seconds=60;{MODEL_HANG}", "before storing segment 2")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    kept = len(read_manifest(journal_folder(out))["segments"])
    assert kept >= 2
    percent = 100 * 8 * kept // 48
    assert err.strip().splitlines()[-1] == f"framedeck: interrupted at {percent}%: run the same command to resume"

    again = run(clip, out)
    assert again.returncode == 0, again.stderr
    assert_same(decoded(out), reference)


def test_no_keep_removes_the_progress_on_sigterm(clip, tmp_path):
    out = tmp_path / "out.mp4"
    cmd = [*command(clip, out), "--no-keep"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env(f"hang-store@segment=1,seconds=60;{MODEL_HANG}"), stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "before storing segment 1" in line:
            break
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert list(tmp_path.iterdir()) == []
