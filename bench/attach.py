"""What the attach socket costs a session, and how fast a key from an attached console lands.

    .venv/bin/python -m bench.attach [--events 20000] [--keys 200]

A :class:`tui.session.ConsoleSession` (not running a job) with its
:class:`session.remote.server.SessionServer`; ``--events`` progress events are emitted from
one thread, the way a job emits them, with 0, 1 and 3 consoles attached (each a separate
process that reads every line). Reported: CPU seconds of the session's process per 1000
events (the emitting thread and the server's writer threads together) and how long the
emitting thread spent per event. Then ``--keys`` pause/resume commands from a connection in
this process, each timed until its reply (the command applied in the session).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.events import PairDone
from core.options import JobOptions
from session.remote.client import Connection
from session.remote.paths import private_folder
from session.remote.server import SessionServer
from tui.session import ConsoleSession

READER = """
import sys
from pathlib import Path
from session.remote.client import Connection
c = Connection(Path(sys.argv[1])); c.stream()
print("ready", flush=True)
n = 0
while (m := c.read()) is not None:
    n += m.get("type") == "event"
    if n >= int(sys.argv[2]):
        break
print(n, flush=True)
"""


def emit_burst(session: ConsoleSession, server: SessionServer, events: int, consoles: int) -> tuple[float, float]:
    readers = [
        subprocess.Popen([sys.executable, "-c", READER, str(server.path), str(events)],
                         stdout=subprocess.PIPE, text=True)
        for _ in range(consoles)
    ]
    for reader in readers:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "ready"
    time.sleep(0.5)  # the history replay is read before the burst
    cpu0, thread0 = time.process_time(), time.thread_time()
    for i in range(events):
        session.emit(PairDone(i, events, 0.01, 2 * i + 2, True, 90.0, (events - i) / 90.0, i / 90.0))
    thread_cpu = time.thread_time() - thread0
    for reader in readers:
        out, _ = reader.communicate(timeout=120)
        assert int(out.split()[-1]) >= events, out
    return time.process_time() - cpu0, thread_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--keys", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fdb") as folder:
        base = Path(folder)
        session = ConsoleSession("in.mp4", "out.mp4", JobOptions(), log_path=base / "bench.log")
        server = SessionServer(session, private_folder(base / "s") / "bench.sock")
        server.start()
        for consoles in (0, 1, 3):
            total, thread = emit_burst(session, server, args.events, consoles)
            print(f"{consoles} console(s): {1000 * total / args.events:.3f} CPU s per 1000 events "
                  f"(emitting thread {1e6 * thread / args.events:.1f} us per event)")
        connection = Connection(server.path)
        connection.stream()
        while (message := connection.read()) is not None and message.get("type") != "state":
            pass
        session.engine.add("in.mp4", "out.mp4")  # a job to pause (never run)
        times = []
        for i in range(args.keys):
            start = time.perf_counter()
            connection.send({"cmd": "pause" if i % 2 == 0 else "resume", "id": i})
            while (message := connection.read()) is not None and message.get("type") != "reply":
                pass
            assert message is not None and message["ok"], message
            times.append(time.perf_counter() - start)
        times.sort()
        print(f"key to applied (reply): median {1000 * statistics.median(times):.2f} ms, "
              f"95th {1000 * times[int(0.95 * len(times))]:.2f} ms over {args.keys} keys")
        connection.close()
        server.close()
        session.close()


if __name__ == "__main__":
    main()
