"""Deliberate faults for testing real runs: ``FRAMEDECK_INJECT``.

Syntax: faults separated by ``;``, each ``kind@key=value[,key=value]``:
``oom@pair=5`` (the fifth model forward raises an out-of-memory error once),
``hang@pair=3,seconds=30`` (the third forward blocks for 30 s, or until the job is cancelled),
``decode-error@frame=40`` and ``encode-error@frame=10`` (the decoder or the encoder thread
fails at that 0-based frame, input or output, as a broken stream or encoder would), and
``hang-decode@frame=N,seconds=S`` / ``hang-encode@frame=N,seconds=S`` (the decoder or the
encoder thread blocks at that frame for S seconds, or until the job is stopped),
``hang-store@segment=K,seconds=S`` (the journal's store thread blocks before writing segment
K, so segments before K are kept and nothing after) and ``hang-join@packet=N,seconds=S``
(the final join blocks after muxing N video packets), and ``device-error@worker=W,pair=N``
(in a job shared out over several devices, worker W's device fails as a CUDA error would once
it has finished input pair N: core/device_job.py gives its range to the other devices). Each hang announces itself once
through ``note`` (the job logs it as a warning), so a test knows the point was reached.
Only the core's fault hooks read this; nothing else changes behaviour.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from core.errors import DecodeError, EncodeError, OptionError

ENV_VAR = "FRAMEDECK_INJECT"


class InjectedDeviceError(RuntimeError):
    """Raised by ``device-error@worker=W,pair=N``, like a CUDA error that ends a device's work."""


class InjectedOutOfMemory(MemoryError):
    """Raised by ``oom@pair=N``; handled exactly like a real out-of-memory error."""


@dataclass
class FaultPlan:
    oom_forwards: set[int] = field(default_factory=set)
    hang_forwards: dict[int, float] = field(default_factory=dict)
    decode_error_frames: set[int] = field(default_factory=set)
    encode_error_frames: set[int] = field(default_factory=set)
    decode_hangs: dict[int, float] = field(default_factory=dict)
    encode_hangs: dict[int, float] = field(default_factory=dict)
    store_hangs: dict[int, float] = field(default_factory=dict)
    join_hangs: dict[int, float] = field(default_factory=dict)
    device_errors: dict[int, int] = field(default_factory=dict)  # worker -> pair
    note: Callable[[str], None] | None = None  # where a hang announces itself
    release: threading.Event = field(default_factory=threading.Event)  # ends injected hangs

    @classmethod
    def parse(cls, text: str | None) -> FaultPlan:
        plan = cls()
        for part in (text or "").split(";"):
            part = part.strip()
            if not part:
                continue
            kind, _, args = part.partition("@")
            values: dict[str, float] = {}
            for item in filter(None, args.split(",")):
                key, _, value = item.partition("=")
                try:
                    values[key.strip()] = float(value)
                except ValueError:
                    raise OptionError(f"{ENV_VAR}: cannot read {item!r} in {part!r}.") from None
            try:
                if kind == "oom":
                    plan.oom_forwards.add(int(values["pair"]))
                elif kind == "hang":
                    plan.hang_forwards[int(values["pair"])] = values.get("seconds", 30.0)
                elif kind == "decode-error":
                    plan.decode_error_frames.add(int(values["frame"]))
                elif kind == "encode-error":
                    plan.encode_error_frames.add(int(values["frame"]))
                elif kind == "hang-decode":
                    plan.decode_hangs[int(values["frame"])] = values.get("seconds", 30.0)
                elif kind == "hang-encode":
                    plan.encode_hangs[int(values["frame"])] = values.get("seconds", 30.0)
                elif kind == "hang-store":
                    plan.store_hangs[int(values["segment"])] = values.get("seconds", 30.0)
                elif kind == "hang-join":
                    plan.join_hangs[int(values["packet"])] = values.get("seconds", 30.0)
                elif kind == "device-error":
                    plan.device_errors[int(values["worker"])] = int(values["pair"])
                else:
                    raise OptionError(f"{ENV_VAR}: unknown fault {kind!r} in {part!r}.")
            except KeyError as missing:
                raise OptionError(f"{ENV_VAR}: {part!r} needs {missing.args[0]}=N.") from None
        return plan

    @classmethod
    def from_env(cls) -> FaultPlan:
        return cls.parse(os.environ.get(ENV_VAR))

    def before_forward(self, forward: int, cancel: threading.Event) -> None:
        """Called before the ``forward``-th model call (1-based)."""
        if forward in self.hang_forwards:
            cancel.wait(self.hang_forwards.pop(forward))
        if forward in self.oom_forwards:
            self.oom_forwards.discard(forward)
            raise InjectedOutOfMemory(f"injected out-of-memory at forward {forward}")

    def on_decode(self, frame: int) -> None:
        """Called in the decode thread before frame ``frame`` is handed over."""
        if frame in self.decode_hangs:
            self.release.wait(self.decode_hangs.pop(frame))
        if frame in self.decode_error_frames:
            raise DecodeError(f"The input stream is corrupt at frame {frame} (injected fault).")

    def in_encoder(self, frame: int) -> None:
        """Called in the encoder thread before output frame ``frame`` is encoded."""
        if frame in self.encode_hangs:
            self.release.wait(self.encode_hangs.pop(frame))
        if frame in self.encode_error_frames:
            raise EncodeError(f"The encoder failed at output frame {frame} (injected fault).")

    def _hang(self, seconds: float, where: str) -> None:
        if self.note is not None:
            self.note(f"injected fault: hanging {where} for up to {seconds:g} s")
        self.release.wait(seconds)

    def on_worker_pair(self, worker: int, pair: int) -> None:
        """Called when worker ``worker`` of a job on several devices has finished input pair
        ``pair`` (0-based); raises once, as a lost GPU would."""
        at = self.device_errors.get(worker)
        if at is not None and pair >= at:
            del self.device_errors[worker]
            raise InjectedDeviceError(
                "CUDA error: an illegal memory access was encountered (injected device-error)"
            )

    def before_store(self, segment: int) -> None:
        """Called in the journal's store thread before segment ``segment`` is written."""
        if segment in self.store_hangs:
            self._hang(self.store_hangs.pop(segment), f"before storing segment {segment}")

    def in_join(self, packets: int) -> None:
        """Called in the final join after ``packets`` video packets were muxed."""
        if packets in self.join_hangs:
            self._hang(self.join_hangs.pop(packets), f"in the join after {packets} packets")
