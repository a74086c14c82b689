"""Video I/O with real PyAV: probing, threaded decoding, threaded encoding, audio copy, rotation."""

from __future__ import annotations

import os
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from core.errors import DecodeError, EncodeError, InputError, OptionError, OutputError
from core.job import run_job
from core.options import JobOptions
from core.video.codecs import available_encoders, resolve_codec
from core.video.probe import VideoInfo, probe_video
from core.video.reader import FrameReader
from core.video.segments import SegmentedVideoWriter
from core.video.writer import EncoderSettings, VideoWriter
from tests.clips import moving_frames, write_audio_only, write_frames
from tests.conftest import shared_path

W, H = 64, 48


# -- clip makers ---------------------------------------------------------------------------


def noise_frames(n: int, width: int = W, height: int = H, seed: int = 1) -> list[np.ndarray]:
    """Incompressible frames, so the mdat is large and corruption lands inside it."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(n)]


def rotated_clip(path: Path, degrees: int, n: int = 6) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.set_display_rotation(degrees)
        for i, rgb in enumerate(moving_frames(n)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def undecodable_clip(path: Path) -> Path:
    """A Matroska file with an ffv1 video stream whose packets are garbage."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        out.start_encoding()
        for i in range(3):
            packet = av.Packet(bytes(range(256)) * 4)
            packet.stream = stream
            packet.pts = packet.dts = i
            packet.time_base = Fraction(1, 24)
            out.mux(packet)
    return path


def audio_packets(path: Path) -> list[tuple[int | None, int | None, int, bytes]]:
    with av.open(str(path)) as container:
        return [
            (p.pts, p.dts, p.size, bytes(p)) for p in container.demux(audio=0) if p.size
        ]


def video_packets(path: Path) -> list[tuple[int, int]]:
    """(pts, duration) of every video packet in presentation order, in the stream's time base."""
    with av.open(str(path)) as container:
        return sorted((p.pts, p.duration) for p in container.demux(video=0) if p.size)


