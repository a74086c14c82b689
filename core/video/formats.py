"""Output pixel format and encoder options for each supported encoder."""

from __future__ import annotations

from typing import TYPE_CHECKING

import av

from core.errors import OptionError
from core.video.codecs import NVENC, codec_options
from core.video.planes import planar_layout
from core.video.probe import VideoInfo

if TYPE_CHECKING:
    from core.video.writer import EncoderSettings

DEFAULT_CRF = {"libx264": 18, "libx265": 20}
DEFAULT_PRESET = {"libx264": "medium", "libx265": "medium", "h264_nvenc": "p5", "hevc_nvenc": "p5"}
DEFAULT_NVENC_CQ = 19
FFV1_RGB = "bgr0"  # ffv1's lossless 8-bit RGB format (it has no 8-bit gbrp)


def encoder_formats(codec: str) -> list[str]:
    """Pixel formats the encoder accepts."""
    return [f.name for f in av.codec.Codec(codec, "w").video_formats or ()]


def is_subsampled(pix_fmt: str) -> bool:
    """True when chroma is stored at lower resolution than luma (4:2:0, 4:2:2, ...)."""
    fmt = av.VideoFormat(pix_fmt)
    if fmt.is_rgb or len(fmt.components) < 3:
        return False
    return fmt.chroma_width(2) != 2 or fmt.chroma_height(2) != 2


# semi-planar formats some encoders (NVENC) take instead of the planar ones
_SEMI_PLANAR = {"p010le": "yuv420p10le", "p210le": "yuv422p10le", "nv12": "yuv420p", "nv16": "yuv422p"}
_CHROMA_ORDER = {(2, 2): [(2, 2), (2, 1), (1, 1)], (2, 1): [(2, 1), (1, 1), (2, 2)], (1, 1): [(1, 1), (2, 1), (2, 2)]}
_CHROMA_NAME = {(2, 2): "4:2:0", (2, 1): "4:2:2", (1, 1): "4:4:4"}


def source_depth(source: VideoInfo) -> int:
    """Bits per sample of the input's decoded frames."""
    if source.colour is not None:
        return source.colour.depth
    try:
        return max(c.bits for c in av.VideoFormat(source.pix_fmt).components)
    except (ValueError, av.FFmpegError):
        return 8


