"""Range workers decode from the nearest keyframe (core/video/keyframe_index.py), and the output
stays the single device's: packets, pts, audio; AVI reads from the start; damage before a seek
point, and a wrong index, are caught before the join (core/seek_check.py)."""

from __future__ import annotations

import dataclasses
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import core.device_job as device_job
from core.device_job import run_job_on_devices
from core.events import LogRecord
from core.job import run_job
from core.options import JobOptions
from core.video.keyframe_index import KeyframeIndex
from core.video.probe import probe_video
from core.video.reader import FrameReader
from tests.clips import all_packets, moving_frames
from tests.footage import _encode_video, _video_stream, avi_with_bframes, clip_with_start

FRAMES = 32  # 31 pairs: 4 ranges of one segment each, a keyframe at every range's first frame
SEGMENT = 8
X265 = {"x265-params": "keyint=8:min-keyint=8:bframes=2:log-level=none"}  # open GOP: CRA keyframes


def options(**kw) -> JobOptions:
    base = dict(model="blend", factor=2, codec="libx264", segment_pairs=SEGMENT, device="cpu", scene_cut=None)
    base.update(kw)
    return JobOptions(**base)


def h264_mp4(path: Path, n: int, gop: int = 10, audio: bool = False, pts: list[int] | None = None,
             time_base: Fraction = Fraction(1, 24)) -> Path:
    """H.264 with B-frames (bf=3) and a short GOP in mp4; ``pts`` in ``time_base`` for VFR."""
    with av.open(str(path), "w") as out:
        stream = _video_stream(out, "libx264", 24, {"bf": "3", "g": str(gop), "keyint_min": str(gop)})
        stream.codec_context.time_base = time_base
        tone = out.add_stream("aac", rate=48000) if audio else None
        if tone is not None:
            tone.layout = "mono"
        _encode_video(out, stream, moving_frames(n), pts if pts is not None else range(n), time_base)
        if tone is not None:
            from tests.footage import _tone

            _tone(out, tone, n / 24)
    return path


def vfr_times(n: int) -> list[int]:
    """Milliseconds 35-48 apart, with one long pause (not damage: the spacing is irregular)."""
    gaps = np.random.default_rng(7).integers(35, 49, n)
    gaps[20] = 140
    return [int(t) for t in np.concatenate([[0], np.cumsum(gaps[: n - 1])])]


def with_a_broken_packet(source: Path, path: Path, number: int) -> Path:
    """``source`` remuxed with packet ``number`` (not a keyframe) turned to noise: it does not decode."""
    with av.open(str(source)) as inp, av.open(str(path), "w") as out:
        video = out.add_stream_from_template(inp.streams.video[0])
        for n, packet in enumerate(p for p in inp.demux(inp.streams.video[0]) if p.size):
            if n == number:
                assert not packet.is_keyframe
                data = bytes(packet)
                noise = np.random.default_rng(1).integers(0, 256, len(data) - 5, dtype=np.uint8).tobytes()
                broken = av.Packet(data[:5] + noise)
                broken.pts, broken.dts, broken.time_base = packet.pts, packet.dts, packet.time_base
                packet = broken
            packet.stream = video
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("seek")
    plain = h264_mp4(folder / "plain.mp4", FRAMES, gop=8)
    return {
        # 100 frames with audio and the default scene-cut detector: ranges look 64 pairs back, so
        # only the last of 5 ranges (pairs 97-99, from frame 32 on) starts at a keyframe (frame 30)
        "h264": h264_mp4(folder / "h264.mp4", 100, gop=10, audio=True),
        "hevc": clip_with_start(folder / "hevc.mkv", Fraction(5, 2), n=FRAMES, codec="libx265", options=X265),
        "vfr": h264_mp4(folder / "vfr.mp4", FRAMES, gop=8, pts=vfr_times(FRAMES), time_base=Fraction(1, 1000)),
        "avi": avi_with_bframes(folder / "clip.avi", n=FRAMES, fps=24),
        "plain": plain,
        # 24 fps with the frame at 25/24 s missing, right after the keyframe at frame 24: a seeking
        # reader sees the gap only with the timeline a whole run has there
        "gap": h264_mp4(folder / "gap.mp4", FRAMES, gop=8, pts=[*range(25), *range(26, FRAMES + 1)]),
        "damaged": with_a_broken_packet(plain, folder / "damaged.mp4", 19),  # in the GOP of frames 16-23
    }


def opts_for(name: str) -> JobOptions:
    return options(scene_cut=JobOptions().scene_cut, segment_pairs=24) if name == "h264" else options()


@pytest.fixture(scope="module")
def references(clips, tmp_path_factory) -> dict[str, Path]:
    """One device's output of each clip (made once, on first use)."""
    folder = tmp_path_factory.mktemp("refs")
    made: dict[str, Path] = {}

    class Lazy(dict):
        def __missing__(self, name: str) -> Path:
            out = folder / f"{name}.mp4"
            run_job(clips[name], out, opts_for(name))
            made[name] = out
            return out

    return Lazy()


