"""Footage comes out as it went in: every stream, every timestamp, damage reported, each container.

Inputs are made with PyAV (tests/footage.py); jobs run the real pipeline with the blend model.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from core.errors import DecodeError, OptionError
from core.events import LogRecord
from core.job import run_job
from core.options import JobOptions
from tests.clips import moving_frames, write_frames
from tests.footage import (
    avi_with_a_held_frame,
    avi_with_bframes,
    clip_with_start,
    cut_bytes_from_middle,
    mkv_with_ass,
    noise_mkv,
    overstate_avi_length,
    rich_mkv,
    ts_with_klv,
    vfr_with_bframes,
)
from tui.cli import main


def job(src: Path, out: Path, **options) -> tuple[object, list[LogRecord]]:
    logs: list[LogRecord] = []
    opts = JobOptions(model="blend", device="cpu", encode_workers=1, **options)
    result = run_job(src, out, opts, on_event=lambda e: logs.append(e) if isinstance(e, LogRecord) else None)
    return result, logs


def video_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(f.pts * f.time_base) for f in container.decode(video=0)]


def said(logs: list[LogRecord], level: str, text: str) -> list[str]:
    return [r.message for r in logs if r.level == level and text in r.message]


# -- timestamps ------------------------------------------------------------------------------


def test_h264_with_bframes_in_avi_keeps_every_frame_at_an_even_rate(tmp_path: Path) -> None:
    src = avi_with_bframes(tmp_path / "in.avi", n=20, fps=10)
    result, logs = job(src, tmp_path / "out.mp4")
    assert result.input_frames == 20 and result.output_frames == 40
    times = video_times(tmp_path / "out.mp4")
    assert len(times) == 40
    assert np.allclose(np.diff(times), 0.05, atol=1e-3)  # 20 fps, no uneven gaps
    assert times[0] == 0.0 and abs(result.duration - 2.0) < 1e-6
    assert said(logs, "info", "no presentation timestamps")
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert len(c.streams.audio) == 1


def test_avi_header_overstating_its_length_is_complete_with_a_warning(tmp_path: Path) -> None:
    src = avi_with_bframes(tmp_path / "in.avi", n=12, fps=10, audio=False)
    assert overstate_avi_length(src) == 24
    result, logs = job(src, tmp_path / "out.mp4")
    assert result.input_frames == 12 and result.output_frames == 24
    assert said(logs, "warning", "holds 12 frames where its header says 24")
    out_dir = tmp_path / "strict"
    out_dir.mkdir()
    with pytest.raises(DecodeError, match="--strict"):
        job(src, out_dir / "out.mp4", strict=True)
    assert list(out_dir.iterdir()) == []


def test_an_empty_avi_chunk_keeps_its_tick(tmp_path: Path) -> None:
    """Capture AVIs mark a repeated frame with an empty chunk; the time it stands for is kept."""
    src = avi_with_a_held_frame(tmp_path / "held.avi", n=8, fps=10, held_at=4)
    with av.open(str(src)) as c:
        assert c.streams.video[0].frames == 9  # 8 pictures + 1 empty chunk
    result, logs = job(src, tmp_path / "out.mp4")
    assert result.input_frames == 8 and abs(result.duration - 0.9) < 1e-6
    times = video_times(tmp_path / "out.mp4")
    assert len(times) == 16 and abs(times[-1] - 0.85) < 1e-3
    assert not [r for r in logs if r.level == "warning"]


@pytest.mark.parametrize("ext", [".mkv", ".mp4"])
def test_a_video_starting_at_10_s_is_valid(ext: str, tmp_path: Path) -> None:
    src = clip_with_start(tmp_path / "in.mkv", Fraction(10), n=12, fps=24)
    out = tmp_path / f"out{ext}"
    result, _ = job(src, out)
    assert result.input_frames == 12 and result.output_frames == 24
    times = video_times(out)
    with av.open(str(out)) as c:
        audio_start = float(c.streams.audio[0].start_time * c.streams.audio[0].time_base)
        video_start = float(c.streams.video[0].start_time * c.streams.video[0].time_base)
        length = c.duration / av.time_base
    if ext == ".mkv":  # Matroska keeps the start time as it is
        assert abs(times[0] - 10.0) < 1e-3 and abs(audio_start - 10.0) < 0.03
    else:  # mp4: the clip starts at 0, no empty edit
        assert times[0] == 0.0 and video_start == 0.0 and audio_start < 0.03
        assert length < 0.6
    assert np.allclose(np.diff(times), 1 / 48, atol=1.5e-3)


def test_ts_starting_at_1_48_s_gives_an_mp4_without_an_empty_edit(tmp_path: Path) -> None:
    src = clip_with_start(tmp_path / "in.ts", Fraction(148, 100), n=12, fps=24)
    with av.open(str(src)) as c:
        assert c.start_time / av.time_base > 1.4
    _, _ = job(src, tmp_path / "out.mp4")
    with av.open(str(tmp_path / "out.mp4")) as c:
        length = c.duration / av.time_base
        video = c.streams.video[0]
        video_start = float(video.start_time * video.time_base)
    assert length < 0.6, length  # 0.5 s of video (+ audio priming), not 1.48 s more
    assert video_start < 0.05  # only the real offset between audio and video is left


def test_vfr_with_bframes_keeps_the_exact_last_frame_duration(tmp_path: Path) -> None:
    pts = [0, 42, 83, 125, 142, 158, 200, 242, 283, 300, 342, 383]
    src = vfr_with_bframes(tmp_path / "vfr.mp4", pts, last_ms=42)
    result, _ = job(src, tmp_path / "out.mp4")
    assert abs(result.duration - 0.425) < 1e-3
    with av.open(str(tmp_path / "out.mp4")) as c:
        stream = c.streams.video[0]
        assert abs(float(stream.duration * stream.time_base) - 0.425) < 1e-3
        assert stream.frames == 24


def test_duplicate_timestamps_are_counted_and_reported(tmp_path: Path) -> None:
    src = write_frames(
        tmp_path / "dup.mkv", moving_frames(6), codec="ffv1", pix_fmt="bgr0",
        pts=[0, 40, 40, 80, 120, 120], time_base=Fraction(1, 1000),
    )
    result, logs = job(src, tmp_path / "out.mkv")
    assert result.input_frames == 4
    assert said(logs, "warning", "2 frame(s) of dup.mkv repeat the timestamp")


# -- damage ------------------------------------------------------------------------------------


def test_a_damaged_mkv_is_reported_and_the_pair_across_the_hole_is_held(tmp_path: Path) -> None:
    src = noise_mkv(tmp_path / "in.mkv", n=30, fps=24, codec="ffv1")
    cut_bytes_from_middle(src, 0.3)
    out = tmp_path / "out.mkv"
    result, logs = job(src, out, codec="ffv1", scene_cut=None)
    warnings = said(logs, "warning", "are missing in 1 gap(s)")
    assert warnings, [r.message for r in logs]
    missing = int(warnings[0].split()[0])
    assert missing >= 3 and result.input_frames + missing == 30
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    held = [k for k in range(0, len(frames) - 2, 2) if np.array_equal(frames[k], frames[k + 1])]
    assert len(held) == 1  # only the pair across the hole; every other pair is blended
    out_dir = tmp_path / "strict"
    out_dir.mkdir()
    with pytest.raises(DecodeError, match=r"damaged near frame \d+ \(.*\); --strict allows no damage"):
        job(src, out_dir / "out.mkv", strict=True)
    assert list(out_dir.iterdir()) == []


# -- streams -----------------------------------------------------------------------------------


def _stream_facts(path: Path) -> dict:
    with av.open(str(path)) as c:
        return {
            "audio": [(s.codec_context.name, s.metadata.get("language"), s.metadata.get("title") or s.metadata.get("name"))
                      for s in c.streams.audio],
            "subtitles": [({"srt": "subrip"}.get(s.codec_context.name, s.codec_context.name), s.metadata.get("language"))
                          for s in c.streams.subtitles],
            "attachments": [(s.name, bytes(s.data)) for s in c.streams if s.type == "attachment"],
            "chapters": [ch["metadata"].get("title") for ch in c.chapters()],
            "title": c.metadata.get("title"),
            "text": [bytes(p) for s in c.streams.subtitles[:1] for p in c.demux(s) if p.size],
        }


def test_mkv_to_mkv_keeps_every_stream_tag_attachment_and_chapter(tmp_path: Path) -> None:
    src = rich_mkv(tmp_path / "in.mkv", font=b"\x00\x01\x00\x00font-bytes")
    _, logs = job(src, tmp_path / "out.mkv")
    facts = _stream_facts(tmp_path / "out.mkv")
    assert facts["audio"] == [("aac", "eng", "English stereo"), ("aac", "fra", "Français")]
    assert facts["subtitles"] == [("subrip", "deu")]
    assert facts["text"] == [b"Hallo", b"Welt"]
    assert facts["attachments"] == [("font.ttf", b"\x00\x01\x00\x00font-bytes")]
    assert facts["chapters"] == ["Opening", "Ending"]
    assert facts["title"] == "Rich test clip"
    assert not said(logs, "info", "left out")
    assert said(logs, "info", "carried into .mkv: 2 audio (eng, fra); 1 subtitle (deu); 1 attachment(s); 2 chapters")
    for index in (1, 2):  # audio copied packet for packet
        with av.open(str(src)) as a, av.open(str(tmp_path / "out.mkv")) as b:
            want = [(p.pts, bytes(p)) for p in a.demux(a.streams[index]) if p.size]
            got = [(p.pts, bytes(p)) for p in b.demux(b.streams[index]) if p.size]
        assert got == want


def test_mkv_to_mp4_converts_srt_to_mov_text_and_names_what_it_leaves_out(tmp_path: Path) -> None:
    src = rich_mkv(tmp_path / "in.mkv")
    _, logs = job(src, tmp_path / "out.mp4")
    facts = _stream_facts(tmp_path / "out.mp4")
    assert [(c, lang) for c, lang, _ in facts["audio"]] == [("aac", "eng"), ("aac", "fra")]
    assert facts["subtitles"] == [("mov_text", "deu")]
    assert [t for t in facts["text"] if len(t) > 2] == [b"\x00\x05Hallo", b"\x00\x04Welt"]
    with av.open(str(tmp_path / "out.mp4")) as c:  # a full tx3g sample description: style and font table
        assert b"ftab" in c.streams.subtitles[0].codec_context.extradata
    assert facts["chapters"] == ["Opening", "Ending"] and facts["title"] == "Rich test clip"
    assert said(logs, "info", "converted to mov_text")
    assert said(logs, "info", "left out of .mp4: attachment font.ttf (.mkv keeps it)")


def test_what_a_container_cannot_hold_is_left_out_with_one_note_naming_a_keeper(tmp_path: Path) -> None:
    src = mkv_with_ass(tmp_path / "ass.mkv")
    _, logs = job(src, tmp_path / "ass.mp4")  # styled ASS into mp4 would lose its styles
    assert said(logs, "info", "left out of .mp4: subtitle stream 1 (ass, jpn) (.mkv keeps it)")
    with av.open(str(tmp_path / "ass.mp4")) as c:
        assert not c.streams.subtitles
    _, logs = job(src, tmp_path / "ass_out.mkv")
    facts = _stream_facts(tmp_path / "ass_out.mkv")
    assert [lang for _, lang in facts["subtitles"]] == ["jpn"] and b"Konnichiwa" in facts["text"][0]
    _, logs = job(ts_with_klv(tmp_path / "klv.ts"), tmp_path / "klv.mkv")
    assert said(logs, "info", "left out of .mkv: data stream 1 (klv)")


def test_mkv_to_webm_reencodes_audio_to_opus_and_says_so(tmp_path: Path) -> None:
    src = rich_mkv(tmp_path / "in.mkv")
    result, logs = job(src, tmp_path / "out.webm")
    facts = _stream_facts(tmp_path / "out.webm")
    assert [(c, lang) for c, lang, _ in facts["audio"]] == [("opus", "eng"), ("opus", "fra")]
    assert facts["subtitles"] == [("webvtt", "deu")]
    assert len(said(logs, "info", "re-encoding it to opus")) == 2
    with av.open(str(tmp_path / "out.webm")) as c:
        assert c.streams.video[0].codec_context.name == "vp9"
        assert c.streams.video[0].frames in (0, 24)
    assert len(video_times(tmp_path / "out.webm")) == result.output_frames == 24


# -- containers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ext", "codec", "expected"),
    [
        (".mp4", "auto", "h264"),
        (".mov", "auto", "h264"),
        (".mov", "prores", "prores"),
        (".mp4", "libx265", "hevc"),
        (".mkv", "auto", "h264"),
        (".webm", "auto", "vp9"),
        (".webm", "av1", "av1"),
        (".avi", "auto", "h264"),
    ],
)
def test_every_output_extension_gets_a_fitting_codec(ext: str, codec: str, expected: str, tmp_path: Path) -> None:
    src = clip_with_start(tmp_path / "in.mkv", Fraction(0), n=8, fps=24)
    out = tmp_path / f"out{ext}"
    result, _ = job(src, out, codec=codec)
    assert result.output_frames == 16
    times = video_times(out)
    assert len(times) == 16
    assert np.allclose(np.diff(times), 1 / 48, atol=1.5e-3)
    with av.open(str(out)) as c:
        video = c.streams.video[0]
        assert video.codec_context.name.startswith(expected) or expected in video.codec_context.name
        assert len(c.streams.audio) == 1
        if expected == "hevc":
            assert video.codec_context.codec_tag == "hvc1"
        if ext == ".avi":  # a correct constant rate: one tick per frame
            assert video.time_base == Fraction(1, 48) and video.average_rate == 48 and video.frames == 16


@pytest.mark.parametrize(("ext", "codec"), [(".webm", "libx264"), (".mp4", "prores"), (".avi", "vp9")])
def test_a_codec_the_container_cannot_hold_is_one_sentence_before_anything(ext: str, codec: str, tmp_path: Path) -> None:
    src = clip_with_start(tmp_path / "in.mkv", Fraction(0), n=4, fps=24, audio=False)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(OptionError, match=rf"The \{ext} container cannot hold .*; it holds "):
        job(src, out_dir / f"out{ext}", codec=codec)
    assert list(out_dir.iterdir()) == []


# -- the command line ----------------------------------------------------------------------------


def test_run_prints_notes_before_progress_and_quiet_hides_them(tmp_path: Path, capsys) -> None:
    src = rich_mkv(tmp_path / "in.mkv")
    assert main(["run", str(src), "-o", str(tmp_path / "out.mp4"), "--model", "blend", "--device", "cpu"]) == 0
    lines = capsys.readouterr().err.splitlines()
    notes = [i for i, line in enumerate(lines) if line.startswith("note: ")]
    progress = [i for i, line in enumerate(lines) if line.startswith("pairs ")]
    assert notes and progress and max(notes) < min(progress)
    assert any("left out of .mp4: attachment font.ttf" in lines[i] for i in notes)
    assert main(["run", str(src), "-o", str(tmp_path / "q.mp4"), "--model", "blend", "--device", "cpu", "--quiet"]) == 0
    assert not any(line.startswith("note: ") for line in capsys.readouterr().err.splitlines())


def test_mov_text_goes_back_to_srt_in_mkv_and_timecode_is_kept(tmp_path: Path) -> None:
    mp4 = tmp_path / "subs.mp4"
    job(rich_mkv(tmp_path / "in.mkv"), mp4)  # SRT -> mov_text
    with av.open(str(mp4)) as c:
        assert c.streams.subtitles[0].codec_context.name == "mov_text"
    _, logs = job(mp4, tmp_path / "back.mkv")
    facts = _stream_facts(tmp_path / "back.mkv")
    assert facts["subtitles"] == [("subrip", "deu")] and facts["text"] == [b"Hallo", b"Welt"]
    assert said(logs, "info", "converted to subrip")

    src = tmp_path / "tc.mov"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.metadata["timecode"] = "01:00:00:00"  # the mov muxer writes a tmcd track
        for i, rgb in enumerate(moving_frames(6)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    with av.open(str(src)) as c:
        assert [s.type for s in c.streams] == ["video", "data"]
    for ext in (".mov", ".mkv"):
        _, logs = job(src, tmp_path / f"tc_out{ext}")
        with av.open(str(tmp_path / f"tc_out{ext}")) as c:
            tags = {k.lower(): v for k, v in c.streams.video[0].metadata.items()}
            assert tags["timecode"] == "01:00:00:00"
            if ext == ".mov":
                assert [s.type for s in c.streams] == ["video", "data"]  # a tmcd track again
        assert not said(logs, "info", "left out")


@pytest.mark.parametrize("ext", [".mp4", ".avi"])
def test_parallel_segment_encoders_keep_start_and_rate(ext: str, tmp_path: Path) -> None:
    src = clip_with_start(tmp_path / "in.mkv", Fraction(10), n=30, fps=24)
    out = tmp_path / f"out{ext}"
    result, _ = job_with_workers(src, out, workers=2)
    assert result.output_frames == 60
    times = video_times(out)
    assert len(times) == 60 and abs(times[0] - (1 / 48 if ext == ".avi" else 0)) < 1e-3  # AVI: dts + 1
    assert np.allclose(np.diff(times), 1 / 48, atol=1.5e-3)


def job_with_workers(src: Path, out: Path, workers: int):
    opts = JobOptions(model="blend", device="cpu", encode_workers=workers)
    return run_job(src, out, opts), []


def test_mp4_tags_handler_language_and_creation_time_are_kept(tmp_path: Path) -> None:
    src = tmp_path / "tags.mp4"
    with av.open(str(src), "w") as out:
        out.metadata["creation_time"] = "2024-05-01T12:34:56.000000Z"
        out.metadata["title"] = "Holiday"
        video = out.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.metadata["handler_name"] = "Camera"
        tone = out.add_stream("aac", rate=48000)
        tone.layout = "mono"
        tone.metadata["language"] = "spa"
        tone.metadata["handler_name"] = "Microphone"
        for i, rgb in enumerate(moving_frames(6)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode())
        silence = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
        silence.sample_rate, silence.pts = 48000, 0
        out.mux(tone.encode(silence))
        out.mux(tone.encode())
    job(src, tmp_path / "out.mp4")
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert c.metadata["creation_time"].startswith("2024-05-01T12:34:56")
        assert c.metadata["title"] == "Holiday"
        assert c.streams.video[0].metadata["handler_name"] == "Camera"
        assert c.streams.audio[0].metadata["language"] == "spa"
        assert c.streams.audio[0].metadata["handler_name"] == "Microphone"
