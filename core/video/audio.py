"""Carry every audio stream of the input into the output, interleaved with the video.

Packets are copied unchanged (same codec, same timestamps) when the output container can
hold the codec; otherwise that stream is re-encoded to the container's default audio codec
(AAC for .mp4/.mov/.mkv). Packets are read lazily, so memory stays flat for any length.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import av

from core.errors import EncodeError


@dataclass
class _Track:
    """One source audio stream and where its packets go."""

    source: av.audio.stream.AudioStream
    target: av.audio.stream.AudioStream
    copy: bool
    packets: int = 0


class AudioCarrier:
    """Copies (or re-encodes) the audio of ``source_path`` into ``output`` on demand."""

    def __init__(self, source_path: str | os.PathLike, output: av.container.OutputContainer) -> None:
        self.output = output
        self.notes: list[str] = []
        self.tracks: dict[int, _Track] = {}
        self._input = av.open(str(source_path))
        self._packets = None
        self._pending: av.Packet | None = None
        self._finished = False
        supported = output.supported_codecs
        for stream in self._input.streams.audio:
            codec = stream.codec_context.name
            if codec in supported:
                target = output.add_stream_from_template(stream)
                self.tracks[stream.index] = _Track(stream, target, copy=True)
                continue
            fallback = output.default_audio_codec
            if fallback in ("none", ""):
                self.notes.append(f"the output container cannot hold audio; audio stream {stream.index} is left out")
                continue
            target = output.add_stream(fallback, rate=stream.codec_context.sample_rate or 48000)
            # the default layout for the channel count (an 'unspecified' layout does not encode)
            target.layout = av.AudioLayout(f"{len(stream.codec_context.layout.channels) or 2}c")
            self.tracks[stream.index] = _Track(stream, target, copy=False)
            self.notes.append(
                f"audio stream {stream.index} ({codec}) cannot go into this container as is; re-encoding it to {fallback}"
            )
        if self.tracks:
            for stream in self._input.streams:
                if stream.index not in self.tracks:
                    stream.discard = av.stream.Discard.all
            self._packets = self._input.demux([t.source for t in self.tracks.values()])

    def _next(self) -> av.Packet | None:
        if self._pending is not None:
            packet, self._pending = self._pending, None
            return packet
        if self._packets is None:
            return None
        try:
            return next(self._packets, None)
        except av.FFmpegError as exc:
            raise EncodeError(f"The input's audio could not be read for copying ({exc.strerror}).") from None

    def mux_until(self, seconds: float | None) -> None:
        """Mux every source audio packet that starts at or before ``seconds`` (None: all)."""
        if self._finished:
            return
        while True:
            packet = self._next()
            if packet is None:
                self._flush_encoders()
                self._finished = True
                return
            if packet.size == 0:  # a demuxer flush packet
                continue
            stamp = packet.dts if packet.dts is not None else packet.pts
            if seconds is not None and stamp is not None and float(stamp * packet.time_base) > seconds:
                self._pending = packet
                return
            self._mux(packet)

    def _mux(self, packet: av.Packet) -> None:
        track = self.tracks[packet.stream_index]
        if track.copy:
            packet.stream = track.target
            self.output.mux(packet)
        else:
            for frame in packet.decode():
                frame.pts = None
                self.output.mux(track.target.encode(frame))
        track.packets += 1

    def _flush_encoders(self) -> None:
        for track in self.tracks.values():
            if not track.copy:
                self.output.mux(track.target.encode(None))

    def finish(self) -> None:
        """Mux everything left (audio past the end of the video is kept)."""
        self.mux_until(None)

    def close(self) -> None:
        self._input.close()
