"""Closed segment files: one segment's encoded video packets, stored exactly as the encoder made them.

A segment file holds a header (the encoder's extradata and the time base) and the packets
(pts, dts, duration, keyframe flag, bytes) of one GOP-aligned run of output frames. It is
written under a temporary name, flushed, fsynced and renamed, so a file with the final name
is always whole. Joining the files' packets in order gives the stream a single encoder
would have muxed, without decoding anything.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

MAGIC = b"FDSEG1\n"
_PACKET = struct.Struct("<qqqBI")  # pts, dts, duration, flags, size
_NONE = -(2**63)  # a missing pts or dts
_KEY = 1


@dataclass(frozen=True)
class StoredPacket:
    pts: int | None
    dts: int | None
    duration: int
    keyframe: bool
    data: bytes

    def to_packet(self, time_base: Fraction) -> av.Packet:
        packet = av.Packet(self.data)
        packet.pts, packet.dts = self.pts, self.dts
        packet.duration = self.duration
        packet.time_base = time_base
        packet.is_keyframe = self.keyframe
        return packet


def fsync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (where the system allows opening folders)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class SegmentFileWriter:
    """Writes one segment file: ``add`` packets, then ``close`` (fsync + rename) or ``discard``."""

    def __init__(self, path: Path, extradata: bytes | None, time_base: Fraction) -> None:
        self.path = path
        self.temp = path.with_name(path.name + ".partial")
        self.packets = 0
        self.bytes = 0
        self._handle = open(self.temp, "wb")  # noqa: SIM115 - closed in close()/discard()
        header = json.dumps(
            {"extradata": (extradata or b"").hex(), "time_base": str(Fraction(time_base))}
        ).encode()
        self._handle.write(MAGIC + struct.pack("<I", len(header)) + header)

    def add(self, packet: av.Packet) -> None:
        data = bytes(packet)
        flags = _KEY if packet.is_keyframe else 0
        pts = _NONE if packet.pts is None else packet.pts
        dts = _NONE if packet.dts is None else packet.dts
        self._handle.write(_PACKET.pack(pts, dts, packet.duration or 0, flags, len(data)))
        self._handle.write(data)
        self.packets += 1
        self.bytes += len(data)

    def close(self) -> int:
        """Flush, fsync and rename into place; returns the file's size in bytes."""
        self._handle.flush()
        os.fsync(self._handle.fileno())
        size = self._handle.tell()
        self._handle.close()
        os.replace(self.temp, self.path)
        fsync_folder(self.path.parent)
        return size

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._handle.close()
        with contextlib.suppress(FileNotFoundError):
            self.temp.unlink()


class SegmentFileError(ValueError):
    """A segment file is not one, or is cut short."""


def _open(path: Path):
    handle = open(path, "rb")  # noqa: SIM115 - the callers close it
    if handle.read(len(MAGIC)) != MAGIC:
        handle.close()
        raise SegmentFileError(f"{path.name} is not a framedeck segment file")
    (length,) = struct.unpack("<I", handle.read(4))
    header = json.loads(handle.read(length))
    return handle, header


def read_header(path: Path) -> tuple[bytes, Fraction]:
    """The extradata and time base stored in a segment file."""
    handle, header = _open(path)
    handle.close()
    return bytes.fromhex(header["extradata"]), Fraction(header["time_base"])


def read_packets(path: Path, payload: bool = True) -> Iterator[StoredPacket]:
    """The packets of a segment file in order (with empty data when not ``payload``)."""
    handle, _ = _open(path)
    with handle:
        while head := handle.read(_PACKET.size):
            if len(head) < _PACKET.size:
                raise SegmentFileError(f"{path.name} is cut short")
            pts, dts, duration, flags, size = _PACKET.unpack(head)
            if payload:
                data = handle.read(size)
                if len(data) < size:
                    raise SegmentFileError(f"{path.name} is cut short")
            else:
                handle.seek(size, os.SEEK_CUR)
                data = b""
            yield StoredPacket(
                None if pts == _NONE else pts, None if dts == _NONE else dts, duration, bool(flags & _KEY), data
            )
