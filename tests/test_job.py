"""The whole pipeline through run_job and `framedeck run`: real PyAV, real torch."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from core.errors import DecodeError, EncodeError, JobAborted, StallError
from core.events import JobFailed, JobFinished, JobStarted, OomBackoff, PairDone, Stalled
from core.faults import FaultPlan
from core.interpolators.blend import BlendInterpolator
from core.job import run_job
from core.options import JobOptions
from tests.clips import moving_frames, psnr, read_frames, write_frames
from tui.cli import main


def blend_options(**kw) -> JobOptions:
    return JobOptions(model="blend", codec="ffv1", **kw)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


class CountingBlend(BlendInterpolator):
    def __init__(self) -> None:
        self.calls = 0
        self.pairs = 0

    def interpolate(self, img0, img1, t):
        self.calls += 1
        self.pairs += img0.shape[0]
        return super().interpolate(img0, img1, t)


def test_carphone_factor_2_gives_240_frames_at_5994_with_the_input_duration(shared, tmp_path):
    clip = shared("media/clips/carphone_176x144_2997fps.mp4")
    out = tmp_path / "out.mp4"
    assert main(["run", str(clip), "-o", str(out), "--factor", "2", "--model", "flow", "--quiet"]) == 0
    with av.open(str(clip)) as src, av.open(str(out)) as dst:
        s, d = src.streams.video[0], dst.streams.video[0]
        assert d.average_rate == Fraction(60000, 1001)
        frames = list(dst.decode(video=0))
        assert len(frames) == 240
        in_duration = float(s.duration * s.time_base)
        step = frames[1].time - frames[0].time
        assert frames[-1].time + step == pytest.approx(in_duration, abs=1e-3)
        assert in_duration == pytest.approx(4.004, abs=1e-3)


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_factor_frame_count_timing_and_lossless_passthrough(tmp_path, factor):
    frames = moving_frames(9)
    src = write_frames(tmp_path / "in.mkv", frames, fps=Fraction(24))
    out = tmp_path / "out.mkv"
    result = run_job(src, out, blend_options(factor=factor))
    got, times = read_frames(out)
    _, in_times = read_frames(src)
    assert result.output_frames == len(got) == 9 * factor
    step = in_times[1] - in_times[0]
    expected = [a + (b - a) * k / factor for a, b in zip(in_times, [*in_times[1:], in_times[-1] + step], strict=True)
                for k in range(factor)]
    assert times == pytest.approx(expected, abs=1.1e-3)  # mkv keeps 1 ms timestamps
    assert result.duration == pytest.approx(9 / 24, abs=2e-3)
    for i, original in enumerate(frames):  # input frames come back bit-exact
        assert np.array_equal(got[i * factor], original)
    # the tail holds the last frame for `factor` frames
    for k in range(factor):
        assert np.array_equal(got[8 * factor + k], frames[8])
    # a blend run reproduces the directly computed average (ffv1 is lossless end to end)
    for k in range(1, factor):
        t = k / factor
        expected = np.round(frames[0] * (1 - t) + frames[1] * t)
        assert np.abs(got[k].astype(int) - expected.astype(int)).max() <= 1


def test_target_fps_16_to_60(tmp_path):
    frames = moving_frames(32)
    src = write_frames(tmp_path / "in.mkv", frames, fps=Fraction(16))
    out = tmp_path / "out.mkv"
    result = run_job(src, out, blend_options(target_fps=Fraction(60)))
    got, times = read_frames(out)
    assert len(got) == result.output_frames == 120  # 2 s at 60 fps
    assert times == pytest.approx([i / 60 for i in range(120)], abs=6e-4)
    with av.open(str(out)) as c:
        assert c.streams.video[0].average_rate == 60


def test_variable_frame_rate_input_uses_timestamps(tmp_path):
    frames = moving_frames(5)
    pts = [0, 40, 120, 130, 200]
    src = write_frames(tmp_path / "vfr.mkv", frames, fps=Fraction(25), pts=pts, time_base=Fraction(1, 1000))
    out = tmp_path / "out.mkv"
    run_job(src, out, blend_options(factor=2, scene_cut=None))
    _, times = read_frames(out)
    assert times[:8] == pytest.approx([0, 0.02, 0.04, 0.08, 0.12, 0.125, 0.13, 0.165])
    assert len(times) == 10


def test_audio_is_copied_and_in_sync(tmp_path):
    frames = moving_frames(24, width=64, height=48)
    src = write_frames(tmp_path / "in.mp4", frames, fps=Fraction(24), codec="libx264", pix_fmt="yuv420p",
                       audio_seconds=1.0)
    out = tmp_path / "out.mp4"
    run_job(src, out, JobOptions(model="blend", factor=2, codec="libx264"))

    def audio_packets(path):
        with av.open(str(path)) as c:
            a = c.streams.audio[0]
            return a.codec_context.name, [(p.pts, p.size) for p in c.demux(a) if p.size]

    codec_in, packets_in = audio_packets(src)
    codec_out, packets_out = audio_packets(out)
    assert codec_out == codec_in == "aac"
    assert packets_out == packets_in  # packet for packet, same timestamps


def test_middle_frame_is_better_than_blend_on_real_motion(tmp_path):
    frames = moving_frames(6, width=96, height=64, speed=4.0)
    truth = moving_frames(12, width=96, height=64, speed=2.0)  # half-steps of the same motion
    src = write_frames(tmp_path / "in.mkv", frames)
    scores = {}
    for model in ("flow", "blend"):
        out = tmp_path / f"{model}.mkv"
        run_job(src, out, JobOptions(model=model, codec="ffv1", factor=2))
        got, _ = read_frames(out)
        # compare the inner region (edges have no source for the incoming texture)
        errs = [np.abs(got[2 * i + 1][:, 8:-8].astype(int) - truth[2 * i + 1][:, 8:-8]).mean()
                for i in range(5)]
        scores[model] = float(np.mean(errs))
    assert scores["flow"] < scores["blend"] * 0.5


def test_scene_cut_repeats_the_earlier_frame_and_duplicates_skip_the_model(tmp_path):
    a = moving_frames(4, seed=1)
    b = moving_frames(4, seed=2)
    frames = [*a, a[-1].copy(), *b]  # a duplicate at 3->4, a cut at 4->5
    src = write_frames(tmp_path / "in.mkv", frames)
    model = CountingBlend()
    out = tmp_path / "out.mkv"
    # a fixed batch: on CUDA the preflight's probe would call the model too
    result = run_job(src, out, blend_options(factor=2, batch=1), interpolator=model)
    got, _ = read_frames(out)
    assert np.array_equal(got[2 * 4 + 1], frames[4])  # across the cut: the earlier frame repeats
    assert np.array_equal(got[2 * 3 + 1], frames[3])  # duplicate: no model call needed
    assert model.pairs == result.interpolated_frames == len(frames) - 1 - 2

    model_off = CountingBlend()
    run_job(src, tmp_path / "off.mkv", blend_options(factor=2, scene_cut=None, batch=1), interpolator=model_off)
    assert model_off.pairs == len(frames) - 1 - 1  # only the duplicate is skipped


def test_events_and_abort_mid_run_leave_nothing(tmp_path):
    src = write_frames(tmp_path / "in.mkv", moving_frames(20))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    cancel = threading.Event()
    seen = []

    def on_event(event):
        seen.append(event)
        if isinstance(event, PairDone) and event.index == 4:
            cancel.set()

    with pytest.raises(JobAborted):
        # one pair per batch, on the CPU (where results land at once): cancel is seen after pair 4
        run_job(src, out_dir / "out.mkv", blend_options(device="cpu", batch=1), on_event=on_event,
                cancel=cancel)
    assert leftovers(out_dir) == []
    assert any(isinstance(e, JobStarted) for e in seen)
    assert [e.index for e in seen if isinstance(e, PairDone)] == [0, 1, 2, 3, 4]
    assert isinstance(seen[-1], JobFailed) and seen[-1].aborted


def test_pause_holds_the_job_between_batches(tmp_path):
    src = write_frames(tmp_path / "in.mkv", moving_frames(6))
    pause = threading.Event()
    done = []
    sleeps = []

    def on_event(event):
        if isinstance(event, PairDone):
            done.append(event.index)
            if event.index == 1:
                pause.set()

    def fake_sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 3:
            assert done == [0, 1]  # nothing moved while paused
            pause.clear()

    # on the CPU: on CUDA, waiting for a result on its way back also sleeps
    options = blend_options(device="cpu", batch=1)
    result = run_job(src, tmp_path / "o.mkv", options, on_event=on_event, pause=pause, sleep=fake_sleep)
    assert len(sleeps) == 3 and result.pairs == 5


def test_injected_oom_recovers_with_the_same_frames(tmp_path):
    src = write_frames(tmp_path / "in.mkv", moving_frames(10))
    clean, faulty = tmp_path / "clean.mkv", tmp_path / "faulty.mkv"
    run_job(src, clean, blend_options(factor=3, batch=4))
    events = []
    run_job(src, faulty, blend_options(factor=3, batch=4), on_event=events.append,
            faults=FaultPlan.parse("oom@pair=2;oom@pair=4"))
    a, _ = read_frames(clean)
    b, _ = read_frames(faulty)
    assert len(a) == len(b) == 30 and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    backoffs = [e for e in events if isinstance(e, OomBackoff)]
    assert [(e.old_batch, e.new_batch) for e in backoffs] == [(4, 2), (2, 1)]


def test_injected_oom_at_batch_one_retries_the_same_pair(tmp_path, monkeypatch):
    src = write_frames(tmp_path / "in.mkv", moving_frames(8))
    clean, faulty = tmp_path / "clean.mkv", tmp_path / "faulty.mkv"
    args = ["--model", "blend", "--codec", "ffv1", "--batch", "1", "--quiet"]  # 7 forwards anywhere
    assert main(["run", str(src), "-o", str(clean), *args]) == 0
    monkeypatch.setenv("FRAMEDECK_INJECT", "oom@pair=5")
    assert main(["run", str(src), "-o", str(faulty), *args]) == 0
    a, _ = read_frames(clean)
    b, _ = read_frames(faulty)
    assert len(a) == len(b) == 16 and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_injected_hang_with_stall_timeout_stops_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    src = write_frames(tmp_path / "in.mkv", moving_frames(8))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    monkeypatch.setenv("FRAMEDECK_INJECT", "hang@pair=3,seconds=30")
    code = main(["run", str(src), "-o", str(out_dir / "o.mkv"), "--model", "blend", "--batch", "1",
                 "--stall-timeout", "1"])  # batch 1: a third forward exists on any device
    assert code == StallError.exit_code
    err = capsys.readouterr().err
    assert "model stage made no progress" in err and "--stall-timeout 1" in err
    assert leftovers(out_dir) == []


def test_stalled_event_names_the_stage(tmp_path):
    src = write_frames(tmp_path / "in.mkv", moving_frames(5))
    events = []
    with pytest.raises(StallError):
        run_job(src, tmp_path / "o.mkv", blend_options(stall_timeout=0.5, batch=1), on_event=events.append,
                faults=FaultPlan.parse("hang@pair=2,seconds=20"))
    stalls = [e for e in events if isinstance(e, Stalled)]
    assert stalls and stalls[0].stage == "model"


@pytest.mark.parametrize(("spec", "error", "words", "workers"), [
    ("decode-error@frame=4", DecodeError, "frame 4", None),
    ("encode-error@frame=3", EncodeError, "frame 3", 1),  # raised in the encoder thread
    ("encode-error@frame=3", EncodeError, "frame 3", 2),  # in one of the segment encoders
])
def test_injected_io_errors_fail_cleanly(tmp_path, spec, error, words, workers):
    src = write_frames(tmp_path / "in.mkv", moving_frames(10))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(error, match=words):
        run_job(src, out_dir / "o.mkv", blend_options(encode_workers=workers), faults=FaultPlan.parse(spec))
    assert leftovers(out_dir) == []


def test_finished_event_and_library_defaults(tmp_path):
    src = write_frames(tmp_path / "in.mkv", moving_frames(4))
    events, threads_during = [], []

    def on_event(event):
        events.append(event)
        if isinstance(event, PairDone):
            threads_during.append(torch.get_num_threads())

    torch.set_num_threads(2)
    # the defaults on the CPU: flow, 2x, auto codec
    result = run_job(src, tmp_path / "o.mkv", JobOptions(device="cpu"), on_event=on_event)
    assert isinstance(events[-1], JobFinished) and events[-1] == result
    assert result.output_frames == 8 and result.input_frames == 4
    assert result.model == "model flow, fp32 on cpu (flow: --device cpu)"  # auto on the CPU
    # flow parallelises itself: on the CPU torch runs single-threaded during the job, restored after
    assert set(threads_during) == {1} and torch.get_num_threads() == 2


def test_middle_frames_of_the_generated_clip_against_its_analytic_ground_truth(tmp_path):
    from sample_media.generate import render_frame, write_clip

    fps, w, h = 12, 320, 180
    src = tmp_path / "scene.mkv"
    write_clip(src, w, h, fps, 1.0, audio=False, codec="ffv1")
    scores = {}
    for model in ("flow", "blend"):
        out = tmp_path / f"{model}.mkv"
        run_job(src, out, JobOptions(model=model, codec="ffv1", factor=2))
        got, _ = read_frames(out)
        scores[model] = np.mean([psnr(got[2 * i + 1], render_frame((i + 0.5) / fps, w, h))
                                 for i in range(fps - 1)])
        # the input frames themselves come back exactly
        assert np.array_equal(got[4], render_frame(2 / fps, w, h))
    assert scores["flow"] > scores["blend"] + 2.0, scores  # measured 34.5 vs 31.0 dB
    assert scores["flow"] > 32.0, scores


def test_parallel_segment_encoding_matches_one_encoder(tmp_path):
    frames = moving_frames(40, width=64, height=48)
    src = write_frames(tmp_path / "in.mp4", frames, codec="libx264", pix_fmt="yuv420p", audio_seconds=40 / 24)
    outs = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}.mp4"
        options = JobOptions(model="blend", factor=2, codec="libx264", encode_workers=workers)
        assert run_job(src, out, options).output_frames == 80
        with av.open(str(out)) as c:
            video = [(f.pts, f.key_frame) for f in c.decode(video=0)]
        with av.open(str(out)) as c:
            audio = [(p.pts, p.size) for p in c.demux(c.streams.audio[0]) if p.size]
        outs[workers] = (video, audio)
    (v1, a1), (v2, a2) = outs[1], outs[2]
    assert [p for p, _ in v2] == [p for p, _ in v1] and len(v2) == 80
    assert a2 == a1
    assert sum(k for _, k in v2) >= 2  # every segment starts with a keyframe


@pytest.mark.parametrize(("spec", "stage"), [
    ("hang-decode@frame=3,seconds=60", "decode"),
    ("hang-encode@frame=2,seconds=60", "encode"),
])
def test_a_hung_decoder_or_encoder_is_a_stall_that_stops_cleanly(tmp_path, spec, stage):
    src = write_frames(tmp_path / "in.mkv", moving_frames(30))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    events = []
    with pytest.raises(StallError, match=f"The {stage} stage made no progress"):
        # one encoder: its bounded queue is what holds the job up (segment encoders buffer the
        # whole of this short job, and writer.finish() is not watched for stalls)
        run_job(src, out_dir / "o.mkv", blend_options(stall_timeout=1.0, encode_workers=1),
                on_event=events.append, faults=FaultPlan.parse(spec))
    assert [e.stage for e in events if isinstance(e, Stalled)][:1] == [stage]
    assert leftovers(out_dir) == []


def test_each_frame_is_converted_for_the_model_once(tmp_path, monkeypatch):
    from core.frame_path import RgbFramePath

    converted = []
    original = RgbFramePath.to_tensor

    def counting(self, frame, device):
        converted.append(frame.index)
        return original(self, frame, device)

    monkeypatch.setattr(RgbFramePath, "to_tensor", counting)
    src = write_frames(tmp_path / "in.mkv", moving_frames(7))
    run_job(src, tmp_path / "o.mkv", blend_options(factor=3))
    assert converted == list(range(7))


def test_results_still_on_their_way_from_the_device_are_written_in_order(tmp_path, monkeypatch):
    """On CUDA a batch's copy to the host lands after the next batch is queued; flushes that
    find it not ready move on, and the output is still every frame in order."""
    import core.job
    import core.model_runner
    from core.transfer import PendingDownload, Transfers

    src = write_frames(tmp_path / "in.mkv", moving_frames(11))
    clean = tmp_path / "clean.mkv"
    run_job(src, clean, blend_options(factor=3, batch=2))
    waits: list[int] = []  # how many "not yet" answers each download gave before it was used
    open_downloads = [0, 0]  # now, most at once

    class Late(PendingDownload):
        def __init__(self, host):
            super().__init__(host)
            self.queries = 0
            open_downloads[0] += 1
            open_downloads[1] = max(open_downloads)

        def ready(self):
            self.queries += 1
            return self.queries > 2  # lands after two looks

        def wait(self):
            waits.append(self.queries)
            open_downloads[0] -= 1
            return super().wait()

    class LateTransfers(Transfers):
        def download(self, tensors, model_span=(None, None)):
            return Late([t.cpu() for t in tensors])

    monkeypatch.setattr(core.job, "Transfers", LateTransfers)
    late = tmp_path / "late.mkv"
    result = run_job(src, late, blend_options(factor=3, batch=2))
    got, want = read_frames(late), read_frames(clean)
    assert result.output_frames == 33 and got[1] == want[1]
    assert all(np.array_equal(a, b) for a, b in zip(got[0], want[0], strict=True))
    assert max(waits) >= 1  # some flush found a batch still in flight and went on
    assert open_downloads == [0, core.model_runner.MAX_IN_FLIGHT + 1]  # bounded, and all used


def test_a_gpu_result_that_never_lands_is_a_stall_not_a_hang(tmp_path, monkeypatch):
    import core.job
    from core.transfer import PendingDownload, Transfers

    class Never(PendingDownload):
        def ready(self):
            return False

    class StuckTransfers(Transfers):
        def download(self, tensors, model_span=(None, None)):
            return Never([t.cpu() for t in tensors])

    monkeypatch.setattr(core.job, "Transfers", StuckTransfers)
    src = write_frames(tmp_path / "in.mkv", moving_frames(6))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    events: list[object] = []
    with pytest.raises(StallError, match="The model stage made no progress"):
        run_job(src, out_dir / "o.mkv", blend_options(stall_timeout=1.0), on_event=events.append)
    assert [e.stage for e in events if isinstance(e, Stalled)] == ["model"]
    assert list(out_dir.iterdir()) == []


def test_rife_frames_named_by_index_give_the_frames_compared_by_content(tmp_path, monkeypatch):
    """factor 3 repeats each pair for two timesteps and consecutive pairs share a frame: the
    job's keys must find exactly what pixel comparison finds."""
    from core.interpolators.rife import RifeInterpolator
    from tests.conftest import shared_path

    src = write_frames(tmp_path / "in.mkv", moving_frames(9, 96, 64))
    weights = str(shared_path("models/rife-4.25"))
    outs, encoded = [], []
    for named in (True, False):
        monkeypatch.setattr(RifeInterpolator, "takes_frame_keys", named)
        model = RifeInterpolator(weights, precision="fp32")
        out = tmp_path / f"out_{named}.mkv"
        run_job(src, out, JobOptions(factor=3, model="rife", codec="ffv1", batch=4, scene_cut=None),
                interpolator=model)
        outs.append(read_frames(out))
        encoded.append(model.cache.encoded)
    assert len(outs[0][0]) == 27 and outs[0][1] == outs[1][1]
    assert all(np.array_equal(a, b) for a, b in zip(outs[0][0], outs[1][0], strict=True))
    assert encoded[0] == encoded[1] == 9  # every frame prepared once either way


