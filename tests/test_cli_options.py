"""The command line: every shared option on every command, and config messages as a user sees
them."""

from __future__ import annotations

import json
import subprocess

import pytest
from mlflow import MlflowClient

from syncer.cli.args import SHARED_COMMANDS, build_parser, settings_from
from tests.fixtures.cli import cli_env, run_cli, run_forked
from tests.fixtures.procs import VENV_BIN

SHARED = [
    ("--source", "http://src"),
    ("--dest", "http://dst"),
    ("--source-registry", "databricks,databricks-uc"),
    ("--dest-registry", "http://reg"),
    ("--state", "sqlite:///s.db"),
    ("--experiments", "a", "b/*"),
    ("--models", "m"),
    ("--no-models",),
    ("--workers", "3"),
    ("--deleted", "mirror"),
    ("--log-format", "json"),
    ("--log-level", "debug"),
    ("--no-progress",),
]


@pytest.mark.parametrize("command", SHARED_COMMANDS)
@pytest.mark.parametrize("flag", SHARED, ids=[f[0] for f in SHARED])
def test_every_shared_option_on_every_command(command, flag, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("source: http://file-src\ndest: http://file-dst\n")
    args = build_parser().parse_args([*command.split(), "--config", str(config), *flag])
    settings = settings_from(args)
    assert settings.source.tracking_uri == (
        "http://src" if flag[0] == "--source" else "http://file-src"
    )
    assert settings.destination.tracking_uri == (
        "http://dst" if flag[0] == "--dest" else "http://file-dst"
    )


@pytest.mark.parametrize("action", ["show", "rebuild", "release", "export"])
def test_state_options_may_come_before_or_after_the_action(action, tmp_path):
    parse = build_parser().parse_args
    before = parse(
        ["state", "--state", "sqlite:///a.db", "--source", "http://s", "--no-progress", action]
    )
    after = parse(
        ["state", action, "--state", "sqlite:///a.db", "--source", "http://s", "--no-progress"]
    )
    assert vars(before) == vars(after)
    assert (before.state, before.source, before.no_progress, before.action) == (
        "sqlite:///a.db",
        "http://s",
        True,
        action,
    )


def test_mirror_once_takes_no_progress(tmp_path):
    stores = [f"sqlite:///{tmp_path / name}.db" for name in ("src", "dst", "state")]
    MlflowClient(stores[0]).search_experiments()  # the source exists (a source is never created)
    result = run_forked(
        "mirror",
        "--once",
        "--no-progress",
        "--source",
        stores[0],
        "--dest",
        stores[1],
        "--state",
        stores[2],
        "--no-models",
        "--verify-every",
        "2",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "mirror cycle: ok" in result.stdout


def test_config_with_dest_and_typos_is_explained_at_once(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        "source:\n  tracking_uri: http://127.0.0.1:1\ndest:\n  tracking_url: sqlite:///x.db\n"
        "worker: 2\nmirror:\n  intervall: 5m\n"
    )
    for command in ("migrate", "check-config", "diff", "mirror", "state show"):
        result = run_cli(*command.split(), "--config", str(config), cwd=tmp_path)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(
            f"mlflow-syncer: error: invalid configuration in {config} (3 problems): "
        ), result.stderr
        for item in (
            "line 4: unknown option 'destination.tracking_url' (did you mean "
            "'destination.tracking_uri'?)",
            "line 5: unknown option 'worker' (did you mean 'workers'?)",
            "line 7: unknown option 'mirror.intervall' (did you mean 'mirror.interval'?)",
        ):
            assert item in lines[0], lines[0]
    config.write_text(
        "source: http://127.0.0.1:1\ndest:\n  tracking_uri: sqlite:///x.db\nworkers: 2\n"
        "mirror:\n  interval: 5m\n"
    )
    fixed = run_cli("check-config", "--offline", "--config", str(config), cwd=tmp_path)
    assert fixed.returncode == 0 and "config ok" in fixed.stdout and "workers 2" in fixed.stdout, (
        fixed.stderr
    )


FAST = """
import contextlib, io, json, sys
from syncer.cli.app import main
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    codes = [main(argv) for argv in json.loads(sys.argv[1])]
print(json.dumps({"codes": codes, "stderr": err.getvalue().splitlines(),
                  "script": len(out.getvalue()),
                  "mlflow": sorted(m for m in sys.modules if m.split(".")[0] == "mlflow")}))
"""


def test_mistakes_in_settings_and_completion_never_load_mlflow(tmp_path):
    """Bad settings are told, and `completion` answers, without importing MLflow (2 s of CPU): one
    process runs them all and then lists the MLflow modules it holds."""
    pair = [
        "--source",
        f"sqlite:///{tmp_path / 's.db'}",
        "--dest",
        f"sqlite:///{tmp_path / 'd.db'}",
    ]
    (tmp_path / "c.yaml").write_text("source: http://127.0.0.1:1\nworker: 2\n")
    argvs = [
        ["migrate", "--source", "http://127.0.0.1:1"],
        ["diff", "--dest", "http://127.0.0.1:1"],
        ["mirror", *pair, "--max-delete", "-1"],
        ["migrate", *pair, "--engine", "ray", "--range-runs", "1"],
        ["check-config", "--config", str(tmp_path / "c.yaml")],
        ["completion", "bash"],
    ]
    done = subprocess.run(
        [str(VENV_BIN / "python"), "-c", FAST, json.dumps(argvs)],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["codes"] == [2, 2, 2, 2, 2, 0], got
    assert [line.split(": ")[2] for line in got["stderr"]] == [
        "no destination given",
        "no source given",
        "invalid mirror option",
        "invalid engine option",
        f"invalid configuration in {tmp_path / 'c.yaml'}",
    ], got["stderr"]
    assert got["script"] > 1000 and got["mlflow"] == []
