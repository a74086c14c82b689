"""Which video encoders framedeck offers, and which of them actually open on this machine."""

from __future__ import annotations

import functools
import os
from fractions import Fraction

import av

from core.errors import OptionError

ENCODERS = ("libx264", "libx265", "h264_nvenc", "hevc_nvenc", "ffv1", "libvpx-vp9", "libsvtav1", "prores_ks")
NVENC = ("h264_nvenc", "hevc_nvenc")
ALIASES = {"prores": "prores_ks", "vp9": "libvpx-vp9", "av1": "libsvtav1", "h264": "libx264", "hevc": "libx265"}
CHOICES = ("auto", *ENCODERS, *ALIASES)
# the pixel format an encoder is tried with (ProRes has no 4:2:0)
_TRIAL_FORMAT = {"ffv1": "bgr0", "prores_ks": "yuv422p10le"}
# framedeck's defaults for the encoders whose options formats.encoder_options does not set
DEFAULT_OPTIONS = {
    "libvpx-vp9": {"crf": "30", "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"},
    "libsvtav1": {"crf": "32", "preset": "8"},
    "prores_ks": {"profile": "3"},  # ProRes 422 HQ
}

os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner to stderr below "error"

# A size every listed encoder accepts (NVENC refuses very small frames).
_TRIAL_SIZE = (256, 256)


@functools.cache
def encoder_opens(name: str) -> bool:
    """True when a tiny encoder context of ``name`` opens here (NVENC needs a GPU and driver)."""
    try:
        context = av.CodecContext.create(name, "w")
    except (av.FFmpegError, ValueError):
        return False
    context.width, context.height = _TRIAL_SIZE
    context.pix_fmt = _TRIAL_FORMAT.get(name, "yuv420p")
    context.time_base = Fraction(1, 25)
    context.framerate = Fraction(25)
    if name == "libx265":
        context.options = {"x265-params": "log-level=none"}
    try:
        context.open()
    except (av.FFmpegError, ValueError, OSError):
        return False
    finally:
        del context
    return True


def encoder_opens_with(name: str, width: int, height: int, pix_fmt: str, options: dict[str, str]) -> bool:
    """True when ``name`` opens for this exact size, pixel format and options (not cached)."""
    try:
        context = av.CodecContext.create(name, "w")
        context.width, context.height, context.pix_fmt = width, height, pix_fmt
        context.time_base = Fraction(1, 25)
        context.framerate = Fraction(25)
        context.options = dict(options)
        context.open()
    except (av.FFmpegError, ValueError, OSError):
        return False
    return True


def available_encoders() -> dict[str, bool]:
    """For ``framedeck doctor``: each offered encoder and whether it opens on this machine."""
    return {name: encoder_opens(name) for name in ENCODERS}


def resolve_codec(name: str) -> str:
    """Turn a codec option into an encoder name that opens here.

    "auto" means h264_nvenc where it opens, else libx264 (see core/video/containers.py for
    the default of each output container). Anything else must be one of ENCODERS or ALIASES
    (prores, vp9, av1, h264, hevc) and must open; otherwise OptionError with one sentence.
    """
    choice = name.strip().lower()
    choice = ALIASES.get(choice, choice)
    if choice == "auto":
        return "h264_nvenc" if encoder_opens("h264_nvenc") else "libx264"
    if choice not in ENCODERS:
        raise OptionError(f"Unknown codec {name!r}; choose one of {', '.join(CHOICES)}.")
    if not encoder_opens(choice):
        if choice in NVENC:
            raise OptionError(
                f"The {choice} encoder does not open on this machine (it needs an NVIDIA GPU and driver); use libx264, libx265 or auto."
            )
        raise OptionError(f"The {choice} encoder is not available in this build of libav; choose another codec.")
    return choice


def codec_options(codec: str, crf: int | None, preset: str | None, notes: list[str]) -> dict[str, str] | None:
    """libav options for VP9, AV1 and ProRes from the user's --crf/--preset, else None.

    VP9's --preset is its cpu-used (0 slowest to 8), AV1's its preset (0 to 13); ProRes has
    neither (the profile is 422 HQ).
    """
    defaults = DEFAULT_OPTIONS.get(codec)
    if defaults is None:
        return None
    options = dict(defaults)
    if codec == "prores_ks":
        if crf is not None or preset is not None:
            notes.append("ProRes has a fixed quality (422 HQ); --crf and --preset are ignored")
        return options
    if crf is not None:
        options["crf"] = str(crf)
    if preset is not None:
        options["cpu-used" if codec == "libvpx-vp9" else "preset"] = preset
    return options
