"""``framedeck models``: list known RIFE releases and their cache; ``models fetch NAME``."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from core.models.catalog import CATALOG, CatalogEntry, cached_file, models_dir
from core.models.fetch import fetch_model


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("models", help="list RIFE weights and where they are cached; fetch one")
    actions = parser.add_subparsers(dest="models_action", metavar="ACTION")
    fetch = actions.add_parser("fetch", help="download an official release, checksum-verified")
    fetch.add_argument("name", help="a name from `framedeck models`, e.g. 4.25 or hdv3")
    parser.set_defaults(handler=handle)


def list_models(
    out: TextIO, catalog: tuple[CatalogEntry, ...] = CATALOG
) -> None:
    """One line per release: name, cache state and path, title and source."""
    root = models_dir()
    print(f"model cache: {root}  (set FRAMEDECK_CACHE to move it)", file=out)
    for entry in catalog:
        path = cached_file(entry, root)
        if path.is_file():
            state = f"cached      {path}"
        elif entry.url:
            state = f"not cached  framedeck models fetch {entry.name}"
        else:
            state = "manual      pass --weights PATH/train_log"
        print(f"  {entry.name:<6} {state}", file=out)
        print(f"         {entry.title}; {entry.note}", file=out)
    print("use: --model rife --weights NAME|PATH (a flownet.pkl or train_log/ folder)", file=out)


def _progress(out: TextIO) -> object:
    last = [-1]

    def report(done: int, total: int | None) -> None:
        step = done * 10 // total if total else done >> 23
        if step != last[0]:
            last[0] = step
            pct = f"{done * 100 // total}%" if total else f"{done >> 20} MiB"
            print(f"  downloading... {pct}", file=out, flush=True)

    return report


def handle(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if getattr(args, "models_action", None) == "fetch":
        path = fetch_model(args.name, progress=_progress(sys.stderr))  # type: ignore[arg-type]
        print(f"{args.name}: verified and cached at {path}", file=out)
        return 0
    list_models(out)
    return 0
