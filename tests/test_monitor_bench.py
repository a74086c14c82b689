"""Smoke test of bench/watchdog_stop.py: tiny sizes, every figure there and finite, nothing left."""

from __future__ import annotations

import math

from bench import watchdog_stop


def test_watchdog_stop_bench_reports_both_figures_and_cleans_up(tmp_path, capsys):
    report = watchdog_stop.main(
        ["--size-mib", "8", "--settle", "0.5", "--confirm", "2", "--check-interval", "0.2",
         "--hash-gib", "0.0625", "--dir", str(tmp_path)]
    )
    stop, sha1 = report["stop"], report["sha1"]
    assert stop["seconds"] >= 0.5 and math.isfinite(stop["seconds"])  # never before the settle time
    assert stop["command"].startswith("watch --watch-dir") and "--settle 0.5" in stop["command"]
    assert sha1["file_gib"] == 0.0625 and sha1["file_mib_s"] > 0 and sha1["memory_mib_s"] > 0
    assert list(tmp_path.iterdir()) == []
    assert "last write -> stop" in capsys.readouterr().out
