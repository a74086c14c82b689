"""The demo's whole story inside ``run_test``: real pipeline, real upload, verification, sentinel."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import av
import pytest

from core.errors import InputError
from core.options import JobOptions
from sample_media.generate import write_clip
from tests.tui_pilot import make_app, screen_text, wait_for
from tui.commands.console import demo_session, run_console


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def small_clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4", 64, 36, 24, 0.5, audio=False)  # 12 frames


async def test_demo_runs_to_completion_in_the_console(tmp_path: Path) -> None:
    clip = small_clip(tmp_path)
    folder = tmp_path / "demo"
    session = demo_session(folder, clip, {}, countdown=0.5, check_interval=0.1)
    app = make_app(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.summary is not None, limit=120)
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "stopped" in text and "DRY RUN" in text
        assert "3/3" in text
        await pilot.press("q")  # nothing left running: no question
        await wait_for(pilot, lambda: not app.is_running)
    summary = app.return_value
    assert summary is not None and summary.error is None and summary.watchdog_state == "stopped"
    output = folder / "clip_2x.mp4"
    assert summary.output == str(output)
    assert frame_count(output) == 2 * frame_count(clip)  # complete: every frame of a 2x job
    uploaded = folder / "uploaded" / output.name
    assert sha1(uploaded) == sha1(output)
    sentinel = json.loads((folder / "stop-sentinel.json").read_text())
    assert sentinel["dry_run"] is True
    assert sentinel["verification"]["passed"] == 3
    assert sentinel["verification"]["sha1"] == sha1(output)
    log = (folder / "framedeck.log").read_text()
    assert "STOPPING INSTANCE" in log and "dry run: not executed" in log
    assert not [p for p in folder.iterdir() if "tmp" in p.name]  # nothing half-written left


def test_demo_headless_prints_where_things_are(tmp_path: Path, capsys) -> None:
    clip = small_clip(tmp_path)
    session = demo_session(
        tmp_path / "demo", clip, {}, countdown=0.0, check_interval=0.0, options=JobOptions(factor=3, model="blend")
    )
    code = run_console(session, headless=True)
    out = capsys.readouterr().out
    assert code == 0
    assert f"sentinel: {tmp_path / 'demo' / 'stop-sentinel.json'}" in out
    assert f"log:      {tmp_path / 'demo' / 'framedeck.log'}" in out
    assert f"output:   {tmp_path / 'demo' / 'clip_3x.mp4'}" in out
    assert frame_count(tmp_path / "demo" / "clip_3x.mp4") == 3 * frame_count(clip)


def test_demo_refuses_a_missing_clip_in_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^The demo clip .*nope\.mp4 is missing; regenerate it with .*\.$"):
        demo_session(tmp_path / "demo", tmp_path / "nope.mp4", os.environ)