def decoded(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def copy_video(
    src: Path,
    out: Path,
    settings: EncoderSettings,
    passthrough: bool = False,
    rate: Fraction | None = None,
) -> VideoWriter:
    """Decode ``src`` with FrameReader and re-encode every frame with VideoWriter."""
    info = probe_video(src)
    with (
        FrameReader(src, info) as reader,
        VideoWriter(
            out,
            width=info.width,
            height=info.height,
            time_base=info.time_base,
            rate=rate or info.fps,
            settings=settings,
            source=info,
        ) as writer,
    ):
        for frame in reader:
            writer.write(frame.source if passthrough else frame.rgb, frame.pts)
        writer.finish()
    return writer


@pytest.fixture
def h264_clip(tmp_path: Path) -> Path:
    return write_frames(
        tmp_path / "h264.mp4", moving_frames(20), fps=Fraction(24), codec="libx264", pix_fmt="yuv420p", audio_seconds=1.0
    )


# -- probe -----------------------------------------------------------------------------------


def test_probe_facts_of_a_small_clip_with_audio(h264_clip: Path) -> None:
    info = probe_video(h264_clip)
    assert (info.width, info.height) == (W, H)
    assert info.fps == 24
    assert info.frame_count == 20
    assert info.duration == pytest.approx(20 / 24, abs=1e-3)
    assert info.codec == "h264"
    assert info.pix_fmt == "yuv420p" and not info.is_rgb
    assert info.rotation == 0
    assert info.audio_streams == 1
    assert info.time_base > 0 and info.path == str(h264_clip)


def test_probe_rgb_ffv1_odd_size_and_rotation(tmp_path: Path) -> None:
    rgb = probe_video(write_frames(tmp_path / "rgb.mkv", moving_frames(5), codec="ffv1", pix_fmt="bgr0"))
    assert rgb.codec == "ffv1" and rgb.pix_fmt == "bgr0" and rgb.is_rgb
    assert rgb.frame_count is None and rgb.duration == pytest.approx(5 / 24, abs=2e-3)
    odd = probe_video(write_frames(tmp_path / "odd.mkv", moving_frames(5, 33, 17), codec="ffv1", pix_fmt="yuv444p"))
    assert (odd.width, odd.height) == (33, 17)
    assert probe_video(rotated_clip(tmp_path / "rot.mp4", 90)).rotation == 90


def test_probe_shared_carphone_clip() -> None:
    info = probe_video(shared_path("media/clips/carphone_176x144_2997fps.mp4"))
    assert (info.width, info.height) == (176, 144)
    assert info.fps == Fraction(30000, 1001)
    assert info.frame_count == 120
    assert info.codec == "h264" and info.audio_streams == 0


def test_probe_shared_bigbuckbunny_has_audio() -> None:
    info = probe_video(shared_path("media/clips/bigbuckbunny_1280x720_25fps.mp4"))
    assert (info.width, info.height, info.fps, info.frame_count) == (1280, 720, 25, 132)
    assert info.audio_streams == 1


BAD_INPUTS = {
    "missing": (lambda d: d / "nope.mp4", "does not exist"),
    "folder": (lambda d: d, "is a folder"),
    "text": (lambda d: _write(d / "notes.mp4", b"hello, not a video\n" * 50), "not a video file"),
    "random bytes": (lambda d: _write(d / "noise.mkv", np.random.default_rng(3).bytes(20000)), "not a video file"),
    "audio only": (lambda d: write_audio_only(d / "tone.m4a"), "only audio"),
    "zero frames": (lambda d: undecodable_clip(d / "garbage.mkv"), "video stream of"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_probe_bad_input_is_one_sentence(case: str, tmp_path: Path) -> None:
    make, phrase = BAD_INPUTS[case]
    with pytest.raises(InputError) as caught:
        probe_video(make(tmp_path))
    message = str(caught.value)
    assert phrase in message
    assert "\n" not in message and message.endswith(".")
    assert message.count(". ") == 0


# -- reader ------------------------------------------------------------------------------------


def test_reader_order_pts_time_and_rgb(tmp_path: Path) -> None:
    frames = moving_frames(12)
    pts = [0, 3, 4, 9, 10, 11, 20, 21, 22, 30, 31, 40]
    src = write_frames(tmp_path / "vfr.mkv", frames, codec="ffv1", pix_fmt="bgr0", pts=pts, time_base=Fraction(1, 1000))
    info = probe_video(src)
    with FrameReader(src, info, queue_size=2) as reader:
        got = list(reader)
    assert [f.index for f in got] == list(range(12))
    assert [f.pts for f in got] == pts
    assert [f.time for f in got] == [Fraction(p, 1000) for p in pts]
    for frame, want in zip(got, frames, strict=True):
        assert frame.rgb.shape == (H, W, 3) and frame.rgb.dtype == np.uint8
        assert frame.rgb.flags["C_CONTIGUOUS"]
        np.testing.assert_array_equal(frame.rgb, want)  # bgr0 ffv1 is lossless
        assert isinstance(frame.source, av.VideoFrame)
    assert reader.dropped == 0 and reader.decode_seconds > 0


def test_reader_drops_non_increasing_pts(tmp_path: Path) -> None:
    frames = moving_frames(6)
    src = write_frames(
        tmp_path / "dup.mkv", frames, codec="ffv1", pix_fmt="bgr0", pts=[0, 40, 40, 80, 120, 120], time_base=Fraction(1, 1000)
    )
    info = probe_video(src)
    with FrameReader(src, info) as reader:
        got = list(reader)
    assert [f.pts for f in got] == [0, 40, 80, 120]
    assert [f.index for f in got] == [0, 1, 2, 3]
    assert reader.dropped == 2
    np.testing.assert_array_equal(got[2].rgb, frames[3])


def _corrupt_middle(src: Path) -> None:
    data = bytearray(src.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4000] = np.random.default_rng(7).bytes(4000)
    src.write_bytes(bytes(data))


def test_reader_damage_mid_stream_is_skipped_and_reported_or_refused_when_strict(tmp_path: Path) -> None:
    """Packets that do not decode are skipped, the hole is reported with its times; --strict refuses."""
    src = write_frames(tmp_path / "in.mp4", noise_frames(40), codec="libx264", pix_fmt="yuv420p")
    _corrupt_middle(src)
    info = probe_video(src)  # the header and the first frame are intact
    with FrameReader(src, info) as reader:
        got = list(reader)
    assert 30 <= len(got) < 40
    holes = [f for f in got if f.missing_before]
    assert holes and reader.report.skipped
    assert sum(f.missing_before for f in holes) == 40 - len(got)
    warnings = reader.warnings()
    assert any("missing in 1 gap" in w or "gap(s) at" in w for w in warnings), warnings
    assert any("did not decode and were skipped" in w for w in warnings), warnings
    seen = []
    with pytest.raises(DecodeError) as caught, FrameReader(src, info, strict=True) as reader:
        seen.extend(f.index for f in reader)
    message = str(caught.value)
    assert "damaged near frame" in message and "--strict" in message and "\n" not in message
    at = int(message.split("near frame ")[1].split()[0])
    assert 5 < at < 35 and len(seen) <= at


def test_reader_mkv_the_demuxer_gives_up_on_is_an_error(tmp_path: Path) -> None:
    """Overwritten bytes that make the Matroska demuxer stop half way: the rest is unread, a failure."""
    src = write_frames(tmp_path / "in.mkv", noise_frames(40), codec="libx264", pix_fmt="yuv420p")
    _corrupt_middle(src)
    info = probe_video(src)
    with pytest.raises(DecodeError, match=r"corrupt at frame \d+ of about 40 .*unread"), FrameReader(src, info) as r:
        for _ in r:
            pass


def test_reader_truncated_file_is_an_error_not_a_short_stream(tmp_path: Path) -> None:
    src = write_frames(tmp_path / "cut.mkv", noise_frames(30), codec="ffv1", pix_fmt="yuv420p")
    data = src.read_bytes()
    src.write_bytes(data[: len(data) * 2 // 3])
    info = probe_video(src)
    with pytest.raises(DecodeError, match=r"corrupt at frame \d+ of about 30"), FrameReader(src, info) as reader:
        for _ in reader:
            pass


def test_reader_fault_hook_reaches_the_consumer(h264_clip: Path) -> None:
    def fault(index: int) -> None:
        if index == 5:
            raise DecodeError("injected fault at frame 5.")

    info = probe_video(h264_clip)
    seen = []
    with pytest.raises(DecodeError, match="injected fault at frame 5"), FrameReader(h264_clip, info, fault=fault) as r:
        seen.extend(f.index for f in r)
    assert seen == [0, 1, 2, 3, 4]


def test_reader_early_close_does_not_hang(tmp_path: Path) -> None:
    src = write_frames(tmp_path / "long.mkv", moving_frames(40), codec="ffv1", pix_fmt="bgr0")
    info = probe_video(src)
    reader = FrameReader(src, info, queue_size=2)
    with reader:
        first = next(iter(reader))
    assert first.index == 0
    assert reader._thread is not None and not reader._thread.is_alive()
    assert not any(t.name == "framedeck-decode" for t in threading.enumerate())


# -- codecs ------------------------------------------------------------------------------------


def test_codec_resolution_and_availability() -> None:
    available = available_encoders()
    assert set(available) == {
        "libx264", "libx265", "h264_nvenc", "hevc_nvenc", "ffv1", "libvpx-vp9", "libsvtav1", "prores_ks"
    }
    assert available["libx264"] and available["ffv1"]
    assert available["libvpx-vp9"] and available["libsvtav1"] and available["prores_ks"]  # in the PyAV wheel
    assert resolve_codec("auto") == ("h264_nvenc" if available["h264_nvenc"] else "libx264")
    assert resolve_codec("ffv1") == "ffv1"
    assert resolve_codec("vp9") == "libvpx-vp9" and resolve_codec("prores") == "prores_ks"
    with pytest.raises(OptionError, match="Unknown codec 'theora'"):
        resolve_codec("theora")
    if not available["hevc_nvenc"]:
        with pytest.raises(OptionError, match="does not open on this machine"):
            resolve_codec("hevc_nvenc")


# -- writer ------------------------------------------------------------------------------------


def test_writer_frame_count_pts_duration_and_rate(tmp_path: Path) -> None:
    frames = moving_frames(10)
    out = tmp_path / "out.mp4"
    info = probe_video(write_frames(tmp_path / "src.mkv", frames, codec="ffv1", pix_fmt="bgr0"))
    time_base = Fraction(1, 960)
    with VideoWriter(
        out, width=W, height=H, time_base=time_base, rate=Fraction(48), settings=EncoderSettings("libx264"), source=info
    ) as writer:
        for i in range(20):
            writer.write(frames[i // 2], i * 20)
        writer.finish()
    assert writer.codec_name == "libx264" and writer.pix_fmt == "yuv420p"
    assert writer.frames_written == 20
    packets = video_packets(out)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        scale = Fraction(stream.time_base) / time_base
        assert stream.average_rate == 48
        assert stream.frames == 20
        assert float(stream.duration * stream.time_base) == pytest.approx(20 / 48)
    assert [p * scale for p, _ in packets] == [i * 20 for i in range(20)]
    assert all(d * scale == 20 for _, d in packets)
    assert sorted(os.listdir(tmp_path)) == ["out.mp4", "src.mkv"]


def test_writer_last_frame_duration_from_end_pts(tmp_path: Path) -> None:
    frames = moving_frames(3)
    info = probe_video(write_frames(tmp_path / "src.mkv", frames, codec="ffv1", pix_fmt="bgr0"))
    out = tmp_path / "out.mkv"
    with VideoWriter(
        out, width=W, height=H, time_base=Fraction(1, 1000), rate=Fraction(24), settings=EncoderSettings("ffv1"), source=info
    ) as writer:
        for i, rgb in enumerate(frames):
            writer.write(rgb, i * 40)
        writer.finish(end_pts=200)
    assert video_packets(out) == [(0, 40), (40, 40), (80, 120)]


def test_ffv1_rgb_round_trip_is_bit_exact(tmp_path: Path) -> None:
    frames = noise_frames(6)
    src = write_frames(tmp_path / "rgb.mkv", frames, codec="ffv1", pix_fmt="bgr0")
    writer = copy_video(src, tmp_path / "out.mkv", EncoderSettings("ffv1"))
    assert writer.pix_fmt == "bgr0"
    got = decoded(tmp_path / "out.mkv")
    assert [f.format.name for f in got] == ["bgr0"] * 6
    for frame, want in zip(got, frames, strict=True):
        np.testing.assert_array_equal(frame.to_ndarray(format="rgb24"), want)


def test_ffv1_yuv_passthrough_is_bit_exact(tmp_path: Path) -> None:
    src = write_frames(tmp_path / "yuv.mp4", noise_frames(8), codec="libx264", pix_fmt="yuv420p")
    writer = copy_video(src, tmp_path / "out.mkv", EncoderSettings("ffv1"), passthrough=True)
    assert writer.pix_fmt == "yuv420p"
    want, got = decoded(src), decoded(tmp_path / "out.mkv")
    assert len(got) == len(want) == 8
    for a, b in zip(got, want, strict=True):
        assert a.format.name == "yuv420p"
        for plane in range(3):
            np.testing.assert_array_equal(np.asarray(a.planes[plane]), np.asarray(b.planes[plane]))


def test_audio_is_copied_packet_for_packet(h264_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    copy_video(h264_clip, out, EncoderSettings("libx264"), rate=Fraction(48))
    source, copied = audio_packets(h264_clip), audio_packets(out)
    assert len(copied) == len(source) > 40
    assert copied == source  # same timestamps, same bytes
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        order = [p.stream.type for p in container.demux() if p.size]
    first_video = order.index("video")
    assert "audio" in order[first_video : first_video + 10]  # interleaved, not appended at the end


def test_pcm_audio_is_reencoded_when_the_container_refuses_it(tmp_path: Path) -> None:
    src = tmp_path / "pcm.mkv"
    with av.open(str(src), "w") as out:
        video = out.add_stream("ffv1", rate=24)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        audio = out.add_stream("pcm_s16le", rate=8000)
        audio.layout = "mono"
        for i, rgb in enumerate(moving_frames(6)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 333), np.int16), format="s16", layout="mono")
            samples.sample_rate, samples.pts = 8000, i * 333
            out.mux(audio.encode(samples))
        out.mux(video.encode())
        out.mux(audio.encode())
    out_path = tmp_path / "out.f4v"
    info = probe_video(src)
    with (
        FrameReader(src, info) as reader,
        VideoWriter(
            out_path, width=W, height=H, time_base=info.time_base, rate=info.fps,
            settings=EncoderSettings("libx264"), source=info,
        ) as writer,
    ):
        for frame in reader:
            writer.write(frame.rgb, frame.pts)
        writer.finish()
    assert any("re-encoding" in note for note in writer.notes)
    with av.open(str(out_path)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        assert container.streams.video[0].codec_context.name == "h264"


def test_rotation_is_kept(tmp_path: Path) -> None:
    src = rotated_clip(tmp_path / "rot.mp4", 90)
    copy_video(src, tmp_path / "out.mp4", EncoderSettings("libx264"))
    copy_video(src, tmp_path / "out.mkv", EncoderSettings("ffv1"), passthrough=True)
    assert probe_video(tmp_path / "out.mp4").rotation == 90
    assert probe_video(tmp_path / "out.mkv").rotation == 90


def _bt709_clip(path: Path, color_range: int, frames: list[np.ndarray]) -> Path:
    """A lossless H.264 clip tagged BT.709 with ``color_range`` (1 limited, 2 full), pixels to match."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24, options={"crf": "0"})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.colorspace, stream.codec_context.color_range = 1, color_range
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="itu709", dst_color_range="JPEG" if color_range == 2 else "MPEG"
            )
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def _tags_and_rgb(path: Path) -> tuple[tuple[int, int], np.ndarray]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rgb = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)]).astype(np.int16)
        return (stream.codec_context.colorspace, stream.codec_context.color_range), rgb


@pytest.mark.parametrize("color_range", [1, 2])
@pytest.mark.parametrize("segmented", [False, True])
def test_source_colour_tags_round_trip(color_range: int, segmented: bool, tmp_path: Path) -> None:
    """A BT.709 source comes out tagged BT.709 with its range, and its RGB frames are converted
    with that matrix, so the output decodes to the source's colours (BT.601 pixels under a
    BT.709 tag are off by tens of levels on these saturated frames)."""
    src = _bt709_clip(tmp_path / "src.mp4", color_range, moving_frames(6))
    info = probe_video(src)
    writer_class = SegmentedVideoWriter if segmented else VideoWriter
    extra = {"segment_frames": 2, "workers": 2} if segmented else {}
    out = tmp_path / "out.mp4"
    with FrameReader(src, info) as reader, writer_class(
        out, width=W, height=H, time_base=info.time_base, rate=info.fps,
        settings=EncoderSettings("libx264", crf=0), source=info, **extra,
    ) as writer:
        for frame in reader:
            writer.write(frame.rgb, frame.pts)
        writer.finish()
    src_tags, src_rgb = _tags_and_rgb(src)
    out_tags, out_rgb = _tags_and_rgb(out)
    assert src_tags == (1, color_range)
    assert out_tags == src_tags
    error = np.abs(out_rgb - src_rgb)  # only 4:2:0 chroma resampling remains
    assert float(error.mean()) < 2.5 and int(error.max()) <= 16


def test_untagged_source_gives_untagged_output(h264_clip: Path, tmp_path: Path) -> None:
    copy_video(h264_clip, tmp_path / "out.mp4", EncoderSettings("libx264"))
    assert _tags_and_rgb(h264_clip)[0] == _tags_and_rgb(tmp_path / "out.mp4")[0] == (2, 0)


def test_odd_size_is_kept_with_yuv444(tmp_path: Path) -> None:
    frames = moving_frames(5, 33, 17)
    src = write_frames(tmp_path / "odd.mkv", frames, codec="ffv1", pix_fmt="bgr0")
    writer = copy_video(src, tmp_path / "out.mp4", EncoderSettings("libx264", crf=0))
    assert writer.pix_fmt == "yuv444p" and any("odd" in note for note in writer.notes)
    info = probe_video(tmp_path / "out.mp4")
    assert (info.width, info.height, info.frame_count, info.pix_fmt) == (33, 17, 5, "yuv444p")
    with pytest.raises(OptionError, match="odd frame size 33x17"):
        VideoWriter(
            tmp_path / "x.mp4", width=33, height=17, time_base=Fraction(1, 24), rate=Fraction(24),
            settings=EncoderSettings("libx264", pix_fmt="yuv420p"), source=info,
        )


def test_abort_leaves_nothing(h264_clip: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    info = probe_video(h264_clip)
    with pytest.raises(RuntimeError, match="consumer failed"), VideoWriter(
        out_dir / "o.mp4", width=W, height=H, time_base=info.time_base, rate=info.fps,
        settings=EncoderSettings("libx264"), source=info, queue_size=2,
    ) as writer:
        for i, rgb in enumerate(moving_frames(10)):
            writer.write(rgb, i * 512)
        assert writer.temp_path is not None and writer.temp_path.parent == out_dir
        assert writer.temp_path.name.startswith(".") and writer.temp_path.suffix == ".mp4"
        raise RuntimeError("consumer failed")
    assert list(out_dir.iterdir()) == []
    assert not any(t.name == "framedeck-encode" and t.is_alive() for t in threading.enumerate())


def test_abort_keeps_an_existing_destination(h264_clip: Path, tmp_path: Path) -> None:
    dest = tmp_path / "keep.mp4"
    dest.write_bytes(b"previous result")
    info = probe_video(h264_clip)
    writer = VideoWriter(
        dest, width=W, height=H, time_base=info.time_base, rate=info.fps, settings=EncoderSettings("libx264"), source=info
    )
    with writer:
        writer.write(moving_frames(1)[0], 0)
        writer.abort()
    assert dest.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h264.mp4", "keep.mp4"]


def _writer(out: Path, info: VideoInfo, **settings: object) -> VideoWriter:
    return VideoWriter(
        out, width=info.width, height=info.height, time_base=info.time_base, rate=info.fps,
        settings=EncoderSettings(**settings), source=info,  # type: ignore[arg-type]
    )


def test_output_errors(h264_clip: Path, tmp_path: Path) -> None:
    info = probe_video(h264_clip)
    cases = {
        tmp_path / "missing" / "o.mp4": "does not exist",
        h264_clip: "is the input file",
        tmp_path / "." / h264_clip.name: "is the input file",
        tmp_path: "is a folder",
        tmp_path / "noext": "no extension",
    }
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        cases[locked / "o.mp4"] = "not writable"
    for out, phrase in cases.items():
        with pytest.raises(OutputError, match=phrase), _writer(out, info):
            pass
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["h264.mp4"]


def test_unwritable_folder_is_an_output_error(h264_clip: Path, tmp_path: Path, monkeypatch) -> None:
    """Running as root makes chmod meaningless, so the permission answer is injected."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == locked else real_access(p, mode))
    with pytest.raises(OutputError, match=r"output folder .*locked is not writable\."), _writer(
        locked / "o.mp4", probe_video(h264_clip)
    ):
        pass
    assert list(locked.iterdir()) == []


def test_reader_extrapolates_missing_pts(tmp_path: Path) -> None:
    """A raw H.264 elementary stream has no timestamps at all."""
    src = write_frames(tmp_path / "raw.h264", moving_frames(8), codec="libx264", pix_fmt="yuv420p")
    with av.open(str(src)) as container:
        assert all(f.pts is None for f in container.decode(video=0))
    info = probe_video(src)
    with FrameReader(src, info) as reader:
        got = list(reader)
    assert len(got) == 8 and reader.dropped == 0
    step = got[1].pts - got[0].pts
    assert step > 0
    assert [f.pts for f in got] == [i * step for i in range(8)]
    assert [f.time for f in got] == [f.pts * info.time_base for f in got]


def test_raw_stream_rate_comes_from_the_codec_not_the_demuxer_default(tmp_path: Path) -> None:
    """The raw H.264 demuxer says 25 fps for every file; the SPS timing says 23.976."""
    fps = Fraction(24000, 1001)
    src = write_frames(tmp_path / "raw.h264", moving_frames(12), fps=fps, codec="libx264", pix_fmt="yuv420p")
    with av.open(str(src)) as container:
        assert container.streams.video[0].average_rate == 25  # the demuxer's default, not the file's
    info = probe_video(src)
    assert info.fps == fps
    out = tmp_path / "out.mp4"
    run_job(src, out, JobOptions(factor=2, model="blend"))
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == 2 * fps
        frames = list(container.decode(stream))
    assert len(frames) == 24
    assert float(frames[-1].time + 1 / (2 * fps)) == pytest.approx(12 / float(fps), abs=1e-3)


def test_writer_failure_surfaces_as_encode_error_and_leaves_nothing(h264_clip: Path, tmp_path: Path) -> None:
    def fault(index: int) -> None:
        if index == 3:
            raise EncodeError("injected encoder fault at frame 3.")

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    info = probe_video(h264_clip)
    with pytest.raises(EncodeError, match="injected encoder fault"), VideoWriter(
        out_dir / "o.mp4", width=W, height=H, time_base=info.time_base, rate=info.fps,
        settings=EncoderSettings("libx264"), source=info, queue_size=1, fault=fault,
    ) as writer:
        for i, rgb in enumerate(moving_frames(30)):
            writer.write(rgb, i * 512)
        writer.finish()
    assert list(out_dir.iterdir()) == []


def test_reader_truncated_faststart_mp4_is_an_error(tmp_path: Path) -> None:
    """With the index at the front, a cut mp4 still opens; the header's frame count exposes the cut."""
    src = tmp_path / "fast.mp4"
    with av.open(str(src), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i, rgb in enumerate(noise_frames(30)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    info = probe_video(src)
    assert info.frame_count == 30
    with pytest.raises(DecodeError, match=r"corrupt at frame \d+ of about 30"), FrameReader(src, info) as reader:
        for _ in reader:
            pass
