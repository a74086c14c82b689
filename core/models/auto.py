"""``--model auto``: the best model this machine runs, and one sentence on why it was chosen.

On a CUDA device: RIFE with the best weights in the cache (4.25/4.26 first, then the newest
4.x, then HDv3), or the weights ``--weights`` names; with nothing cached, RIFE 4.25 is
fetched (sha256-checked, see core/models/fetch.py); when that fails, or with ``--offline``,
``flow`` runs with one warning naming the fetch command. On the CPU: ``flow``, which needs no
weights. Any other ``--model`` is used as given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from core.errors import FramedeckError
from core.events import ModelChosen, ModelFetch
from core.models.catalog import CATALOG, CatalogEntry, cached_file, models_dir
from core.models.fetch import Progress, fetch_model
from core.models.loader import resolve_weights

if TYPE_CHECKING:
    from core.interpolators.base import Interpolator
    from core.options import JobOptions

DEFAULT_FETCH = "4.25"  # what auto downloads when nothing is cached
FETCH_HINT = f"framedeck models fetch {DEFAULT_FETCH}"

Fetcher = Callable[..., Path]
Log = Callable[[str, str], None]


@dataclass(frozen=True)
class ModelChoice:
    """What the job builds (``model`` and ``weights`` for create_interpolator) and why."""

    model: str
    weights: str | None
    reason: str  # "RIFE 4.25 from the cache", "RIFE 4.25 fetched", "flow: no GPU", ...
    title: str  # for people: "RIFE 4.25", "flow"


def _rank(entry: CatalogEntry) -> tuple[int, ...]:
    """Larger is better: 4.25/4.26 (the same network), then other 4.x by version, then HDv3."""
    if entry.family == "rife-4.25":
        return (2, *_version(entry.name))
    if entry.name.startswith("4."):
        return (1, *_version(entry.name))
    return (0,)


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def cached_weights(
    root: Path | None = None, catalog: tuple[CatalogEntry, ...] = CATALOG
) -> list[tuple[CatalogEntry, Path]]:
    """The catalog's releases present in the cache, best first."""
    root = root or models_dir()
    found = [(entry, cached_file(entry, root)) for entry in catalog]
    return sorted(((e, p) for e, p in found if p.is_file()), key=lambda item: _rank(item[0]), reverse=True)


def choose_model(
    model: str,
    weights: str | None,
    device: torch.device,
    *,
    offline: bool = False,
    device_asked: str = "auto",
    root: Path | None = None,
    catalog: tuple[CatalogEntry, ...] = CATALOG,
    fetch: Fetcher = fetch_model,
    progress: Progress | None = None,
    log: Log | None = None,
) -> ModelChoice:
    """Resolve ``--model`` (``auto`` or a name) on ``device``; see the module docstring.

    ``log(level, message)`` gets the one warning when auto falls back to flow; ``progress``
    follows a download. Never raises for auto: every failure ends in flow.
    """
    if model != "auto":
        return ModelChoice(model, weights, f"--model {model}", model)
    if device.type != "cuda":
        why = "no GPU" if device_asked == "auto" else f"--device {device_asked}"
        if weights:
            _warn(log, f"--weights {weights} is not used: --model auto runs flow on the CPU; "
                       "add --model rife to run those weights here.")
        return ModelChoice("flow", None, f"flow: {why}", "flow")
    if weights:
        return ModelChoice("rife", weights, "RIFE from --weights", "RIFE")
    cached = cached_weights(root, catalog)
    if cached:
        entry, path = cached[0]
        return ModelChoice("rife", str(path), f"RIFE {entry.name} from the cache", f"RIFE {entry.name}")
    if offline:
        _warn(log, f"--offline and no RIFE weights are cached: running flow; `{FETCH_HINT}` caches them.")
        return ModelChoice("flow", None, "flow: offline", "flow")
    try:
        path = fetch(DEFAULT_FETCH, catalog=catalog, root=root, progress=progress)
    except FramedeckError as exc:
        _warn(log, f"RIFE {DEFAULT_FETCH} could not be fetched ({str(exc).rstrip('.')}): running flow; "
                   f"retry with `{FETCH_HINT}`.")
        return ModelChoice("flow", None, "flow: fetch failed", "flow")
    return ModelChoice("rife", str(path), f"RIFE {DEFAULT_FETCH} fetched", f"RIFE {DEFAULT_FETCH}")


def preview(cuda: bool, root: Path | None = None, catalog: tuple[CatalogEntry, ...] = CATALOG) -> str:
    """What ``--model auto`` would run here now (for ``framedeck doctor``); downloads nothing."""
    if not cuda:
        return "flow: no GPU"
    cached = cached_weights(root, catalog)
    if cached:
        return f"RIFE {cached[0][0].name} from the cache"
    return f"RIFE {DEFAULT_FETCH}, fetched at the first job (`{FETCH_HINT}` now; --offline runs flow)"


def _warn(log: Log | None, message: str) -> None:
    if log is not None:
        log("warning", message)


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def weights_file(choice: ModelChoice) -> Path | None:
    """The file the chosen model reads its weights from, once it has loaded."""
    if choice.model == "rife" and choice.weights:
        return resolve_weights(choice.weights)
    if choice.weights and Path(choice.weights).is_file():
        return Path(choice.weights)
    return None


def chosen_event(choice: ModelChoice, label: str, precision: str, device: str) -> ModelChosen:
    """The event that says, once before the job, what runs and why. ``label`` is the loaded
    model's own name for itself (a RIFE family), used where the choice has no better one."""
    path = weights_file(choice)
    title = choice.title if choice.title not in ("RIFE", choice.model) else label
    return ModelChosen(
        model=choice.model,
        title=title,
        weights=str(path) if path is not None else None,
        sha256=sha256_of(path) if path is not None else None,
        precision=precision,
        device=device,
        reason=choice.reason,
    )


def fetch_progress(emit: Callable[[ModelFetch], None], name: str = DEFAULT_FETCH) -> Progress:
    """A download progress callback that emits one event per tenth (or per 8 MiB)."""
    last = [-1]

    def report(done: int, total: int | None) -> None:
        step = done * 10 // total if total else done >> 23
        if step != last[0]:
            last[0] = step
            emit(ModelFetch(name, done, total))

    return report


def choice_for_job(
    options: JobOptions,
    device: torch.device,
    interpolator: Interpolator | None,
    emit: Callable[[ModelFetch], None],
    log: Log,
) -> ModelChoice:
    """The job's choice: a ready-made interpolator as given, else :func:`choose_model`."""
    if interpolator is not None:  # a session's warm model carries the choice made for it
        chosen = getattr(interpolator, "choice", None)
        if isinstance(chosen, ModelChoice):
            return chosen
        return ModelChoice(interpolator.name, None, "given to run_job", interpolator.name)
    return choose_model(
        options.model, options.weights, device, offline=options.offline, device_asked=options.device,
        progress=fetch_progress(emit), log=log,
    )
