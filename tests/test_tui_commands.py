"""``framedeck tui`` and ``framedeck demo`` as commands: arguments, errors, exit codes, imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sample_media.generate import write_clip
from tests.conftest import ROOT
from tui.cli import main


def test_headless_commands_never_load_textual() -> None:
    code = "import sys; from tui.cli import build_parser; build_parser(); print('textual' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_tui_takes_every_option_of_run() -> None:
    from tui.cli import build_parser

    parser = build_parser()
    run_sub = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    run_options = {o for a in run_sub["run"]._actions for o in a.option_strings} - {"--quiet"}
    tui_options = {o for a in run_sub["tui"]._actions for o in a.option_strings}
    assert run_options <= tui_options
    for option in ("--upload", "--shutdown", "--confirm", "--countdown", "--require-confirm", "--dry-run", "--no-dry-run"):
        assert option in tui_options


@pytest.mark.parametrize(
    ("argv", "code", "sentence"),
    [
        (["tui", "missing.mp4", "-o", "out.mp4"], 2, "The input missing.mp4 does not exist."),
        (["tui", "{clip}", "-o", "out.mp4", "--factor", "1"], 2, "--factor must be an integer from 2 to 16"),
        (["tui", "{clip}", "-o", "out.mp4", "--upload", "s3://bucket/x"], None, "is not a b2://BUCKET/PREFIX or file:///PATH URL."),
        (["tui", "{clip}", "-o", "out.mp4", "--upload", "file:///{tmp}/nowhere"], None, "does not exist"),
        (["tui", "{clip}", "-o", "out.mp4", "--upload", "file:///{tmp}", "--confirm", "0"], 2, "--confirm must be at least 1."),
    ],
)
def test_user_errors_end_in_one_sentence(tmp_path: Path, capsys, argv: list[str], code: int | None, sentence: str) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not checked before the options")
    argv = [a.replace("{clip}", str(clip)).replace("/{tmp}", str(tmp_path)) for a in argv]
    result = main(argv)
    err = capsys.readouterr().err.strip()
    assert result != 0 and (code is None or result == code)
    assert sentence in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_tui_headless_runs_the_whole_story(tmp_path: Path, capsys) -> None:
    clip = write_clip(tmp_path / "clip.mp4", 64, 36, 24, 0.5, audio=False)
    uploads = tmp_path / "up"
    uploads.mkdir()
    out = tmp_path / "clip_2x.mp4"
    code = main([
        "tui", str(clip), "-o", str(out), "--model", "blend", "--headless",
        "--upload", uploads.as_uri(), "--shutdown", "poweroff", "--confirm", "2",
        "--check-interval", "0", "--countdown", "0",
    ])
    printed = capsys.readouterr().out
    assert code == 0
    sentinel = Path(f"{out}.stop-sentinel.json")
    assert json.loads(sentinel.read_text())["verification"]["passed"] == 2
    assert (uploads / out.name).read_bytes() == out.read_bytes()
    assert f"sentinel: {sentinel}" in printed and f"log:      {out}.framedeck.log" in printed
    assert " progress pairs " in Path(f"{out}.framedeck.log").read_text()  # the log file says how far it got


def test_tui_headless_failure_exits_with_the_errors_code(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video at all")
    code = main(["tui", str(bad), "-o", str(tmp_path / "o.mp4"), "--headless"])
    printed = capsys.readouterr().err  # refused before the session starts (no log file either)
    assert code == 2  # InputError
    assert printed.startswith("framedeck: ") and "Traceback" not in printed
    assert not (tmp_path / "o.mp4.framedeck.log").exists()
    assert not (tmp_path / "o.mp4").exists()
