"""Time and money (session/outlook.py) on a fake clock: a pause moves the finish, the stop
and the projected cost later by exactly the time paused, and nothing jumps when it ends."""

from __future__ import annotations

import pytest

from session.outlook import StopPlan, outlook

START = 1_700_000_000.0
PLAN = StopPlan(confirm=3, check_interval=10.0, countdown=60.0)


def test_finish_stop_and_cost_from_the_work_left() -> None:
    o = outlook(START + 1800, START, 600.0, stop=PLAN, price_per_hour=2.0)
    assert o.finish_at == START + 2400
    assert o.stop_in == 600 + 2 * 10 + 60 and o.stop_at == START + 1800 + 680
    assert o.cost_so_far == pytest.approx(1.0)  # half an hour at 2/h
    assert o.cost_total == pytest.approx(2.0 * (1800 + 680) / 3600)
    assert not o.upload_counted


def test_the_upload_counts_once_its_rate_is_known() -> None:
    plan = StopPlan(3, 10.0, 60.0, upload_rate=10e6, upload_bytes=300_000_000)
    o = outlook(START, START, 100.0, stop=plan)
    assert o.upload_counted and o.stop_in == 100 + 30 + 20 + 60
    assert o.cost_so_far is None and o.cost_total is None  # no price, no money


def test_without_a_watchdog_nothing_stops_and_the_total_is_at_the_end_of_the_work() -> None:
    o = outlook(START + 360, START, 360.0, price_per_hour=10.0)
    assert o.stop_at is None and o.stop_in is None
    assert o.cost_total == pytest.approx(2.0)


def test_unknown_work_leaves_times_unknown_but_counts_the_cost_so_far() -> None:
    o = outlook(START + 3600, START, None, stop=PLAN, price_per_hour=1.5)
    assert o.finish_at is None and o.stop_at is None and o.cost_total is None
    assert o.cost_so_far == pytest.approx(1.5)


def test_a_pause_moves_finish_stop_and_total_later_by_the_time_paused() -> None:
    """The job's ETA leaves paused time out (core/job_control.py), so while paused the work
    left stays put; the wall clock runs on. After 25 s of pause everything is 25 s later and
    the projection grows by 25 s of price, with no jump when the job resumes."""
    eta = 91.0  # the job's ETA when it was paused, and the same while it is held
    before = outlook(START + 100, START, eta, stop=PLAN, price_per_hour=3.6)
    paused = [outlook(START + 100 + s, START, eta, stop=PLAN, price_per_hour=3.6) for s in (5, 15, 25)]
    assert [o.finish_at - before.finish_at for o in paused] == [5, 15, 25]
    assert [o.stop_at - before.stop_at for o in paused] == [5, 15, 25]
    assert all(o.stop_in == before.stop_in for o in paused)  # the countdown to the stop is held
    assert paused[-1].cost_total - before.cost_total == pytest.approx(25 * 3.6 / 3600)
    # resumed: one second of work later the ETA is one second less; finish does not move
    resumed = outlook(START + 126, START, eta - 1, stop=PLAN, price_per_hour=3.6)
    assert resumed.finish_at == paused[-1].finish_at
