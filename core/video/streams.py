"""Carry every stream of the input besides the picture into the output, interleaved with the video.

Audio, subtitles, other video streams and data streams are copied packet for packet (same
codec, same timestamps, their language/title/handler metadata and dispositions) when the
output container can hold them. Where it cannot, cheap lossless conversions are made
(SRT <-> mov_text, SRT -> WebVTT, only the packaging of the text changes), audio is
re-encoded to the container's codec (Opus for WebM, AAC elsewhere) and said so, and anything
else is dropped with one note that names it and a container that would keep it. Attachments
(MKV fonts), chapters and the file's global metadata go along where the container has room.
A timecode data stream becomes the output video's ``timecode`` tag (a tmcd track in
.mp4/.mov). Packets are read lazily, so memory stays flat for any length.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av

from core.errors import EncodeError

# Global and stream tags that the muxer writes itself or that describe the old encoding.
_SKIP_TAGS = frozenset({
    "encoder", "major_brand", "minor_version", "compatible_brands", "duration", "rotate",
    "number_of_frames", "number_of_bytes", "bps", "_statistics_tags", "_statistics_writing_app",
    "_statistics_writing_date_utc", "software", "vendor_id",
})
# subtitle codecs each container family holds as is (libav's list misses the bitmap ones)
_SUBTITLES = {
    "matroska": {"subrip", "ass", "ssa", "webvtt", "hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle", "text"},
    "webm": {"webvtt"},
    "mp4": {"mov_text"},
    "mov": {"mov_text"},
}
_TEXT_SUBTITLES = {"subrip", "srt", "text"}
# libavcodec's default subtitle style (ff_ass_subtitle_header_default), for mov_text's description
DEFAULT_ASS_HEADER = (
    b"[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\nScaledBorderAndShadow: yes\n\n"
    b"[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
    b"BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, "
    b"Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
    b"Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,1\n\n"
    b"[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
)
# the container that keeps what another one cannot
KEEPER = ".mkv"
# AVFormat short name -> family in the tables above
_FAMILY = {"matroska": "matroska", "webm": "webm", "mp4": "mp4", "mov": "mov", "avi": "avi"}
_FALLBACK_AUDIO = {"webm": "libopus"}  # else aac
_OPUS_RATES = (48000, 24000, 16000, 12000, 8000)
@dataclass
class _Track:
    """One source stream and how its packets reach the output."""

    source: av.stream.Stream
    target: av.stream.Stream
    convert: Callable[[av.Packet], av.Packet | None] | None = None  # repackaging of subtitles
    encode: bool = False  # audio re-encoded
    resampler: av.AudioResampler | None = None
    next_pts: int | None = None  # the re-encoded audio's next sample
    packets: int = 0


def _codec_name(stream: av.stream.Stream) -> str:
    if stream.codec_context is not None:
        name = stream.codec_context.name
    else:  # data streams have no codec context
        name = getattr(stream, "name", None) or ""
    return {"srt": "subrip", "ssa": "ass"}.get(name, name)


def _describe(stream: av.stream.Stream) -> str:
    """'subtitle stream 3 (hdmv_pgs_subtitle, deu)' for notes."""
    language = stream.metadata.get("language")
    detail = _codec_name(stream) or "unknown codec"
    if language and language != "und":
        detail += f", {language}"
    return f"{stream.type} stream {stream.index} ({detail})"


def _tags(metadata: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in metadata.items() if k.lower() not in _SKIP_TAGS and not k.upper().startswith("DURATION")}


def copy_tags(source: av.stream.Stream, target: av.stream.Stream) -> None:
    """Language, title, handler and other descriptive tags, and the dispositions."""
    for key, value in _tags(dict(source.metadata)).items():
        target.metadata[key] = value
    with contextlib.suppress(AttributeError, ValueError, TypeError):
        target.disposition = source.disposition


class StreamCarrier:
    """Copies (or converts) every stream of ``source_path`` except its first video stream into
    ``output``; :meth:`mux_until` interleaves them with the video. ``notes`` say what was
    converted, re-encoded or dropped."""

    def __init__(self, source_path: str | os.PathLike, output: av.container.OutputContainer,
                 video: av.video.stream.VideoStream, start_at_zero: bool = False,
                 untimed: bool = False) -> None:
        self.output = output
        self.notes: list[str] = []
        self.tracks: dict[int, _Track] = {}
        self.attachments = 0
        self._input = av.open(str(source_path))
        self._packets = None
        self._pending: av.Packet | None = None
        self._finished = False
        # seconds taken off every timestamp so that the earliest stream starts at 0 (mp4/mov)
        self.shift = Fraction(0)
        if start_at_zero and self._input.start_time:
            self.shift = Fraction(self._input.start_time, av.time_base)
        # AVI stores no timestamps: a packet before 0 (AAC priming) would make the muxer delay
        # the video with empty frames, so such packets are left out there
        self.drop_before_zero = untimed
        self.family = _FAMILY.get(output.format.name.split(",")[0], output.format.name)
        self.extension = os.path.splitext(str(output.name))[1] or f".{self.family}"
        first_video = self._input.streams.video[0] if self._input.streams.video else None
        if first_video is not None:
            copy_tags(first_video, video)
        self._copy_global_metadata()
        dropped: list[str] = []
        for stream in self._input.streams:
            if first_video is not None and stream.index == first_video.index:
                continue
            why = self._add(stream, video)
            if why:
                dropped.append(why)
        kept_chapters = self._copy_chapters()
        self._note_kept(kept_chapters)
        if dropped:
            self.notes.append(f"left out of {self.extension}: {'; '.join(dropped)}")
        if self.tracks:
            for stream in self._input.streams:
                if stream.index not in self.tracks:
                    stream.discard = av.stream.Discard.all
            self._packets = self._input.demux([t.source for t in self.tracks.values()])

    # -- setup ---------------------------------------------------------------------------------

    def _copy_global_metadata(self) -> None:
        for key, value in _tags(dict(self._input.metadata)).items():
            self.output.metadata[key] = value

    def _copy_chapters(self) -> int:
        """Copy the chapters where the container has them; returns how many were kept."""
        chapters = self._input.chapters()
        if not chapters:
            return 0
        if self.family in ("matroska", "webm", "mp4", "mov"):
            self.output.set_chapters(chapters)
            return len(chapters)
        self.notes.append(f"left out of {self.extension}: {len(chapters)} chapters ({KEEPER} or .mp4 keep them)")
        return 0

    def _note_kept(self, chapters: int) -> None:
        """One note listing what goes along with the picture, e.g. '2 audio (eng, fra)'."""
        kinds: dict[str, list[str]] = {}
        for track in self.tracks.values():
            language = track.source.metadata.get("language")
            kinds.setdefault(track.source.type, []).append(language if language and language != "und" else "")
        parts = []
        for kind, languages in kinds.items():
            named = ", ".join(lang for lang in languages if lang)
            parts.append(f"{len(languages)} {kind}" + (f" ({named})" if named else ""))
        if self.attachments:
            parts.append(f"{self.attachments} attachment(s)")
        if chapters:
            parts.append(f"{chapters} chapters")
        if parts:
            self.notes.insert(0, f"carried into {self.extension}: {'; '.join(parts)}")

    def _add(self, stream: av.stream.Stream, video: av.video.stream.VideoStream) -> str | None:
        """Add the stream's target; returns why it was dropped, or None."""
        kind = stream.type
        if kind == "attachment":
            return self._add_attachment(stream)
        if kind == "data":
            timecode = stream.metadata.get("timecode")
            if timecode:  # a tmcd track: the output video's timecode tag (mov/mp4 make a tmcd track of it)
                video.metadata.setdefault("timecode", timecode)
                return None
            return f"{_describe(stream)}, which no output container framedeck writes can hold"
        if kind == "audio":
            return self._add_audio(stream)
        if kind == "subtitle":
            return self._add_subtitle(stream)
        if kind == "video":
            if _codec_name(stream) in self.output.supported_codecs:
                self._copy(stream)
                return None
            return f"{_describe(stream)} ({KEEPER} keeps it)"
        return f"{_describe(stream)} ({KEEPER} keeps it)"

    def _copy(self, stream: av.stream.Stream, **convert) -> _Track:
        target = self.output.add_stream_from_template(stream)
        copy_tags(stream, target)
        track = _Track(stream, target, **convert)
        self.tracks[stream.index] = track
        return track

    def _add_attachment(self, stream: av.stream.Stream) -> str | None:
        if self.family != "matroska":
            name = stream.metadata.get("filename") or getattr(stream, "name", None) or f"#{stream.index}"
            return f"attachment {name} ({KEEPER} keeps it)"
        name = getattr(stream, "name", None) or stream.metadata.get("filename") or f"attachment{stream.index}"
        mimetype = getattr(stream, "mimetype", None) or stream.metadata.get("mimetype") or "application/octet-stream"
        self.output.add_attachment(name, mimetype, bytes(stream.data))
        self.attachments += 1
        return None

    def _add_audio(self, stream: av.audio.stream.AudioStream) -> str | None:
        codec = _codec_name(stream)
        if codec in self.output.supported_codecs and not (self.family == "webm" and codec not in ("opus", "vorbis")):
            self._copy(stream)
            return None
        encoder = _FALLBACK_AUDIO.get(self.family, "aac")
        source_rate = stream.codec_context.sample_rate or 48000
        rate = source_rate
        if encoder == "libopus" and rate not in _OPUS_RATES:
            rate = 48000
        target = self.output.add_stream(encoder, rate=rate)
        target.layout = av.AudioLayout(f"{len(stream.codec_context.layout.channels) or 2}c")
        copy_tags(stream, target)
        fmt = target.codec_context.codec.audio_formats[0].name if target.codec_context.codec.audio_formats else "fltp"
        resampler = av.AudioResampler(format=fmt, layout=target.layout, rate=rate)
        self.tracks[stream.index] = _Track(stream, target, encode=True, resampler=resampler)
        self.notes.append(
            f"{_describe(stream)} cannot go into {self.extension} as is; re-encoding it to {encoder.removeprefix('lib')}"
        )
        return None

    def _add_subtitle(self, stream: av.subtitles.stream.SubtitleStream) -> str | None:
        codec = _codec_name(stream)
        holds = _SUBTITLES.get(self.family, set())
        if codec in holds:
            self._copy(stream)
            return None
        if codec in _TEXT_SUBTITLES and "mov_text" in holds:
            self._converted(stream, "mov_text", _srt_to_mov_text)
            return None
        if codec == "mov_text" and "subrip" in holds:
            self._converted(stream, "subrip", _mov_text_to_srt)
            return None
        if codec in _TEXT_SUBTITLES and "webvtt" in holds:
            self._converted(stream, "webvtt", _same_text)
            return None
        keeper = ".mp4" if codec == "mov_text" else KEEPER
        return f"{_describe(stream)} ({keeper} keeps it)"

    def _converted(self, stream: av.stream.Stream, codec: str, convert: Callable) -> None:
        if codec == "mov_text":
            # the encoder is opened only to write the sample description (font, style) from
            # libav's default subtitle style; the packets are repackaged, not encoded
            target = self.output.add_stream(codec)
            target.codec_context.subtitle_header = DEFAULT_ASS_HEADER
            target.codec_context.time_base = stream.time_base
        else:
            target = self.output.add_mux_stream(codec)
        target.time_base = stream.time_base
        copy_tags(stream, target)
        self.tracks[stream.index] = _Track(stream, target, convert=convert)
        self.notes.append(f"{_describe(stream)} converted to {codec} for {self.extension} (the text is unchanged)")

    # -- muxing ----------------------------------------------------------------------------------

    def _next(self) -> av.Packet | None:
        if self._pending is not None:
            packet, self._pending = self._pending, None
            return packet
        if self._packets is None:
            return None
        try:
            return next(self._packets, None)
        except av.FFmpegError as exc:
            raise EncodeError(f"The input's other streams could not be read for copying ({exc.strerror}).") from None

    def mux_until(self, seconds: float | None) -> None:
        """Mux every source packet that starts at or before ``seconds`` (None: all)."""
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

    def shift_packet(self, packet: av.Packet) -> None:
        """Move ``packet`` earlier by :attr:`shift` (in its own time base)."""
        if not self.shift or packet.time_base is None:
            return
        ticks = round(self.shift / packet.time_base)
        if packet.pts is not None:
            packet.pts -= ticks
        if packet.dts is not None:
            packet.dts -= ticks

    def _mux(self, packet: av.Packet) -> None:
        track = self.tracks[packet.stream_index]
        if track.encode:
            for frame in packet.decode():
                self._encode(track, frame)
        else:
            if track.convert is not None:
                converted = track.convert(packet)
                if converted is None:
                    return
                packet = converted
            self.shift_packet(packet)
            stamp = packet.dts if packet.dts is not None else packet.pts
            if self.drop_before_zero and stamp is not None and stamp < 0:
                return
            packet.stream = track.target
            self.output.mux(packet)
        track.packets += 1

    def _encode(self, track: _Track, frame: av.AudioFrame | None) -> None:
        assert track.resampler is not None
        rate = track.target.codec_context.sample_rate
        if track.next_pts is None and frame is not None and frame.pts is not None:
            track.next_pts = round((frame.pts * frame.time_base - self.shift) * rate)  # the start is kept
        for out in track.resampler.resample(frame):
            out.pts = track.next_pts or 0
            out.time_base = Fraction(1, rate)
            track.next_pts = out.pts + out.samples
            self.output.mux(track.target.encode(out))

    def _flush_encoders(self) -> None:
        for track in self.tracks.values():
            if track.encode:
                self._encode(track, None)
                self.output.mux(track.target.encode(None))

    def finish(self) -> None:
        """Mux everything left (streams running past the end of the video are kept)."""
        self.mux_until(None)

    def close(self) -> None:
        self._input.close()


def _repacked(packet: av.Packet, payload: bytes) -> av.Packet:
    out = av.Packet(payload)
    out.pts, out.dts, out.duration, out.time_base = packet.pts, packet.dts, packet.duration, packet.time_base
    return out


def _srt_to_mov_text(packet: av.Packet) -> av.Packet:
    """SRT cue text -> a tx3g sample: the text's UTF-8 length (16-bit) and the text."""
    text = bytes(packet).rstrip(b"\0")
    return _repacked(packet, struct.pack(">H", len(text)) + text)


def _mov_text_to_srt(packet: av.Packet) -> av.Packet | None:
    """A tx3g sample -> its text (an empty sample only clears the screen: left out)."""
    data = bytes(packet)
    if len(data) < 2:
        return None
    length = struct.unpack(">H", data[:2])[0]
    text = data[2 : 2 + length]
    return _repacked(packet, text) if text else None


def _same_text(packet: av.Packet) -> av.Packet:
    return _repacked(packet, bytes(packet).rstrip(b"\0"))
