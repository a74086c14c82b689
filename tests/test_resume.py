"""The job journal in process: resume after an interrupt, ranges, refusals, restart, disk."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from core.errors import JobAborted, OutputError
from core.events import JobResumed, LogRecord, PairDone
from core.job import run_job
from core.journal import journal_folder, read_manifest
from core.options import JobOptions
from tests.clips import all_packets as packets
from tests.clips import moving_frames, write_frames

FRAMES = 50


def options(**kw) -> JobOptions:
    base = dict(model="blend", factor=2, codec="libx264", segment_pairs=8, device="cpu")
    base.update(kw)
    return JobOptions(**base)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """50 frames of H.264 with B-frames (so a resume must seek to a keyframe) and AAC audio."""
    folder = tmp_path_factory.mktemp("clip")
    return write_frames(folder / "in.mp4", moving_frames(FRAMES), codec="libx264", pix_fmt="yuv420p",
                        audio_seconds=FRAMES / 24)


@pytest.fixture(scope="module")
def reference(clip, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "ref.mp4"
    run_job(clip, out, options())
    return out


def interrupt_at(pair: int, cancel: threading.Event, seen: list):
    def on_event(event):
        seen.append(event)
        if isinstance(event, PairDone) and event.index == pair:
            cancel.set()
    return on_event


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.iterdir())}


def test_an_interrupted_job_kept_resumes_to_exactly_the_uninterrupted_output(clip, reference, tmp_path):
    out = tmp_path / "out.mp4"
    cancel, seen = threading.Event(), []
    with pytest.raises(JobAborted, match=r"^interrupted at (\d+)%: run the same command to resume$") as info:
        run_job(clip, out, options(), on_event=interrupt_at(30, cancel, seen), cancel=cancel, keep=True)
    percent = int(info.value.args[0].split()[2].rstrip("%:"))
    manifest = read_manifest(journal_folder(out))
    kept = len(manifest["segments"])
    assert kept >= 2 and not out.exists()
    assert percent == 100 * kept * 8 // (FRAMES - 1)

    events = []
    result = run_job(clip, out, options(), on_event=events.append, keep=True)
    resumed = [e for e in events if isinstance(e, JobResumed)]
    assert resumed == [JobResumed(kept * 8, FRAMES - 1, percent, kept)]
    assert any(isinstance(e, LogRecord) and e.message.startswith(
        f"resuming at pair {kept * 8 + 1} of {FRAMES - 1} ({percent}%)") for e in events)
    done = [e.index for e in events if isinstance(e, PairDone)]
    assert done == list(range(kept * 8, FRAMES - 1))  # only the missing pairs are made
    assert result.output_frames == 2 * FRAMES and result.input_frames == FRAMES
    assert packets(out) == packets(reference)  # video and audio, packet for packet
    assert not journal_folder(out).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_an_interrupt_finishes_a_segment_that_is_nearly_done(clip, tmp_path):
    out = tmp_path / "out.mp4"
    cancel, seen = threading.Event(), []
    with pytest.raises(JobAborted, match="interrupted at 48%"):
        run_job(clip, out, options(), on_event=interrupt_at(17, cancel, seen), cancel=cancel, keep=True)
    assert sorted(read_manifest(journal_folder(out))["segments"]) == ["0", "1", "2"]  # pairs 16-23 finished
    assert [e.index for e in seen if isinstance(e, PairDone)][-1] == 23
    assert any(isinstance(e, LogRecord) and "finishing the segment in progress" in e.message for e in seen)


def test_ranges_of_pairs_joined_equal_the_whole_job(clip, reference, tmp_path):
    out = tmp_path / "out.mp4"
    first = run_job(clip, out, options(), pairs=range(0, 24))
    assert first.output == "" and not out.exists()
    assert sorted(read_manifest(journal_folder(out))["segments"]) == ["0", "1", "2"]
    events = []
    run_job(clip, out, options(), pairs=range(24, FRAMES - 1), on_event=events.append)
    assert [e.index for e in events if isinstance(e, PairDone)] == list(range(24, FRAMES - 1))
    assert packets(out) == packets(reference)
    assert not journal_folder(out).exists()


def test_a_later_range_can_run_before_the_earlier_one(clip, reference, tmp_path):
    out = tmp_path / "out.mp4"
    events = []
    run_job(clip, out, options(), pairs=range(24, FRAMES - 1), on_event=events.append)
    assert any(isinstance(e, LogRecord) and "scene-cut state rebuilt from the 24 pairs" in e.message for e in events)
    assert sorted(read_manifest(journal_folder(out))["segments"]) == ["3", "4", "5", "6"]
    result = run_job(clip, out, options(), pairs=range(0, 24))
    assert result.duration == pytest.approx(FRAMES / 24)
    assert packets(out) == packets(reference)  # no scene cut in this clip, so the detector agrees


def test_a_range_must_start_on_a_segment_boundary(clip, tmp_path):
    from core.errors import OptionError

    with pytest.raises(OptionError, match="segment boundary"):
        run_job(clip, tmp_path / "o.mp4", options(), pairs=range(5, 20))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("change", "named"), [
    (dict(factor=3), "factor was 2, now 3"),
    (dict(crf=30), "crf was None, now 30"),
])
def test_a_journal_of_other_options_is_refused_and_left_untouched(clip, tmp_path, change, named):
    out = tmp_path / "out.mp4"
    cancel = threading.Event()
    with pytest.raises(JobAborted):
        run_job(clip, out, options(), on_event=interrupt_at(20, cancel, []), cancel=cancel, keep=True)
    before = snapshot(journal_folder(out))
    with pytest.raises(OutputError, match=f"was not made by this job .*{named}.*left as it is") as info:
        run_job(clip, out, options(**change))
    assert info.value.exit_code != 0
    assert snapshot(journal_folder(out)) == before and not out.exists()


def test_a_journal_of_another_input_is_refused(clip, tmp_path):
    out = tmp_path / "out.mp4"
    cancel = threading.Event()
    with pytest.raises(JobAborted):
        run_job(clip, out, options(), on_event=interrupt_at(20, cancel, []), cancel=cancel, keep=True)
    before = snapshot(journal_folder(out))
    other = write_frames(tmp_path / "other.mp4", moving_frames(FRAMES, seed=1), codec="libx264", pix_fmt="yuv420p")
    with pytest.raises(OutputError, match="belongs to another input"):
        run_job(other, out, options())
    assert snapshot(journal_folder(out)) == before


def test_restart_discards_the_journal_and_no_keep_leaves_nothing(clip, reference, tmp_path):
    out = tmp_path / "out.mp4"
    cancel = threading.Event()
    with pytest.raises(JobAborted):
        run_job(clip, out, options(), on_event=interrupt_at(20, cancel, []), cancel=cancel, keep=True)
    events = []
    run_job(clip, out, options(factor=3), on_event=events.append, restart=True)
    assert not any(isinstance(e, JobResumed) for e in events)
    assert sum(isinstance(e, PairDone) for e in events) == FRAMES - 1
    assert not journal_folder(out).exists()

    cancel = threading.Event()
    out2 = tmp_path / "aborted.mp4"
    with pytest.raises(JobAborted, match="nothing was written"):
        run_job(clip, out2, options(), on_event=interrupt_at(20, cancel, []), cancel=cancel)
    assert not journal_folder(out2).exists() and not out2.exists()


def test_too_little_free_disk_is_one_sentence_before_anything_is_written(clip, tmp_path, monkeypatch):
    import core.journal

    monkeypatch.setattr(core.journal, "free_bytes", lambda folder: 1000)
    with pytest.raises(OutputError, match=r"has 1000 bytes free but this job needs about .* twice the output"):
        run_job(clip, tmp_path / "o.mp4", options())
    assert list(tmp_path.iterdir()) == []


def test_a_queue_rerun_after_an_interrupt_skips_the_done_clip_and_resumes_the_other(clip, reference, tmp_path):
    """The session engine over journals: the interrupted clip's progress is kept, and the same
    queue run again skips the finished output and resumes the other from its journal."""
    from session import ClipState, Session

    first, second = tmp_path / "first.mp4", tmp_path / "second.mp4"
    clips = [(clip, first), (clip, second)]
    cancel, seen = threading.Event(), []

    def on_event(event):
        seen.append(event)
        if isinstance(event, PairDone) and event.index == 30 and first.exists():
            cancel.set()  # in the second clip

    result = Session(options(), clips, on_event=on_event, cancel=cancel, job_kwargs={"keep": True}).run()
    assert [c.state for c in result.clips] == [ClipState.DONE, ClipState.FAILED]
    assert "run the same command to resume" in result.clips[1].message
    assert not second.exists() and len(read_manifest(journal_folder(second))["segments"]) >= 2

    events: list = []
    result = Session(options(), clips, on_event=events.append, job_kwargs={"keep": True}).run()
    assert [c.state for c in result.clips] == [ClipState.SKIPPED, ClipState.DONE] and result.exit_code == 0
    assert any(isinstance(e, JobResumed) for e in events)
    assert packets(first) == packets(second) == packets(reference)
    assert not journal_folder(second).exists()