def test_a_pause_freezes_rate_eta_and_elapsed_and_they_resume_without_a_jump(tmp_path):
    """Fake clock: every pair takes 0.5 s; a 25 s pause after pair 20 must not show in the
    rate, the ETA or the elapsed time of the pairs after it."""
    src = write_frames(tmp_path / "in.mkv", moving_frames(41))
    pause = threading.Event()
    now = [0.0]
    paused_from = [0.0]
    pairs: list[PairDone] = []

    def on_event(event):
        if isinstance(event, PairDone):
            pairs.append(event)
            now[0] += 0.5  # the next pair takes half a second
            if event.index == 20:
                pause.set()
                paused_from[0] = now[0]

    def fake_sleep(seconds):
        now[0] += seconds
        if now[0] - paused_from[0] >= 25.0:
            pause.clear()

    run_job(
        src, tmp_path / "o.mkv", blend_options(batch=1), on_event=on_event, pause=pause,
        clock=lambda: now[0], sleep=fake_sleep,
    )
    before, after = pairs[20], pairs[21]
    assert now[0] >= 40 * 0.5 + 25  # the pause really took fake time
    assert after.elapsed - before.elapsed == pytest.approx(0.5)  # no jump in elapsed
    assert after.pairs_per_second == pytest.approx(2.0, rel=0.05)
    assert after.eta_seconds == pytest.approx(before.eta_seconds - 0.5, abs=0.3)
    assert pairs[-1].eta_seconds == pytest.approx(0.0, abs=0.6)
