"""Errors a user can cause. Each carries one clear sentence for the terminal."""

from __future__ import annotations


class FramedeckError(Exception):
    """A failure explained in one sentence; front ends print it and exit non-zero."""

    exit_code = 1


class InputError(FramedeckError):
    """The input file is missing, unreadable, not a video or otherwise unusable."""

    exit_code = 2


class OutputError(FramedeckError):
    """The output path cannot be written."""

    exit_code = 3


class DecodeError(FramedeckError):
    """The input stream broke while decoding."""

    exit_code = 4


class EncodeError(FramedeckError):
    """The encoder or muxer failed."""

    exit_code = 5


class ModelError(FramedeckError):
    """A model or its weights could not be loaded or run."""

    exit_code = 6


class OptionError(FramedeckError):
    """A command-line or job option is out of range or contradictory."""

    exit_code = 2


class JobAborted(FramedeckError):
    """The job was cancelled by the user."""

    exit_code = 130


class StallError(FramedeckError):
    """A pipeline stage made no progress for longer than the stall timeout."""

    exit_code = 7


EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process ended by it
