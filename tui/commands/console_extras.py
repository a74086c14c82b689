"""Options of ``framedeck tui`` for time and money: ``--price-per-hour`` (also from the
config file, core/config.py), and ``--upload off`` to drop a configured upload target."""

from __future__ import annotations

import argparse
import math

from core.errors import OptionError

NO_UPLOAD = ("off", "none")


def _price(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a price: {text!r} (a number such as 2.49)") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"the price per hour must be 0 or more, got {text!r}")
    return value


def add_console_extras(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--price-per-hour", type=_price, default=None, metavar="X",
        help="what the machine costs per hour: the console shows the cost so far and the projected total",
    )


def upload_target(value: str | None) -> str | None:
    """The upload target, None for none (``--upload off`` overrides the config file's)."""
    if value is None or value.strip().lower() in NO_UPLOAD:
        return None
    if not value.strip():
        raise OptionError("--upload needs a target such as b2://BUCKET/PREFIX or file:///PATH, or off.")
    return value
