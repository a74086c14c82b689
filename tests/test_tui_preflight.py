"""``framedeck tui`` mistakes end in one sentence before the screen opens, as in ``run``.

Each case runs the real CLI on a pseudo-terminal (so the console would open its screen)
and checks the exit status, the one sentence, that the alternate screen was never entered,
and that nothing (a folder, a log file) was created.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from sample_media.generate import write_clip
from tests.conftest import ROOT

ALT_SCREEN = b"\x1b[?1049h"


def run_on_a_pty(args: list[str], cwd: Path) -> tuple[int, str, bytes]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
    env.pop("TMUX", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "tui", *args], stdin=slave, stdout=slave, stderr=slave,
        cwd=cwd, env=env, start_new_session=True,
    )
    os.close(slave)
    screen = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen.extend(chunk)
    os.close(master)
    code = proc.wait(timeout=120)
    return code, screen.decode("utf-8", "replace"), bytes(screen)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", 32, 18, 24, 0.25, audio=False)


CASES = {
    "output folder missing under /proc": (["-o", "/proc/nope/x.mp4"], 3, "The output folder /proc/nope does not exist."),
    "output folder is a file": (["-o", "{tmp}/existing_file/out.mp4"], 3, "is not a folder"),
    "output folders are never made": (["-o", "{tmp}/nope/dir/x.mp4"], 3, "nope/dir does not exist"),
    "output is the input": (["-o", "{clip}"], 3, "is the input file"),
    "log folder missing": (["-o", "{tmp}/out.mp4", "--log-file", "/proc/nope/l.log"], 3, "--log-file"),
    "bad weights": (["-o", "{tmp}/out.mp4", "--model", "rife", "--weights", "{tmp}/notes.txt"], 6, "not a PyTorch weights file"),
    "missing weights": (["-o", "{tmp}/out.mp4", "--model", "rife", "--weights", "{tmp}/none.pkl"], 6, "does not exist"),
    "a text file as input": (["-o", "{tmp}/out.mp4"], 2, "notes.mp4"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_tui_mistakes_are_one_sentence_before_the_screen(tmp_path: Path, clip: Path, case: str) -> None:
    args, code, expected = CASES[case]
    (tmp_path / "existing_file").write_text("a file, not a folder\n")
    (tmp_path / "notes.txt").write_text("not weights\n")
    (tmp_path / "notes.mp4").write_text("not a video\n")
    source = tmp_path / "notes.mp4" if case == "a text file as input" else clip
    before = sorted(tmp_path.rglob("*")) + sorted(clip.parent.iterdir())
    filled = [a.format(tmp=tmp_path, clip=clip) for a in args]
    status, text, raw = run_on_a_pty([str(source), *filled], tmp_path)
    assert status == code, text
    assert ALT_SCREEN not in raw  # the screen never opened
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("framedeck: "), text
    assert expected in lines[0]
    assert sorted(tmp_path.rglob("*")) + sorted(clip.parent.iterdir()) == before  # nothing created
