"""The console's Queue panel and its keys (Pilot), with SVG snapshots at 80x24 and 120x40."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import InputError
from core.events import JobFailed
from core.options import JobOptions
from session.clips import ClipState
from tests.scripted_job import FIXED_TIME, ScriptedJob
from tests.test_tui_snapshots import check_snapshot, frozen  # noqa: F401 (fixture)
from tests.tui_pilot import NO_TMUX_ENV, TMUX_ENV, enter_path, screen_text, wait_for
from tui.app import FramedeckApp
from tui.screens.confirm import ConfirmScreen
from tui.screens.path_prompt import PathPrompt
from tui.session import ConsoleSession


class QueueJob(ScriptedJob):
    """The scripted job for every clip; inputs named bad* fail in one sentence, outputs are written."""

    def __call__(self, input_path, output_path, options, on_event, cancel, pause, **kwargs):  # type: ignore[override]
        if Path(input_path).name.startswith("bad"):
            message = f"The input file {input_path} is not a video (no video stream)."
            on_event(JobFailed(message))
            raise InputError(message)
        result = super().__call__(input_path, output_path, options, on_event, cancel, pause, **kwargs)
        Path(output_path).write_bytes(b"x" * 123_456)
        return result


def queue_app(tmp_path: Path, names: list[str], env: dict[str, str]) -> tuple[FramedeckApp, QueueJob]:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    job = QueueJob(pairs=8)
    session = ConsoleSession(
        names[0], str(out / names[0]), JobOptions(), log_path=Path("framedeck.log"),
        run_job=job, sleep=lambda s: None, wall=lambda: FIXED_TIME,
        clips=[(name, str(Path("out") / name)) for name in names], output_folder="out",
    )
    return FramedeckApp(session, gpu_interval=None, env=env), job


NAMES = ["a_wedding_ceremony_long_name.mp4", "bad.mp4", "c.mp4", "d.mp4", "e.mp4"]


@pytest.mark.parametrize(
    ("size", "env", "name"),
    [((80, 24), NO_TMUX_ENV, "queue_80x24.svg"), ((120, 40), TMUX_ENV, "queue_120x40.svg")],
)
async def test_queue_snapshot(frozen, tmp_path, size, env, name) -> None:  # noqa: F811
    app, job = queue_app(tmp_path, NAMES, env)
    async with app.run_test(size=size) as pilot:
        job.release(8)  # the first clip is written, the second fails, the third starts
        await wait_for(pilot, lambda: app.engine.clips[2].state is ClipState.RUNNING)
        job.release(5)
        await wait_for(pilot, lambda: app.engine.clips[2].pairs_done == 5)
        await wait_for(pilot, lambda: app.job.done == 5)  # the screen follows at most twice a second
        await pilot.pause(0.2)
        text = screen_text(app)
        svg = app.export_screenshot(title="framedeck")
        app.session.cancel.set()
    check_snapshot(name, svg, text)
    assert "running 62%" in text and "failed" in text and "waiting" in text and "done" in text
    assert "queue ETA" in text and "stop ~" not in text  # no upload: no stop time
    assert "123K" in text  # the written clip's size


async def test_queue_keys(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    app, job = queue_app(tmp_path, NAMES, NO_TMUX_ENV)
    extra = tmp_path / "f.mp4"
    extra.write_bytes(b"not checked until it runs")
    async with app.run_test(size=(80, 24)) as pilot:
        job.release(8)
        await wait_for(pilot, lambda: app.engine.clips[2].state is ClipState.RUNNING)
        ids = [c.id for c in app.engine.clips]
        # move d below e: select d (index 3) and press ]
        for _ in range(3):
            await pilot.press("j")
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: [c.id for c in app.engine.clips][3:] == [ids[4], ids[3]])
        await pilot.press("left_square_bracket")  # and back up
        await wait_for(pilot, lambda: [c.id for c in app.engine.clips][3:] == [ids[3], ids[4]])
        # retry the failed clip: back in the queue, last
        await pilot.press("k", "k")
        assert app._selected().state is ClipState.FAILED  # type: ignore[union-attr]
        await pilot.press("r")
        await wait_for(pilot, lambda: app.engine.clips[-1].id == ids[1])
        assert app.engine.clips[-1].state is ClipState.WAITING
        # add a file through the path prompt
        await pilot.press("plus")
        await wait_for(pilot, lambda: isinstance(app.screen, PathPrompt))
        await enter_path(pilot, extra)
        await wait_for(pilot, lambda: app.engine.clips[-1].input == extra)
        assert app.engine.clips[-1].output == Path("out") / "f.mp4"
        # skip the running clip: it asks first
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        by_id = {c.id: c for c in app.engine.clips}
        await wait_for(pilot, lambda: by_id[ids[2]].state is ClipState.SKIPPED)  # c, the running one
        await wait_for(pilot, lambda: by_id[ids[3]].state is ClipState.RUNNING)  # then d
        await wait_for(pilot, lambda: "skipped" in screen_text(app))  # the screen follows
        app.session.cancel.set()
