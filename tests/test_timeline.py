"""Timeline: presentation timestamps, duplicates, timestamps going backwards, gaps from damage."""

from __future__ import annotations

from fractions import Fraction

from core.video.timeline import DamageReport, Timeline


def placed(timeline: Timeline, stamps: list[int | None], slots: list[int | None] | None = None) -> list:
    out = []
    for i, pts in enumerate(stamps):
        where = timeline.place(pts, None, slots[i] if slots else None)
        out.append(None if where is None else (where.pts, where.missing))
    return out


def test_constant_rate_gap_is_counted_with_its_times() -> None:
    report = DamageReport("in.mkv")
    timeline = Timeline(Fraction(1, 1000), Fraction(24), report)
    got = placed(timeline, [0, 42, 83, 125, 167, 500, 542])
    assert got == [(0, 0), (42, 0), (83, 0), (125, 0), (167, 0), (500, 7), (542, 0)]
    assert report.damaged and [(g.before, g.after, g.missing) for g in report.gaps] == [(0.167, 0.5, 7)]
    assert report.warnings()[0].startswith("7 frames of in.mkv are missing in 1 gap(s) at 0.167-0.500 s (7)")


def test_variable_rate_pauses_are_not_damage_unless_a_packet_failed() -> None:
    report = DamageReport("vfr.mp4")
    timeline = Timeline(Fraction(1, 1000), Fraction(30), report)
    got = placed(timeline, [0, 33, 50, 120, 140, 400])  # irregular spacing: a screen recording
    assert [m for _, m in got] == [0] * 6 and not report.damaged
    timeline.error_pending = True  # a packet before the next frame did not decode
    assert timeline.place(900, None).missing > 0 and report.damaged


def test_duplicates_are_left_out_and_counted() -> None:
    report = DamageReport("dup.mkv")
    timeline = Timeline(Fraction(1, 1000), Fraction(25), report)
    assert placed(timeline, [0, 40, 40, 80, 80, 120]) == [(0, 0), (40, 0), None, (80, 0), None, (120, 0)]
    assert report.duplicates == [0.04, 0.08] and not report.damaged
    assert "2 frame(s) of dup.mkv repeat the timestamp" in report.warnings()[0]


def test_timestamps_going_backwards_switch_to_index_timing_and_lose_nothing() -> None:
    report = DamageReport("odd.mp4")
    timeline = Timeline(Fraction(1, 25), Fraction(25), report)
    got = placed(timeline, [0, 1, 2, 3, 2, 3, 1])
    assert [p for p, _ in got] == [0, 1, 2, 3, 4, 5, 6]  # every frame kept, strictly increasing
    assert report.backwards == 0.12 and "go backwards at 0.120 s" in report.warnings()[0]


def test_index_timing_takes_the_given_slots_and_missing_timestamps() -> None:
    report = DamageReport("in.avi")
    timeline = Timeline(Fraction(1, 10), Fraction(10), report, index_timing=True)
    assert [p for p, _ in placed(timeline, [1, 4, 3, 2], slots=[0, 1, 3, None])] == [0, 1, 3, 4]
    raw = Timeline(Fraction(1, 1200000), Fraction(24), DamageReport("in.h264"))
    assert [p for p, _ in placed(raw, [None, None, None])] == [0, 50000, 100000]


def test_a_nominal_rate_twice_the_real_one_is_no_damage() -> None:
    """Interlaced input whose header gives the field rate: frames come at half the nominal rate."""
    report = DamageReport("in.ts")
    timeline = Timeline(Fraction(1, 90000), Fraction(50), report)
    got = placed(timeline, [i * 3600 for i in range(8)])  # 25 frames per second
    assert [m for _, m in got] == [0] * 8 and not report.gaps
