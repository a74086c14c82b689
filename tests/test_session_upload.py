"""A queue with ``--upload``: each output handed to the watchdog as it lands, the stop only
after the last one is verified (the real watchdog, file:// storage, dry run)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.clips import moving_frames, write_frames
from tui.cli import main


def test_tui_headless_queue_uploads_both_and_the_sentinel_lists_them(tmp_path, capsys) -> None:
    a = write_frames(tmp_path / "a.mkv", moving_frames(4, seed=1))
    b = write_frames(tmp_path / "b.mkv", moving_frames(4, seed=2))
    bad = tmp_path / "c.mp4"
    bad.write_text("not a video\n")
    target = tmp_path / "T"
    target.mkdir()
    out = tmp_path / "OUT"
    code = main([
        "tui", str(a), str(b), str(bad), "-o", f"{out}/", "--upload", target.as_uri(), "--headless",
        "--confirm", "2", "--check-interval", "0.5", "--countdown", "0", "--device", "cpu", "--model", "blend",
    ])
    printed = capsys.readouterr().out
    assert code == 1  # c failed
    sentinel = out / "stop-sentinel.json"
    record = json.loads(sentinel.read_text())
    listed = sorted(Path(f["local_path"]).name for f in record["files"])
    assert listed == ["a.mkv", "b.mkv"]
    assert all(f["passed"] == 2 for f in record["files"])
    assert [Path(f).name for f in record["failed_inputs"]] == ["c.mp4"]
    # the sentinel came after both verifications
    log = (out / "framedeck.log").read_text().splitlines()
    verified = [i for i, line in enumerate(log) if "a.mkv verified 2/2 (id" in line or "b.mkv verified 2/2 (id" in line]
    written = next(i for i, line in enumerate(log) if "sentinel written" in line)
    assert len(verified) == 2 and max(verified) < written
    handed_a = next(i for i, line in enumerate(log) if "clip a.mkv uploading" in line)
    assert handed_a < next(i for i, line in enumerate(log) if "stage probing" in line and "b.mkv" in line)
    assert "clip a.mkv verified" in "\n".join(log) and "the producer failed on 1 input(s)" in "\n".join(log)
    assert (target / "a.mkv").read_bytes() == (out / "a.mkv").read_bytes()
    assert (target / "b.mkv").read_bytes() == (out / "b.mkv").read_bytes()
    assert "clip" in printed and "failed" in printed
    # the summary speaks of every output, not only the last clip's
    assert f"output:   2 of 3 clips written in {out}/" in printed
    assert f"uploaded: 2 of 2 outputs verified in {target.as_uri().rstrip('/')}/" in printed


def test_keep_running_on_failure_keeps_the_machine_up(tmp_path, capsys) -> None:
    a = write_frames(tmp_path / "a.mkv", moving_frames(4, seed=1))
    bad = tmp_path / "b.mp4"
    bad.write_text("not a video\n")
    target = tmp_path / "T"
    target.mkdir()
    out = tmp_path / "OUT"
    code = main([
        "tui", str(a), str(bad), "-o", f"{out}/", "--upload", target.as_uri(), "--headless", "--confirm", "1",
        "--check-interval", "0", "--countdown", "0", "--device", "cpu", "--model", "blend", "--keep-running-on-failure",
    ])
    printed = capsys.readouterr().out
    assert code == 1 and not (out / "stop-sentinel.json").exists()
    assert "watchdog: cancelled" in printed
    log = (out / "framedeck.log").read_text()
    assert "--keep-running-on-failure keeps the machine up" in log
    assert log.index("a.mkv verified 1/1") < log.index("the machine keeps running for a person to look")
    assert (target / "a.mkv").read_bytes() == (out / "a.mkv").read_bytes()
