"""Output timing: exact slots for factors, target rates and variable-rate input."""

import itertools
from fractions import Fraction

import pytest

from core.schedule import OutputSchedule


def all_slots(schedule: OutputSchedule, pts: list[int], last_duration: int):
    slots = []
    for a, b in itertools.pairwise(pts):
        slots += schedule.pair_slots(a, b)
    slots += schedule.tail_slots(pts[-1], last_duration)
    return slots


@pytest.mark.parametrize("factor", [2, 3, 4, 16])
def test_factor_gives_n_times_frames_evenly_spaced(factor):
    tb, step, n = Fraction(1, 30000), 1001, 120  # 29.97 fps
    schedule = OutputSchedule(tb, Fraction(30000, 1001), factor=factor)
    slots = all_slots(schedule, [i * step for i in range(n)], step)
    assert len(slots) == n * factor
    assert schedule.rate == Fraction(30000, 1001) * factor
    times = [s.pts * schedule.time_base for s in slots]
    gaps = {b - a for a, b in itertools.pairwise(times)}
    assert gaps == {Fraction(1001, 30000 * factor)}
    # the duration is the input's: last slot ends exactly where the input ends
    assert times[-1] + Fraction(1001, 30000 * factor) == Fraction(n * step, 30000)
    assert [s.t for s in slots[:factor]] == [Fraction(k, factor) for k in range(factor)]


def test_factor_follows_variable_frame_rate_timestamps():
    schedule = OutputSchedule(Fraction(1, 1000), Fraction(25), factor=2)
    pts = [0, 40, 120, 130]
    slots = all_slots(schedule, pts, 10)
    times = [s.pts * schedule.time_base for s in slots]
    assert times == [Fraction(x, 1000) for x in (0, 20, 40, 80, 120, 125, 130, 135)]
    assert [s.t for s in slots] == [0, Fraction(1, 2)] * 3 + [0, 0]  # the tail holds the last frame


def test_target_fps_16_to_60_keeps_duration_and_timesteps_in_range():
    tb = Fraction(1, 16)
    schedule = OutputSchedule(tb, Fraction(16), target_fps=Fraction(60))
    slots = all_slots(schedule, list(range(64)), 1)  # 4 s at 16 fps
    assert len(slots) == 240
    assert [s.pts for s in slots] == list(range(240))
    assert all(0 <= s.t < 1 for s in slots)
    # instant 1/60 s lies in the first pair at t = (1/60) / (1/16) = 16/60
    assert slots[1].t == Fraction(16, 60)
    # instants that fall exactly on input frames have t = 0
    assert slots[15].t == 0 and slots[15].pts == 15


def test_target_fps_lower_than_input_skips_pairs():
    schedule = OutputSchedule(Fraction(1, 60), Fraction(60), target_fps=Fraction(30))
    assert schedule.pair_slots(1, 2) == []
    assert [s.pts for s in schedule.pair_slots(0, 1)] == [0]


def test_expected_frames_and_bad_arguments():
    schedule = OutputSchedule(Fraction(1, 25), Fraction(25), factor=3)
    assert schedule.expected_frames(10, 0.4) == 30
    target = OutputSchedule(Fraction(1, 25), Fraction(25), target_fps=Fraction(60000, 1001))
    assert target.expected_frames(100, 4.0) == 240
    with pytest.raises(ValueError):
        OutputSchedule(Fraction(1, 25), Fraction(25))
    with pytest.raises(ValueError):
        schedule.pair_slots(5, 5)


def test_output_pts_of_an_input_instant():
    assert OutputSchedule(Fraction(1, 1000), Fraction(25), factor=3).output_pts(40) == 120
    target = OutputSchedule(Fraction(1, 1000), Fraction(25), target_fps=Fraction(60))
    assert target.output_pts(1000) == 60 and target.output_pts(1001) == 61
