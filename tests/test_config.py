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
    path = _write(
        tmp_path,
        "source: {tracking_uri: file-src, registry_uri: file-reg}\n"
        "destination: {tracking_uri: file-dst}\nworkers: 3\ndeleted: mirror\n",
    )
    assert load_settings(path).workers == 3
    assert load_settings(path).quarantine_after == 3  # default
    monkeypatch.setenv("MLFLOW_SYNCER_WORKERS", "5")
    monkeypatch.setenv("MLFLOW_SYNCER_SOURCE__TRACKING_URI", "env-src")
    s = load_settings(path)
    assert (s.workers, s.source.tracking_uri, s.source.registry_uri, s.deleted) == (
        5,
        "env-src",
        "file-reg",
        "mirror",
    )
    args = build_parser().parse_args(
        ["migrate", "--config", path, "--workers", "2", "--source", "flag-src"]
    )
    s = settings_from(args)
    assert (s.workers, s.source.tracking_uri, s.source.registry_uri) == (2, "flag-src", "file-reg")
    assert s.destination.tracking_uri == "file-dst"


@pytest.mark.parametrize(
    "text, message",
    [
        ("wrokers: 3\n", "line 1: unknown option 'wrokers' (did you mean 'workers'?)"),
        (
            "Workers: 3\n",
            "line 1: unknown option 'Workers' (did you mean 'workers'?)",
        ),  # names are exact
        (
            "source: {tracking_uri: x, registy_uri: y}\n",
            "line 1: unknown option 'source.registy_uri' (did you mean 'source.registry_uri'?)",
        ),
        ("workers: many\n", "option 'workers': Input should be a valid integer"),
        ("deleted: sometimes\n", "option 'deleted': Input should be 'skip' or 'mirror'"),
        ("experiment_names: [{match: '(', replace: x}]\n", "invalid regular expression"),
        (
            "source: {tracking_uri: 'http://bob:hunter2@host'}\n",
            "a password is written in the file",
        ),
        (
            "state: 'postgresql://u:${NOPE_NOT_SET}@h/db'\n",
            "environment variable NOPE_NOT_SET is not set",
        ),
        ("workers: [\n", "is not valid YAML"),
    ],
)
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
    good = _write(
        tmp_path,
        "source: {tracking_uri: 'http://127.0.0.1:1'}\ndestination: {tracking_uri: "
        "'sqlite:///x.db'}\n",
    )
    ok = subprocess.run(
        [sys.executable, "-m", "syncer", "check-config", "--offline", "--config", good],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and "config ok" in ok.stdout
    online = subprocess.run(
        [sys.executable, "-m", "syncer", "check-config", "--config", good],
        capture_output=True,
        text=True,
    )  # reaches both ends: nothing listens on port 1
    assert online.returncode == 2
    assert online.stderr.strip() == (
        "mlflow-syncer: error: the source (http://127.0.0.1:1) is unreachable: connection "
        "refused (nothing listens on port 1); check the URI and that the server runs"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("sorce: {tracking_uri: x}\n")
    res = subprocess.run(
        [sys.executable, "-m", "syncer", "check-config", "--config", str(bad)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"mlflow-syncer: error: invalid configuration in {bad}: line 1: unknown option "
        "'sorce' (did you mean 'source'?)"
    )


def test_every_problem_in_one_message_with_lines_and_suggestions(tmp_path):
    path = _write(
        tmp_path,
        "source:\n  trackin_uri: http://a\ndest: http://b\nworkers: many\nmirror:\n"
        "  intervall: 5m\nno-models: true\ninterval: 9\nonce: true\n",
    )
    with pytest.raises(FatalError) as err:
        load_settings(path)
    message = str(err.value)
    assert message.startswith(
        f"invalid configuration in {path} (6 problems): line 2: unknown option "
    )
    for item in (
        "line 2: unknown option 'source.trackin_uri' (did you mean 'source.tracking_uri'?)",
        "line 4: option 'workers': Input should be a valid integer",
        "line 6: unknown option 'mirror.intervall' (did you mean 'mirror.interval'?)",
        "line 7: unknown option 'no-models' (did you mean 'copy_models: false'?)",
        "line 8: unknown option 'interval' (did you mean 'mirror.interval'?)",
        "line 9: unknown option 'once' (--once is a flag of `mirror`)",
    ):
        assert item in message, message
    assert "missing option" not in message and "dest" not in message.replace("destination", "")


def test_cli_spellings_are_accepted_in_the_file(tmp_path):
    path = _write(
        tmp_path,
        "source: http://a\ndest:\n  tracking-uri: http://b\nlog-level: debug\n"
        "mirror:\n  interval: 5m\n  shutdown-timeout: 90s\n  max-delete: 3\n",
    )
    s = load_settings(path)
    assert (s.source.tracking_uri, s.destination.tracking_uri, s.log_level) == (
        "http://a",
        "http://b",
        "debug",
    )
    assert (s.mirror.interval, s.mirror.shutdown_timeout, s.mirror.max_delete) == (300.0, 90.0, 3)


def test_alias_next_to_its_option_is_refused(tmp_path):
    with pytest.raises(FatalError) as err:
        load_settings(_write(tmp_path, "destination: http://a\ndest: http://b\n"))
    assert str(err.value).endswith("line 2: unknown option 'dest' (did you mean 'destination'?)")
