"""Configuration: precedence flags > env > file > defaults, validation messages, check-config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from syncer.cli.args import build_parser, settings_from
from syncer.config import load_settings
from syncer.core.errors import FatalError

EXAMPLE = Path(__file__).parent.parent / "config" / "example.yaml"


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return str(path)


def test_example_config_is_valid():
    settings = load_settings(str(EXAMPLE))
    assert settings.source.tracking_uri == "http://127.0.0.1:5000"
    assert settings.workers == 8 and settings.deleted == "skip"


def test_precedence_flags_over_env_over_file_over_defaults(tmp_path, monkeypatch):
    path = _write(tmp_path, "source: {tracking_uri: file-src, registry_uri: file-reg}\n"
                            "destination: {tracking_uri: file-dst}\nworkers: 3\ndeleted: mirror\n")
    assert load_settings(path).workers == 3
    assert load_settings(path).quarantine_after == 3  # default
    monkeypatch.setenv("MLFLOW_SYNCER_WORKERS", "5")
    monkeypatch.setenv("MLFLOW_SYNCER_SOURCE__TRACKING_URI", "env-src")
    s = load_settings(path)
    assert (s.workers, s.source.tracking_uri, s.source.registry_uri, s.deleted) == (5, "env-src", "file-reg", "mirror")
    args = build_parser().parse_args(["migrate", "--config", path, "--workers", "2", "--source", "flag-src"])
    s = settings_from(args)
    assert (s.workers, s.source.tracking_uri, s.source.registry_uri) == (2, "flag-src", "file-reg")
    assert s.destination.tracking_uri == "file-dst"


@pytest.mark.parametrize("text, message", [
    ("wrokers: 3\n", "unknown option 'wrokers'; did you mean 'workers'?"),
    ("source: {tracking_uri: x, registy_uri: y}\n",
     "unknown option 'source.registy_uri'; did you mean 'source.registry_uri'?"),
    ("workers: many\n", "option 'workers': Input should be a valid integer"),
    ("deleted: sometimes\n", "option 'deleted': Input should be 'skip' or 'mirror'"),
    ("experiment_names: [{match: '(', replace: x}]\n", "invalid regular expression"),
    ("source: {tracking_uri: 'http://bob:hunter2@host'}\n", "a password is written in the file"),
    ("state: 'postgresql://u:${NOPE_NOT_SET}@h/db'\n", "environment variable NOPE_NOT_SET is not set"),
    ("workers: [\n", "is not valid YAML"),
])
def test_bad_config_is_explained(tmp_path, text, message):
    with pytest.raises(FatalError) as err:
        load_settings(_write(tmp_path, text))
    assert message in str(err.value)
    assert "hunter2" not in str(err.value)


def test_env_reference_expands(tmp_path, monkeypatch):
    monkeypatch.setenv("STATE_PW", "s3cret")
    s = load_settings(_write(tmp_path, "state: 'postgresql://u:${STATE_PW}@h/db'\n"))
    assert s.state == "postgresql://u:s3cret@h/db"


def test_check_config_command(tmp_path):
    good = _write(tmp_path, "source: {tracking_uri: 'http://127.0.0.1:1'}\ndestination: {tracking_uri: 'sqlite:///x.db'}\n")
    ok = subprocess.run([sys.executable, "-m", "syncer", "check-config", "--config", good],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "config ok" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("sorce: {tracking_uri: x}\n")
    res = subprocess.run([sys.executable, "-m", "syncer", "check-config", "--config", str(bad)],
                         capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.strip() == ("mlflow-syncer: error: invalid configuration: unknown option 'sorce'; "
                                  "did you mean 'source'?")
