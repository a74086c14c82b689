"""SegmentedVideoWriter against a single-encoder VideoWriter run on the same frames."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from core.errors import EncodeError
from core.video.colour import colour_of, rgb_to_yuv420
from core.video.planes import frame_from_planes
from core.video.probe import VideoInfo, probe_video
from core.video.segments import SegmentedVideoWriter
from core.video.writer import EncoderSettings, VideoWriter
from tests.clips import moving_frames, psnr, read_frames, write_frames

W, H = 64, 48
TB = Fraction(1, 12800)  # the source's time base; output frames every 256 ticks (50 fps)
STEP = 256
X264 = EncoderSettings(codec="libx264", preset="veryfast")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[VideoInfo, list[np.ndarray]]:
    folder = tmp_path_factory.mktemp("src")
    frames = moving_frames(40, W, H)
    path = write_frames(
        folder / "src.mp4", frames, Fraction(25), "libx264", "yuv420p", audio_seconds=1.6
    )
    info = probe_video(path)
    assert info.time_base == TB and info.audio_streams == 1
    return info, frames


def _encode(writer_cls, output: Path, info: VideoInfo, pictures, settings=X264, **kw) -> Path:
    with writer_cls(
        output,
        width=W,
        height=H,
        time_base=TB,
        rate=Fraction(50),
        settings=settings,
        source=info,
        **kw,
    ) as writer:
        for i, picture in enumerate(pictures):
            writer.write(picture, i * STEP)
        writer.finish(end_pts=len(pictures) * STEP)
    return output


def _doubled(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [frames[i // 2] for i in range(2 * len(frames))]


def _video_packets(path: Path) -> list[tuple[int, int, int, bool]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [
            (p.pts, p.dts, p.duration, p.is_keyframe) for p in container.demux(stream) if p.size
        ]


def _audio_packets(path: Path) -> list[tuple[int, int, bytes]]:
    with av.open(str(path)) as container:
        return [(p.pts, p.duration, bytes(p)) for p in container.demux(audio=0) if p.size]


def _frame_pts(path: Path) -> list[int]:
    with av.open(str(path)) as container:
        return [f.pts for f in container.decode(video=0)]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_segments_match_single_encoder_frames_timestamps_and_audio(
    source, tmp_path, suffix
) -> None:
    info, frames = source
    pictures = _doubled(frames)  # 80 frames: 5 segments of 16
    single = _encode(VideoWriter, tmp_path / f"single{suffix}", info, pictures)
    joined = _encode(
        SegmentedVideoWriter,
        tmp_path / f"joined{suffix}",
        info,
        pictures,
        segment_frames=16,
        workers=3,
    )
    assert _frame_pts(joined) == _frame_pts(single)
    pts = _frame_pts(joined)
    assert len(pts) == 80 and len(set(np.diff(pts))) == 1  # continuous, one frame per step
    a, b = _video_packets(single), _video_packets(joined)
    assert sorted((p, d) for p, _, d, _ in a) == sorted((p, d) for p, _, d, _ in b)
    dts = [d for _, d, _, _ in b if d is not None]  # Matroska stores no dts for B-frames
    assert all(later > earlier for earlier, later in itertools.pairwise(dts))
    if suffix == ".mp4":  # decode order stamped exactly as the single encoder did
        assert [d for _, d, _, _ in a] == [d for _, d, _, _ in b]
    keys = sorted(p for p, _, _, key in b if key)
    starts = [pts[i] for i in range(0, 80, 16)]
    assert set(starts) <= set(keys)  # every segment starts with a keyframe
    assert _audio_packets(joined) == _audio_packets(single)
    source_audio = _audio_packets(Path(info.path))
    assert [p for _, _, p in _audio_packets(joined)] == [p for _, _, p in source_audio]
    if suffix == ".mp4":  # same time base as the source: the very same timestamps
        assert _audio_packets(joined) == source_audio
    out = probe_video(joined)
    assert (out.frame_count in (None, 80)) and out.fps == 50 and out.audio_streams == 1


def test_joined_file_decodes_from_every_keyframe(source, tmp_path) -> None:
    info, frames = source
    pictures = _doubled(frames)
    joined = _encode(
        SegmentedVideoWriter, tmp_path / "j.mp4", info, pictures, segment_frames=12, workers=2
    )
    pts = _frame_pts(joined)
    keys = sorted(p for p, _, _, key in _video_packets(joined) if key)
    assert len(keys) >= 7  # ceil(80 / 12) segments
    for key in keys:
        with av.open(str(joined)) as container:
            stream = container.streams.video[0]
            container.seek(key, stream=stream, backward=True, any_frame=False)
            got = [f.pts for f in container.decode(stream)]
        assert got == [p for p in pts if p >= key]
    decoded, _ = read_frames(joined)
    single, _ = read_frames(_encode(VideoWriter, tmp_path / "s.mp4", info, pictures))
    quality = [psnr(d, p) for d, p in zip(decoded, pictures, strict=True)]
    reference = [psnr(d, p) for d, p in zip(single, pictures, strict=True)]
    assert min(quality) > min(reference) - 1.5 and np.mean(quality) > np.mean(reference) - 0.5


def test_uneven_tail_single_segment_and_one_worker(source, tmp_path) -> None:
    info, frames = source
    for n, seg, workers in ((23, 8, 2), (5, 16, 4), (17, 4, 1)):
        out = _encode(
            SegmentedVideoWriter,
            tmp_path / f"t{n}.mp4",
            info,
            frames[:n],
            segment_frames=seg,
            workers=workers,
        )
        assert _frame_pts(out) == [i * STEP for i in range(n)]
        packets = _video_packets(out)
        assert len(packets) == n and all(d == STEP for _, _, d, _ in packets)


def test_ffv1_segments_are_lossless_and_take_yuv_frames_as_is(tmp_path) -> None:
    frames = moving_frames(20, W, H, seed=2)
    src = write_frames(tmp_path / "rgb.mkv", frames, Fraction(25))
    info = probe_video(src)
    out = _encode(
        SegmentedVideoWriter,
        tmp_path / "out.mkv",
        info,
        frames,
        EncoderSettings(codec="ffv1"),
        segment_frames=6,
        workers=2,
    )
    decoded, _ = read_frames(out)
    assert len(decoded) == 20 and all(
        np.array_equal(a, b) for a, b in zip(decoded, frames, strict=True)
    )

    # device-path output: RGB -> yuv420p planes in torch -> frames handed over unchanged
    yuv_src = write_frames(tmp_path / "yuv.mkv", frames, Fraction(25), "ffv1", "yuv420p")
    yuv_info = probe_video(yuv_src)
    spec = colour_of(av.open(str(yuv_src)).streams.video[0])
    planes = [
        [
            p.numpy()
            for p in rgb_to_yuv420(torch.from_numpy(f).permute(2, 0, 1), spec.matrix, spec.range)
        ]
        for f in frames
    ]
    pictures = [frame_from_planes(p, "yuv420p", spec) for p in planes]
    out = _encode(
        SegmentedVideoWriter,
        tmp_path / "planes.mkv",
        yuv_info,
        pictures,
        EncoderSettings(codec="ffv1"),
        segment_frames=8,
        workers=2,
    )
    with av.open(str(out)) as container:
        got = [
            [
                np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width]
                for p in f.planes
            ]
            for f in container.decode(video=0)
        ]
    assert len(got) == 20
    assert all(
        np.array_equal(a, b)
        for g, p in zip(got, planes, strict=True)
        for a, b in zip(g, p, strict=True)
    )


def test_fault_in_an_encoder_thread_fails_cleanly(source, tmp_path) -> None:
    info, frames = source

    def fault(index: int) -> None:
        if index == 21:
            raise EncodeError("Injected encoder failure at frame 21.")

    output = tmp_path / "f.mp4"
    with pytest.raises(EncodeError, match="frame 21"):
        _encode(
            SegmentedVideoWriter,
            output,
            info,
            _doubled(frames),
            segment_frames=8,
            workers=2,
            fault=fault,
        )
    assert list(tmp_path.iterdir()) == []


def test_abort_leaves_nothing_and_keeps_existing_destination(source, tmp_path) -> None:
    info, frames = source
    output = tmp_path / "keep.mp4"
    output.write_bytes(b"old")
    with (
        pytest.raises(RuntimeError, match="stop"),
        SegmentedVideoWriter(
            output,
            width=W,
            height=H,
            time_base=TB,
            rate=Fraction(50),
            settings=X264,
            source=info,
            segment_frames=4,
            workers=2,
        ) as writer,
    ):
        for i, frame in enumerate(frames[:10]):
            writer.write(frame, i * STEP)
        raise RuntimeError("stop")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.mp4"]
    assert output.read_bytes() == b"old"


def test_same_frame_object_written_many_times(source, tmp_path) -> None:
    info, frames = source
    still = av.VideoFrame.from_ndarray(frames[0], format="rgb24").reformat(format="yuv420p")
    moving = [
        av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p") for f in frames[:3]
    ]
    pictures = [still] * 12 + [moving[i % 3] for i in range(24)]  # shared objects in flight at once
    out = _encode(
        SegmentedVideoWriter, tmp_path / "same.mp4", info, pictures, segment_frames=4, workers=3
    )
    assert _frame_pts(out) == [i * STEP for i in range(36)]
    decoded, _ = read_frames(out)
    for index, expected in ((5, 0), (12, 0), (13, 1), (35, 2)):
        scores = [psnr(decoded[index], frames[k]) for k in range(3)]
        assert int(np.argmax(scores)) == expected


@pytest.mark.parametrize("pix_fmt", ["bgr0", "yuv420p"])
def test_a_source_frame_held_in_several_segments_is_copied_in_its_own_format(tmp_path, pix_fmt) -> None:
    """ffv1 takes decoded frames as they are; one still frame object in flight in several
    segments at once is copied, whatever its format (bgr0 has no ndarray conversion)."""
    frames = moving_frames(3, W, H, seed=4)
    src = write_frames(tmp_path / "src.mkv", frames, Fraction(25), "ffv1", pix_fmt)
    info = probe_video(src)
    with av.open(str(src)) as container:
        decoded = list(container.decode(video=0))
    pictures = [decoded[0]] * 9 + [decoded[1], decoded[2]]
    out = _encode(SegmentedVideoWriter, tmp_path / "out.mkv", info, pictures,
                  EncoderSettings(codec="ffv1"), segment_frames=2, workers=3)
    got, _ = read_frames(out)
    want = [p.to_ndarray(format="rgb24") for p in pictures]
    assert len(got) == 11 and all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
