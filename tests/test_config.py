"""The config file: where it is looked for, what it may set, that flags win, and that every
mistake is one sentence with a non-zero exit and no secret printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.config import Config, default_path, load_config
from core.errors import OptionError
from tests.conftest import ROOT
from tui.cli import build_parser, main
from tui.commands.config_args import read_config


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_default_path_honours_xdg_config_home(tmp_path: Path) -> None:
    assert default_path({"XDG_CONFIG_HOME": str(tmp_path), "HOME": "/nowhere"}) == tmp_path / "framedeck" / "config.toml"
    assert default_path({"HOME": str(tmp_path)}) == tmp_path / ".config" / "framedeck" / "config.toml"
    assert default_path({"XDG_CONFIG_HOME": "", "HOME": str(tmp_path)}) == tmp_path / ".config" / "framedeck" / "config.toml"
    assert default_path({"XDG_CONFIG_HOME": "relative", "HOME": str(tmp_path)}).parent.parent == tmp_path / ".config"


def test_a_missing_default_file_is_no_config_but_a_missing_named_one_is_an_error(tmp_path: Path) -> None:
    config = load_config(None, {"XDG_CONFIG_HOME": str(tmp_path)})
    assert config.path is None and config.values == {}
    assert "does not exist" in config.describe()
    with pytest.raises(OptionError, match=r"^The config file .*nope.toml does not exist\.$"):
        load_config(tmp_path / "nope.toml", {})


def test_values_read_and_checked(tmp_path: Path) -> None:
    file = write(tmp_path / "c.toml", 'upload = "b2://bucket/renders"\nshutdown = "vastai"\n'
                 'price_per_hour = 2\nmodel = "rife"\nweights = "~/w/flownet.pkl"\n')
    config = load_config(file, {})
    assert config.values["price_per_hour"] == 2.0 and isinstance(config.values["price_per_hour"], float)
    assert config.values["weights"] == str(Path.home() / "w" / "flownet.pkl")
    assert config.describe().startswith(f"{file}: model=rife, price_per_hour=2.0, shutdown=vastai, upload=b2://bucket/renders")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("upload = [", "is not valid TOML ("),
        ("[section]\nupload = 1", "unknown setting 'section'"),
        ('colour = "cpu"', "unknown setting 'colour'"),
        ('b2_application_key = "K005secretsecret"', "unknown setting 'b2_application_key'"),
        ("price_per_hour = -1", "sets price_per_hour to something that is not a number"),
        ('price_per_hour = "cheap"', "sets price_per_hour to something that is not a number"),
        ("price_per_hour = true", "sets price_per_hour to something that is not a number"),
        ('shutdown = "reboot"', "sets shutdown to something that is not auto, vastai"),
        ('shutdown = "command:  "', "sets shutdown to something that is not auto, vastai"),
        ("model = 3", "sets model to something that is not auto, flow"),
    ],
)
def test_bad_config_is_one_sentence_naming_the_key_never_the_value(tmp_path: Path, text: str, says: str) -> None:
    file = write(tmp_path / "c.toml", text + "\n")
    with pytest.raises(OptionError) as caught:
        load_config(file, {})
    message = str(caught.value)
    assert says in message and message.endswith(".") and "\n" not in message
    assert "K005secret" not in message and "reboot" not in message and "cheap" not in message


def test_an_unreadable_config_is_one_sentence(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_bytes(b"\xff\xfe not text")
    with pytest.raises(OptionError, match=r"cannot be read: not UTF-8 text\.$"):
        load_config(file, {})


def test_without_tomllib_or_tomli_a_config_file_is_refused_in_one_sentence(tmp_path: Path, monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_toml(name: str, *args, **kwargs):
        if name in ("tomllib", "tomli"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_toml)
    file = write(tmp_path / "c.toml", 'model = "flow"\n')
    with pytest.raises(OptionError, match=r"needs Python 3\.11 or the tomli package"):
        load_config(file, {})
    assert load_config(None, {"XDG_CONFIG_HOME": str(tmp_path / "none")}).path is None  # no file: no need


def parse(argv: list[str], config: Config):
    return build_parser(config).parse_args(argv)


def test_command_line_flags_win_over_the_config_file(tmp_path: Path) -> None:
    file = write(tmp_path / "c.toml", 'upload = "file:///srv/up"\nshutdown = "runpod"\nprice_per_hour = 1.5\n'
                 'model = "blend"\nweights = "/w/x.pkl"\nb2_key_file = "/k/b2"\n')
    config = read_config(["tui", "in.mp4", "-o", "out.mp4", "--config", str(file)], {})
    assert config.path == file
    args = parse(["tui", "in.mp4", "-o", "out.mp4", "--config", str(file)], config)
    assert (args.upload, args.shutdown, args.price_per_hour, args.model, args.weights, args.b2_key_file) == (
        "file:///srv/up", "runpod", 1.5, "blend", "/w/x.pkl", "/k/b2")
    args = parse(["tui", "in.mp4", "-o", "out.mp4", "--upload", "off", "--shutdown", "poweroff",
                  "--price-per-hour", "0.4", "--model", "flow", "--weights", "/other.pkl"], config)
    assert (args.upload, args.shutdown, args.price_per_hour, args.model, args.weights) == (
        "off", "poweroff", 0.4, "flow", "/other.pkl")
    run = parse(["run", "in.mp4", "-o", "out.mp4"], config)  # run takes the model, not the upload
    assert (run.model, run.weights) == ("blend", "/w/x.pkl") and not hasattr(run, "upload")
    watch = parse(["watch", "--watch-dir", "d", "--upload", "file:///x"], config)
    assert watch.shutdown == "runpod" and watch.upload == "file:///x"


def test_the_default_file_is_read_from_xdg_config_home(tmp_path: Path) -> None:
    write(tmp_path / "framedeck" / "config.toml", 'model = "blend"\n')
    config = read_config(["run", "a.mp4", "-o", "b.mp4"], {"XDG_CONFIG_HOME": str(tmp_path)})
    assert config.path == tmp_path / "framedeck" / "config.toml" and config.values == {"model": "blend"}


def test_a_bad_config_file_ends_the_command_in_one_sentence(tmp_path: Path, capsys) -> None:
    file = write(tmp_path / "c.toml", "price_per_hour = [1, 2]\n")
    assert main(["run", "a.mp4", "-o", "b.mp4", "--config", str(file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("framedeck: The config file ") and err.count("\n") == 1


def test_doctor_names_the_file_it_read_and_hides_nothing_secret(tmp_path: Path) -> None:
    file = write(tmp_path / "framedeck" / "config.toml", 'upload = "b2://bucket/p"\nb2_key_file = "/k/b2"\n')
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path),
           "B2_APPLICATION_KEY": "K005topsecretvalue", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "tui.cli", "doctor"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    line = next(line for line in done.stdout.splitlines() if line.startswith("config file"))
    assert f"{file}: b2_key_file=/k/b2, upload=b2://bucket/p" in line
    assert "topsecret" not in done.stdout + done.stderr


def test_doctor_shows_a_bad_config_file_with_the_rest_and_fails(tmp_path: Path, capsys) -> None:
    file = write(tmp_path / "c.toml", 'shutdown = "reboot"\n')
    assert main(["doctor", "--config", str(file)]) == 2
    out, err = capsys.readouterr()
    assert "config file" in out and "sets shutdown to something that is not" in out and "python" in out
    assert err.startswith("framedeck: The config file") and "reboot" not in out + err
