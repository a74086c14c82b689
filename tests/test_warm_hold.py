"""A device's replica keeps one clip's set-up (graphs, caches, scale, batch) across that clip's
ranges, and never carries it into another job."""

from __future__ import annotations

import torch

import core.model_runner as model_runner
from core.interpolators.blend import BlendInterpolator
from core.memory import BatchChoice
from core.model_runner import ModelRunner
from session.warm_model import WarmModel
from tests.clips import all_packets
from tests.test_devices import FRAMES, clip, reference, run_on_pool  # noqa: F401  (module fixtures)


class Counting(BlendInterpolator):
    """The real blend, counting how often its per-clip set-up is dropped; ``scale`` as RIFE has."""

    def __init__(self) -> None:
        super().__init__()
        self.drops = 0
        self.scale = None

    def drop_graphs(self) -> None:
        self.drops += 1


def loaded() -> tuple[WarmModel, Counting]:
    inner = Counting()
    model = WarmModel(inner)
    model.load(torch.device("cpu"))
    return model, inner


def test_a_held_clip_keeps_its_set_up_between_its_ranges_only():
    model, inner = loaded()
    model.hold("a")
    model.load("cpu")
    inner.scale = 0.5  # chosen for clip a's size
    model.unload()  # the end of a range of a: kept
    model.hold("a")
    model.load("cpu")
    assert inner.drops == 0 and inner.scale == 0.5
    model.unload()
    model.load("cpu")  # a job that did not name a (a whole clip, the final join): a's set-up goes first
    assert inner.drops == 1 and inner.scale is None and model.held is None


def test_another_clip_or_the_end_of_the_clip_drops_the_set_up():
    model, inner = loaded()
    model.hold("a")
    model.load("cpu")
    model.unload()
    model.hold("b")  # the replica turns to another clip
    assert inner.drops == 1 and model.held == "b"
    model.load("cpu")
    model.unload()
    model.let_go("a")  # a's job ends while the replica holds b: nothing of b's is dropped
    assert inner.drops == 1
    model.let_go("b")
    assert inner.drops == 2 and model.held is None


def test_a_range_that_failed_before_its_load_does_not_vouch_for_the_next_job():
    model, inner = loaded()
    model.hold("a")
    model.load("cpu")
    model.unload()
    model.hold("a")  # this range fails before run_job loads the model; run_job still unloads
    model.unload()
    model.load("cpu")  # the next job on this device is another clip's
    assert inner.drops == 1 and model.held is None


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, level: str, message: str) -> None:
        self.lines.append(message)


def test_the_preflight_runs_once_per_clip_and_device_not_once_per_range(monkeypatch):
    probes = []
    monkeypatch.setattr(model_runner, "cuda_facts", lambda device: "a GPU")

    def preflight(model, device, height, width):
        probes.append((height, width))
        return BatchChoice(batch=3 + len(probes), per_pair_bytes=1, free_bytes=10, reason="fits")

    monkeypatch.setattr(model_runner, "preflight", preflight)
    model, _ = loaded()
    control = Log()

    def batch() -> int:
        runner = ModelRunner(model, torch.device("cuda", 1), control, None, control.log, "blend")
        return runner.choose_batch(72, 128, None)

    model.hold("a")
    assert batch() == 4 and batch() == 4 and probes == [(72, 128)]
    assert "batch 4: as this device's earlier ranges of the clip" in control.lines
    model.let_go("a")
    assert batch() == 5 and len(probes) == 2  # the next clip measures again


def test_each_worker_drops_a_clips_set_up_once_at_its_end_not_after_every_range(clip, reference, tmp_path):  # noqa: F811
    replicas: list[Counting] = []

    def make(number, device, opts, emit):
        replicas.append(Counting())
        return WarmModel(replicas[-1])

    out = tmp_path / "out.mp4"
    _, events = run_on_pool(clip, out, make)
    assert all_packets(out) == all_packets(reference)
    ranges = [int(e.message.split()[-2]) for e in events
              if getattr(e, "message", "").startswith("worker ") and e.message.endswith(" ranges")]
    assert sum(ranges) == 6 and len(replicas) == 2 and FRAMES == 60
    assert [r.drops for r in replicas] == [1, 1]  # each replica: once, when the clip's job ended
