"""A device that fails outside the model's forward (its load: a GPU that will not start) is
left out like one that fails mid-range; the job finishes on the others with the same output."""

from __future__ import annotations

from core.device_job import _warm_model
from core.events import LogRecord
from tests.clips import all_packets
from tests.test_devices import clip, reference, run_on_pool  # noqa: F401  (module fixtures)


class WillNotStart:
    """A replica whose device fails as CUDA does when a GPU has fallen off the bus."""

    name = "blend"

    def load(self, device) -> None:
        raise RuntimeError("CUDA error: unspecified launch failure")

    def unload(self) -> None:
        pass


def test_a_device_that_fails_to_load_is_left_out_in_one_plain_sentence(clip, reference, tmp_path):  # noqa: F811
    def make(number, device, opts, emit):
        return WillNotStart() if number == 1 else _warm_model(number, device, opts, emit)

    out = tmp_path / "out.mp4"
    pool, events = run_on_pool(clip, out, make)
    assert all_packets(out) == all_packets(reference)
    warnings = [e.message for e in events if isinstance(e, LogRecord) and e.level == "warning"]
    left_out = [m for m in warnings if m.startswith("worker 1 (cpu) failed and is left out")]
    assert left_out and left_out[0].startswith(
        "worker 1 (cpu) failed and is left out for the rest of the session: "
        "RuntimeError: CUDA error: unspecified launch failure"
    )
    assert 1 in pool.excluded and "Unexpected" not in left_out[0]
