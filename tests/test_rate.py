"""The rate/ETA estimator with a fake clock."""

from core.rate import RateEstimator, format_eta


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_warmup_is_left_out_and_eta_appears_after_enough_pairs():
    clock = FakeClock()
    est = RateEstimator(total=100, clock=clock, warmup=2, min_samples=3)
    clock.now += 10.0  # slow first pair (model load)
    est.update(1)
    clock.now += 5.0
    est.update(2)
    assert est.rate is None and est.eta is None
    for done in range(3, 6):
        clock.now += 0.5
        est.update(done)
    assert est.rate == 2.0
    assert est.eta == (100 - 5) / 2.0
    assert est.elapsed == 16.5


def test_rate_smooths_and_eta_follows_a_slowdown():
    clock = FakeClock()
    est = RateEstimator(total=1000, clock=clock, warmup=0, window=5, min_samples=2, smoothing=0.5)
    for done in range(1, 11):
        clock.now += 1.0
        est.update(done)
    assert est.rate == 1.0
    for done in range(11, 16):
        clock.now += 2.0
        est.update(done)
    assert 0.5 < est.rate < 1.0  # smoothed, moving toward 0.5
    assert est.eta == (1000 - 15) / 0.5  # the window now holds only slow pairs


def test_format_eta():
    assert format_eta(None) == "--:--"
    assert format_eta(65.4) == "1:05"
    assert format_eta(3725) == "1:02:05"
    assert format_eta(None, unknown="-") == "-" and format_eta(59.6, unknown="-") == "1:00"


def test_bursts_of_pairs_from_one_batch_do_not_inflate_the_rate():
    clock = FakeClock()
    est = RateEstimator(total=100, clock=clock, warmup=0, min_samples=2)
    done = 0
    for _ in range(6):  # a batch of 4 pairs every 2 s, all finishing at the same instant
        clock.now += 2.0
        for _ in range(4):
            done += 1
            est.update(done)
    assert est.rate == 2.0
    assert est.eta == (100 - 24) / 2.0