def decoded(path: Path) -> list[tuple[int, bytes]]:
    with av.open(str(path)) as c:
        return [(f.pts, f.to_ndarray(format="rgb24").tobytes()) for f in c.decode(video=0)]


def on_two_workers(clip: Path, out: Path, opts: JobOptions) -> list[str]:
    logs: list[str] = []
    run_job_on_devices(clip, out, opts, ["cpu", "cpu"],
                       on_event=lambda e: logs.append(e.message) if isinstance(e, LogRecord) else None)
    return logs


SEEKS = re.compile(r"decoded (\d+) frames from the keyframe at frame (\d+) \(the first frame needed: (\d+)\)")


# -- the index and the reader ----------------------------------------------------------------------


def test_the_index_knows_which_inputs_can_be_sought(clips):
    h264 = KeyframeIndex.build(clips["h264"])
    assert h264.seekable and len(h264.pts) == 100
    assert [k.index for k in h264.keyframes] == list(range(0, 100, 10))
    hevc = KeyframeIndex.build(clips["hevc"])  # CRA keyframes every 8, each with a leading picture before it
    assert hevc.seekable and [k.index for k in hevc.keyframes] == list(range(0, FRAMES, 8))
    assert [p for p in hevc.pts if p < hevc.keyframes[1].pts][-1] > hevc.keyframes[1].pts - 100  # 2.5 s start
    assert hevc.seek_point(20).index == 16 and hevc.seek_point(7) is None
    avi = KeyframeIndex.build(clips["avi"])
    assert not avi.seekable and avi.seek_point(30) is None
    assert avi.describe() == "each worker decodes from the first frame (clip.avi is avi, which framedeck reads from the start)"


@pytest.mark.parametrize("name, start", [("h264", 37), ("hevc", 21), ("vfr", 27), ("gap", 24)])
def test_a_reader_from_a_keyframe_hands_over_a_whole_runs_frames(clips, name, start):
    clip = clips[name]
    info = probe_video(clip)
    def frames(reader: FrameReader) -> list[tuple]:
        with reader:
            handed = list(reader)  # the last frame's duration is set once the stream has ended
        return [(f.index, f.pts, f.duration, f.missing_before, f.rgb.tobytes()) for f in handed]

    expected = frames(whole := FrameReader(clip, info, start_index=start))
    got = frames(seeking := FrameReader(clip, info, start_index=start, keyframes=KeyframeIndex.build(clip)))
    assert got == expected and got[0][0] == start
    assert 0 < seeking.seek_frame <= start and seeking.seek_note is None
    assert seeking.frames_decoded < whole.frames_decoded - seeking.seek_frame // 2
    assert seeking.warnings() == whole.warnings() and seeking.packets == whole.packets
    if name == "gap":
        assert [f[3] for f in got[:3]] == [0, 1, 0]  # the pair across the missing frame is a hole


def test_a_seek_that_does_not_land_on_the_indexed_frame_decodes_from_the_first_frame(clips):
    clip = clips["plain"]
    info = probe_video(clip)
    index = KeyframeIndex.build(clip)
    wrong = dataclasses.replace(index.keyframes[2], pts=index.keyframes[2].pts + 1)  # no frame has this pts
    index.keyframes[2] = wrong
    with FrameReader(clip, info, start_index=20, keyframes=index) as reader:
        frames = [(f.index, f.pts) for f in reader]
    assert frames[0] == (20, index.pts[20]) and len(frames) == FRAMES - 20
    assert reader.seek_frame == 0 and reader.frames_decoded > FRAMES
    assert reader.decode_summary().startswith(f"decoded {reader.frames_decoded} frames from the first frame (the first "
                                              "frame decoded after the seek to frame 16 was not the keyframe's)")


# -- one clip over two workers ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["h264", "hevc", "vfr", "avi"])
def test_two_workers_seeking_give_the_single_device_output(clips, references, tmp_path, name):
    out = tmp_path / "out.mp4"
    logs = on_two_workers(clips[name], out, opts_for(name))
    reference = references[name]
    assert all_packets(out) == all_packets(reference)  # video and audio: pts, dts, bytes
    assert decoded(out) == decoded(reference)
    sharing = next(m for m in logs if m.startswith("sharing "))
    seeks = [m for m in logs if SEEKS.search(m)]
    if name == "avi":
        assert sharing.endswith("each worker decodes from the first frame (clip.avi is avi, which framedeck reads "
                                "from the start)")
        assert not seeks
    else:
        assert "each worker decodes its ranges from the nearest keyframe before them" in sharing
        assert seeks  # some ranges really started at a keyframe
    assert not any("making them again" in m for m in logs)


