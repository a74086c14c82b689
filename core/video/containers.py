"""Which container each output extension means, and which video codec goes into it by default.

=========  ===========  =============================================  ==================
extension  container    video codecs (first: the default for "auto")   audio it holds
=========  ===========  =============================================  ==================
.mp4       mp4          H.264 (NVENC or libx264), HEVC, AV1, VP9, FFV1   AAC, Opus, MP3, ...
.mov       mov          H.264, HEVC, ProRes                              AAC, PCM, ...
.mkv       matroska     anything framedeck encodes                       anything
.webm      webm         VP9 (libvpx-vp9), AV1 (libsvtav1)                Opus, Vorbis
.avi       avi          H.264, FFV1 (constant rate, time base 1/fps)     AAC, MP3, PCM
=========  ===========  =============================================  ==================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import OptionError
from core.video.codecs import encoder_opens, resolve_codec


@dataclass(frozen=True)
class Container:
    """An output container framedeck writes."""

    format: str  # libavformat muxer
    codecs: tuple[str, ...]  # encoders it may hold; the first available is "auto"
    constant_rate: bool = False  # the container stores one frame per tick of 1/fps (AVI)
    start_at_zero: bool = False  # shift all streams so the earliest starts at 0 (no empty edit)
    no_reordering: bool = False  # no B-frames: the container stores no presentation timestamps


_H264 = ("h264_nvenc", "libx264")
CONTAINERS: dict[str, Container] = {
    ".mp4": Container("mp4", (*_H264, "libx265", "hevc_nvenc", "libsvtav1", "libvpx-vp9", "ffv1"), start_at_zero=True),
    ".m4v": Container("mp4", (*_H264, "libx265", "hevc_nvenc"), start_at_zero=True),
    ".mov": Container("mov", (*_H264, "libx265", "hevc_nvenc", "prores_ks"), start_at_zero=True),
    ".mkv": Container("matroska", (*_H264, "libx265", "hevc_nvenc", "ffv1", "libvpx-vp9", "libsvtav1", "prores_ks")),
    ".webm": Container("webm", ("libvpx-vp9", "libsvtav1")),
    ".avi": Container("avi", (*_H264, "ffv1"), constant_rate=True, start_at_zero=True, no_reordering=True),
}
_NAMES = {"libvpx-vp9": "VP9", "libsvtav1": "AV1", "prores_ks": "ProRes", "ffv1": "FFV1", "libx264": "H.264",
          "h264_nvenc": "H.264", "libx265": "HEVC", "hevc_nvenc": "HEVC"}


def container_for(output: str | Path) -> Container | None:
    """The container the output's extension names, or None when framedeck does not know it."""
    return CONTAINERS.get(Path(output).suffix.lower())


def codec_for_output(output: str | Path, codec: str) -> str:
    """The encoder for ``output``: "auto" picks the container's default, anything else must fit it.

    Raises OptionError with one sentence for an unknown codec, one that does not open here,
    or one the container cannot hold.
    """
    container = container_for(output)
    choice = codec.strip().lower()
    suffix = Path(output).suffix.lower()
    if choice == "auto":
        if container is None:
            return resolve_codec("auto")
        for name in container.codecs:
            if encoder_opens(name):
                return name
        raise OptionError(f"No encoder for {suffix} opens on this machine.")
    name = resolve_codec(codec)
    if container is not None and name not in container.codecs:
        fits = sorted({_NAMES.get(c, c) for c in container.codecs})
        keeper = ".mov" if name == "prores_ks" else ".mkv"
        raise OptionError(
            f"The {suffix} container cannot hold {_NAMES.get(name, name)} video ({name}); "
            f"it holds {', '.join(fits)}, or write {keeper} instead."
        )
    return name