def _source_chroma(source: VideoInfo) -> tuple[int, int]:
    layout = planar_layout(source.pix_fmt.replace("yuvj", "yuv"))
    if layout is not None:
        return layout.subsample
    try:
        fmt = av.VideoFormat(source.pix_fmt)
    except (ValueError, av.FFmpegError):
        return (2, 2)
    if fmt.is_rgb:
        return (1, 1)
    return (16 // max(1, fmt.chroma_width(16)), 16 // max(1, fmt.chroma_height(16)))


def best_yuv_format(
    supported: list[str], depth: int, chroma: tuple[int, int], odd: bool
) -> str | None:
    """The encoder's YUV format closest to ``depth`` bits and ``chroma`` subsampling: the same
    depth first (then deeper, then shallower), chroma as close as the codec allows (4:2:2 keeps
    to 4:2:2, then 4:4:4); only 4:4:4 at odd sizes."""
    ranked = []
    for name in supported:
        layout = planar_layout(_SEMI_PLANAR.get(name, name))
        if layout is None or layout.rgb or name.startswith("yuvj"):
            continue
        if odd and layout.subsample != (1, 1):
            continue
        order = _CHROMA_ORDER.get(chroma, _CHROMA_ORDER[(2, 2)])
        if layout.subsample not in order:
            continue
        d = layout.depth
        depth_rank = (0, d - depth) if d >= depth else (1, depth - d)
        planar_first = name in _SEMI_PLANAR  # a planar format beats its semi-planar twin
        ranked.append((depth_rank, order.index(layout.subsample), planar_first, name))
    return min(ranked)[-1] if ranked else None


def choose_pix_fmt(
    codec: str, requested: str | None, source: VideoInfo, width: int, height: int, notes: list[str]
) -> str:
    """The output pixel format; appends a human sentence to ``notes`` when it deviates from the default.

    ffv1 is lossless end to end: an RGB source stays RGB (bgr0), a YUV source keeps its format.
    An input of more than 8 bits per sample keeps its depth (10 bits, 12 where the codec and
    the input have them) and its chroma subsampling where the codec can hold it. Otherwise the
    lossy encoders default to yuv420p, and to yuv444p at odd sizes that 4:2:0 cannot hold.
    """
    supported = encoder_formats(codec)
    odd = width % 2 == 1 or height % 2 == 1
    if requested:
        if requested not in supported:
            raise OptionError(f"The {codec} encoder cannot write pixel format {requested!r}.")
        if odd and codec != "ffv1" and is_subsampled(requested):
            raise OptionError(
                f"Pixel format {requested} cannot hold the odd frame size {width}x{height}; use yuv444p."
            )
        return requested
    depth = source_depth(source)
    if codec == "ffv1":
        if source.pix_fmt in supported:
            return source.pix_fmt
        if source.is_rgb and depth <= 8:
            if source.pix_fmt not in ("gbrp", "rgb24", "bgr24", "rgb0", "0rgb", "0bgr"):
                notes.append(f"ffv1 stores the {source.pix_fmt} input as {FFV1_RGB}")
            return FFV1_RGB
        if source.is_rgb:
            rgb = f"gbrp{depth}le" if depth in (10, 12, 14, 16) else "gbrp16le"
            if rgb in supported:
                notes.append(f"ffv1 stores the {source.pix_fmt} input as {rgb}")
                return rgb
    chroma = _source_chroma(source) if depth > 8 or codec == "ffv1" else (2, 2)
    want = 8 if depth <= 8 else (12 if depth >= 12 else 10)
    chosen = best_yuv_format(supported, want, chroma, odd)
    if chosen is None:  # an encoder with no YUV format framedeck knows: its first one
        chosen = supported[0]
    layout = planar_layout(_SEMI_PLANAR.get(chosen, chosen))
    got_depth = layout.depth if layout else 8
    if codec == "ffv1":
        notes.append(f"ffv1 cannot store {source.pix_fmt}; writing {chosen}")
    elif depth > 8:
        kept = "keeps" if got_depth >= depth or got_depth >= want else "cannot keep"
        notes.append(
            f"the input has {depth} bits per sample ({source.pix_fmt}); {codec} {kept} them: writing {chosen}"
        )
        if layout and layout.subsample != chroma:
            notes.append(
                f"{codec} cannot write {_CHROMA_NAME.get(chroma, 'this')} chroma here; "
                f"it is written as {_CHROMA_NAME.get(layout.subsample, chosen)}"
            )
    elif odd and chosen != "yuv420p":
        notes.append(
            f"the frame size {width}x{height} is odd and 4:2:0 needs even sizes, so the output is {chosen} at the exact size"
        )
    elif chosen != "yuv420p":
        notes.append(f"{codec} cannot write yuv420p; writing {chosen}")
    return chosen


def encoder_options(codec: str, settings: EncoderSettings, notes: list[str]) -> dict[str, str]:
    """libav options for the encoder from the user's settings and framedeck's defaults."""
    chosen = codec_options(codec, settings.crf, settings.preset, notes)  # VP9, AV1, ProRes
    if chosen is not None:
        return chosen
    if codec == "ffv1":
        if settings.crf is not None or settings.preset is not None:
            notes.append("ffv1 is lossless; --crf and --preset are ignored")
        return {"level": "3", "slicecrc": "1", "g": "1"}
    if codec in NVENC:
        cq = settings.crf if settings.crf is not None else DEFAULT_NVENC_CQ
        return {
            "preset": settings.preset or DEFAULT_PRESET[codec],
            "tune": "hq",
            "rc": "vbr",
            "cq": str(cq),
            "b": "0",
        }
    options = {
        "crf": str(settings.crf if settings.crf is not None else DEFAULT_CRF[codec]),
        "preset": settings.preset or DEFAULT_PRESET[codec],
    }
    if codec == "libx265":
        # closed GOPs: every keyframe is an IDR, so each encoded segment starts clean
        options["x265-params"] = "log-level=error:open-gop=0"
    return options
