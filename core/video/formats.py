"""Output pixel format and encoder options for each supported encoder."""

from __future__ import annotations

from typing import TYPE_CHECKING

import av

from core.errors import OptionError
from core.video.codecs import NVENC, codec_options
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


def choose_pix_fmt(
    codec: str, requested: str | None, source: VideoInfo, width: int, height: int, notes: list[str]
) -> str:
    """The output pixel format; appends a human sentence to ``notes`` when it deviates from the default.

    ffv1 is lossless end to end: an RGB source stays RGB (bgr0), a YUV source keeps its format.
    The lossy encoders default to yuv420p, and to yuv444p at odd sizes that 4:2:0 cannot hold.
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
    if codec == "ffv1":
        if source.pix_fmt in supported:
            return source.pix_fmt
        if source.is_rgb:
            if source.pix_fmt not in ("gbrp", "rgb24", "bgr24", "rgb0", "0rgb", "0bgr"):
                notes.append(f"ffv1 stores the {source.pix_fmt} input as {FFV1_RGB}")
            return FFV1_RGB
        notes.append(f"ffv1 cannot store {source.pix_fmt}; writing yuv444p")
        return "yuv444p"
    if odd:
        notes.append(
            f"the frame size {width}x{height} is odd and 4:2:0 needs even sizes, so the output is yuv444p at the exact size"
        )
        return "yuv444p"
    return "yuv420p" if "yuv420p" in supported else supported[0]  # ProRes has no 4:2:0


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
