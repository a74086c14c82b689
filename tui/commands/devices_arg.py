"""``--devices`` for ``run`` and ``tui``: one job or one queue shared out over several devices."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable

from core.devices import cuda_count, default_devices, parse_devices
from core.options import JobOptions


def add_devices_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--devices", default=None,
        help="share the work out over several devices (a long clip split over all of them, a queue's short "
        "clips one per device at once): all (every GPU), a list such as cuda:0,cuda:2, "
        "or cpu,cpu (testing); default: all when several GPUs are present, else --device",
    )


def device_pool(args: argparse.Namespace, options: JobOptions,
                count: Callable[[], int] = cuda_count) -> tuple[object | None, str | None, JobOptions]:
    """The :class:`core.device_job.DevicePool` for ``--devices`` (None: one device), the line
    for the log that says what was chosen, and the options (``device`` set when one is named)."""
    spec = getattr(args, "devices", None)
    if spec is None:
        if options.device != "auto":  # --device names one: that one
            return None, None, options
        devices = default_devices(count)
        if devices is None:
            return None, None, options
        line = (f"{len(devices)} GPUs here: each clip is shared out over all of them ({', '.join(devices)}; "
                "the default --devices all; --devices cuda:0 uses one)")
    else:
        devices = parse_devices(spec, count)
        if len(devices) == 1:
            return None, f"--devices {spec}: one device, {devices[0]}", dataclasses.replace(options, device=devices[0])
        line = f"--devices {spec}: each clip is shared out over {len(devices)} devices ({', '.join(devices)})"
    from core.device_job import DevicePool

    return DevicePool(devices), line, dataclasses.replace(options, device=devices[0])
