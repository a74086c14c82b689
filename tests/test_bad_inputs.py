"""Every input a user can get wrong: one sentence on stderr, a non-zero exit, nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.clips import moving_frames, read_frames, write_audio_only, write_frames
from tui.cli import main


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    code = main(["run", *args, "--quiet", "--model", "blend"])
    err = capsys.readouterr().err.strip()
    return code, err


def assert_one_sentence(err: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("framedeck: ") and "Traceback" not in err
    assert lines[0].rstrip().endswith((".", ")")), lines[0]


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d


CASES = {
    "missing": lambda d: d / "nope.mp4",
    "directory": lambda d: d,
    "not a video": lambda d: (d / "notes.mp4").write_text("hello, not a video\n" * 50) and d / "notes.mp4",
    "random bytes": lambda d: (d / "noise.mkv").write_bytes(os.urandom(20000)) and d / "noise.mkv",
    "audio only": lambda d: write_audio_only(d / "audio.m4a", seconds=1.0),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_files(case, tmp_path, out_dir, capsys):
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    src = CASES[case](src_dir)
    code, err = run_cli([str(src), "-o", str(out_dir / "o.mp4")], capsys)
    assert code != 0
    assert_one_sentence(err)
    assert list(out_dir.iterdir()) == []


def test_corrupt_stream_mid_file_names_the_frame(tmp_path, out_dir, capsys):
    src = write_frames(tmp_path / "in.mp4", moving_frames(60, 64, 48), codec="libx264", pix_fmt="yuv420p")
    data = bytearray(src.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4000] = os.urandom(4000)
    src.write_bytes(bytes(data))
    code, err = run_cli([str(src), "-o", str(out_dir / "o.mp4")], capsys)
    assert code != 0
    assert_one_sentence(err)
    assert "frame" in err
    assert list(out_dir.iterdir()) == []


def test_output_equal_to_input_is_refused(tmp_path, capsys):
    src = write_frames(tmp_path / "in.mkv", moving_frames(3))
    before = src.read_bytes()
    code, err = run_cli([str(src), "-o", str(src)], capsys)
    assert code != 0
    assert_one_sentence(err)
    assert src.read_bytes() == before


def test_unwritable_output_folder(tmp_path, capsys):
    src = write_frames(tmp_path / "in.mkv", moving_frames(3))
    code, err = run_cli([str(src), "-o", str(tmp_path / "no" / "such" / "dir" / "o.mkv")], capsys)
    assert code != 0
    assert_one_sentence(err)


def test_bad_options(tmp_path, capsys):
    src = write_frames(tmp_path / "in.mkv", moving_frames(3))
    code, err = run_cli([str(src), "-o", str(tmp_path / "o.mkv"), "--factor", "40"], capsys)
    assert code != 0 and "--factor" in err
    assert_one_sentence(err)
    assert not (tmp_path / "o.mkv").exists()


def test_odd_size_1919x1079_works(tmp_path, capsys):
    frames = [np.full((1079, 1919, 3), v, np.uint8) for v in (10, 200, 60)]
    frames[1][100:300, 200:700] = 30
    src = write_frames(tmp_path / "odd.mkv", frames, codec="ffv1", pix_fmt="bgr0")
    out = tmp_path / "odd_out.mp4"
    code = main(["run", str(src), "-o", str(out), "--model", "blend", "--quiet", "--preset", "ultrafast"])
    assert code == 0, capsys.readouterr().err
    got, _ = read_frames(out)
    assert len(got) == 6 and got[0].shape == (1079, 1919, 3)


def test_a_full_disk_is_one_sentence_and_leaves_nothing(tmp_path):
    """The output file hits a size limit mid-job (RLIMIT_FSIZE: the write fails like a full disk)."""
    import resource
    import signal
    import subprocess
    import sys

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))

    src = write_frames(tmp_path / "in.mkv", moving_frames(40, 320, 180), codec="ffv1")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "tui.cli", "run", str(src), "-o", str(out_dir / "o.mkv"),
         "--model", "blend", "--codec", "ffv1", "--quiet"],
        preexec_fn=limit, capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.returncode != 0
    assert_one_sentence(proc.stderr.strip())
    assert "File too large" in proc.stderr
    assert list(out_dir.iterdir()) == []


def test_webm_output_works_and_a_codec_webm_cannot_hold_is_one_sentence(tmp_path, out_dir, capsys):
    src = write_frames(tmp_path / "in.mp4", moving_frames(6, 64, 48), codec="libx264", pix_fmt="yuv420p")
    code, err = run_cli([str(src), "-o", str(out_dir / "o.webm")], capsys)
    assert code == 0, err
    assert (out_dir / "o.webm").exists()
    code, err = run_cli([str(src), "-o", str(out_dir / "x.webm"), "--codec", "libx264"], capsys)
    assert code == 2
    assert_one_sentence(err)
    assert "The .webm container cannot hold H.264 video" in err
    assert not (out_dir / "x.webm").exists() and len(list(out_dir.iterdir())) == 1


def test_damaged_input_with_strict_is_one_sentence_and_nothing_written(tmp_path, out_dir, capsys):
    from tests.footage import cut_bytes_from_middle, noise_mkv

    src = noise_mkv(tmp_path / "in.mkv", n=30)
    cut_bytes_from_middle(src, 0.3)
    code, err = run_cli([str(src), "-o", str(out_dir / "o.mp4"), "--strict"], capsys)
    assert code == 4
    assert_one_sentence(err)
    assert "--strict allows no damage" in err
    assert list(out_dir.iterdir()) == []
    code, err = run_cli([str(src), "-o", str(out_dir / "o.mp4")], capsys)
    assert code == 0
    assert err.startswith("warning: ") and "are missing in 1 gap(s)" in err  # --quiet keeps warnings