def test_workers_decode_about_the_clip_once_instead_of_from_the_first_frame_each(clips, references, tmp_path):
    out = tmp_path / "out.mp4"
    logs = on_two_workers(clips["plain"], out, options())
    assert all_packets(out) == all_packets(references["plain"])
    seeks = [tuple(map(int, SEEKS.search(m).groups())) for m in logs if SEEKS.search(m)]
    assert sorted(s[1] for s in seeks) == [8, 16, 24] and all(s[1] == s[2] for s in seeks)
    decoded_by_seekers = sum(s[0] for s in seeks)  # each from its keyframe to (at most) the end
    from_the_start = sum(min(FRAMES, start + SEGMENT + 1) for start in range(8, FRAMES, SEGMENT))  # 74 at least
    assert decoded_by_seekers <= sum(FRAMES - s[1] for s in seeks) == 48 < from_the_start


def test_damage_before_a_seek_point_is_caught_and_the_output_is_still_the_single_devices(clips, references,
                                                                                           tmp_path):
    out = tmp_path / "out.mp4"
    logs = on_two_workers(clips["damaged"], out, options())  # packet 19 does not decode: 31 frames, not 32
    assert all_packets(out) == all_packets(references["damaged"])
    assert decoded(out) == decoded(references["damaged"])
    # the range after the damage either started before a worker recorded the damage (it seeked and
    # is made again before the join) or after (it decodes from the first frame); never joined as it was
    again = [m for m in logs if "making them again, decoding from the first frame" in m]
    seeked_after = [m for m in logs if (found := SEEKS.search(m)) and int(found.group(2)) >= 24]
    assert [m.split(": ")[-1] for m in again] == (["making them again, decoding from the first frame"]
                                                   if seeked_after else [])
    assert all("but the input is damaged before it" in m for m in again)
    assert seeked_after or "the input is damaged: the ranges not started yet decode from the first frame" in logs


@pytest.mark.parametrize("moved", [16, 24])
def test_a_range_numbered_wrongly_is_caught_at_its_boundary_and_made_again(clips, references, tmp_path,
                                                                            monkeypatch, moved):
    """An index that puts a keyframe one frame early (what unseen damage before it would do)
    gives a range whose first frame is not its neighbour's: it is made again from the first
    frame. At the input's end the count comes out short instead: the range's completeness check
    fails, and a range that seeked answers that too by decoding again from the first frame."""
    real = KeyframeIndex.build

    def off_by_one(path):
        index = real(path)
        index.keyframes = [dataclasses.replace(k, index=moved - 1) if k.index == moved else k
                           for k in index.keyframes]
        return index

    monkeypatch.setattr(device_job.KeyframeIndex, "build", staticmethod(off_by_one))
    out = tmp_path / "out.mp4"
    logs = on_two_workers(clips["plain"], out, options())
    assert all_packets(out) == all_packets(references["plain"])
    again = [m for m in logs if "again" in m and "from the first frame" in m]
    if moved == 16:
        assert again == ["pairs 17-24 were decoded from a keyframe but its first frame (pts 8704) is not the one "
                         "decoded from further back (pts 8192): making them again, decoding from the first frame"]
    else:
        assert len(again) == 1 and again[0].startswith("worker ") and again[0].endswith(
            ": pairs 25-31 from a keyframe: The input stream is corrupt at frame 31 of about 32 in plain.mp4 "
            "(the decoder skipped damaged data). Decoding them again from the first frame.")


def test_the_boundary_check_trusts_a_seek_only_with_the_same_frame_and_no_damage_before_it():
    from core.seek_check import first_suspect

    def manifest(first: dict, second: dict) -> dict:
        return {"segments": {"0": {"pair": [0, 11], "seek": 0, **first}, "1": {"seek": 8, "pair": [8, 22], **second}}}

    assert first_suspect(manifest({"next": [8, 22], "damage": 0}, {})) is None
    assert first_suspect(manifest({"next": [8, 22], "damage": 0}, {"seek": 0, "pair": [9, 1]})) is None  # no seek
    assert first_suspect(manifest({"next": [8, 23], "damage": 0}, {})) == (
        1, "its first frame (pts 8) is not the picture decoded there from further back")
    assert first_suspect(manifest({"damage": 0}, {})) == (1, "its first frame has no record to check against")
    assert first_suspect(manifest({"next": [8, 22], "damage": 2}, {})) == (1, "the input is damaged before it")


def test_frames_before_the_keyframe_a_seek_lands_short_of_are_dropped(clips):
    """An index naming frame 20 (not a keyframe) as the seek point: the seek lands on the keyframe
    at frame 16, whose frames 16-19 come out first and are dropped, not numbered."""
    clip = clips["plain"]
    info = probe_video(clip)
    index = KeyframeIndex.build(clip)
    real = next(k for k in index.keyframes if k.index == 16)
    index.keyframes = [k for k in index.keyframes if k.index < 16] + [
        dataclasses.replace(real, index=20, pts=index.pts[20])]
    with FrameReader(clip, info, start_index=20, keyframes=index) as reader:
        handed = list(reader)
    with FrameReader(clip, info, start_index=20) as whole:
        expected = list(whole)
    assert [(f.index, f.pts, f.rgb.tobytes()) for f in handed] == [(f.index, f.pts, f.rgb.tobytes()) for f in expected]
    assert reader.seek_frame == 20 and reader.frames_decoded == FRAMES - 16
