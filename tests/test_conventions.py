"""The conventions operators bring from rclone, kubectl and terraform, tried as a user would with
the real `mlflow-syncer` command: every setting by environment (flag spellings too), a config found
by MLFLOW_SYNCER_CONFIG or ./mlflow-syncer.yaml, `migrate --format json`, help on every option, and
mirror log lines without empty fields."""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess

import mlflow
import pytest

from syncer.cli.args import build_parser
from tests.fixtures.cli import SYNCER, cli_env, run_cli, run_forked


@pytest.fixture(scope="module")
def source_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite MLflow store with two experiments of one run each."""
    root = tmp_path_factory.mktemp("conventions")
    uri = f"sqlite:///{root / 'source.db'}"
    client = mlflow.MlflowClient(uri)
    for name in ("exp-a", "exp-b"):
        (root / name).mkdir()
        run = client.create_run(
            client.create_experiment(name, artifact_location=str(root / name)),
            run_name=f"{name}-run",
        )
        client.log_metric(run.info.run_id, "loss", 0.25, step=1)
        client.set_terminated(run.info.run_id)
    return uri


def test_env_variables_with_flag_spellings_and_migrate_json(source_db, tmp_path):
    """MLFLOW_SYNCER_DEST (the flag's spelling) and a comma-separated MLFLOW_SYNCER_EXPERIMENTS take
    effect;
    `--format json` gives one JSON object on stdout for scripts."""
    env = cli_env(
        MLFLOW_SYNCER_SOURCE=source_db,
        MLFLOW_SYNCER_DEST=f"sqlite:///{tmp_path / 'dest.db'}",
        MLFLOW_SYNCER_EXPERIMENTS="exp-a, exp-a*",
        MLFLOW_SYNCER_STATE=f"sqlite:///{tmp_path}/s.db",
    )
    result = run_forked("migrate", "--format", "json", "--no-progress", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["command"], out["exit_code"], out["problems"]) == ("migrate", 0, [])
    assert (
        out["summary"]["done"]["run"]["create"] == 1
        and out["summary"]["done"]["experiment"]["create"] == 1
    )
    assert out["summary"]["metric_points"] == 1 and out["summary"]["failed"] == 0


def test_a_variable_that_cannot_be_read_is_one_line(source_db, tmp_path):
    result = run_cli(
        "check-config",
        "--offline",
        "--source",
        source_db,
        "--dest",
        "sqlite:///d.db",
        env=cli_env(MLFLOW_SYNCER_EXPERIMENT_NAMES="^a/"),
        cwd=tmp_path,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "mlflow-syncer: error: invalid configuration: environment variable "
        "MLFLOW_SYNCER_EXPERIMENT_NAMES cannot "
        'be read: write its value as JSON, e.g. [{"match": "^old/", "replace": "new/"}]\n'
    )


def test_config_found_by_variable_or_in_the_working_folder(source_db, tmp_path):
    """./mlflow-syncer.yaml without --config; MLFLOW_SYNCER_CONFIG naming several files (later over
    earlier,
    missing ones left out, as KUBECONFIG); --config naming a missing file is an error."""
    (tmp_path / "mlflow-syncer.yaml").write_text(
        f"source: {source_db}\ndest: sqlite:///dest.db\nworkers: 3\n"
    )
    (tmp_path / "over.yaml").write_text("workers: 5\n")
    ok = f"config ok: {source_db} -> sqlite:///dest.db (sqlite-store), workers"
    found = run_forked("check-config", "--offline", cwd=tmp_path)
    assert (found.returncode, found.stdout.splitlines()[-1]) == (0, f"{ok} 3"), found.stderr
    listed = run_forked(
        "check-config",
        "--offline",
        cwd=tmp_path,
        env=cli_env(
            MLFLOW_SYNCER_CONFIG=f"mlflow-syncer.yaml:over.yaml:{tmp_path / 'not-mounted.yaml'}"
        ),
    )
    assert (listed.returncode, listed.stdout.splitlines()[-1]) == (0, f"{ok} 5"), listed.stderr
    given = run_forked(
        "check-config", "--offline", "--config", "mlflow-syncer.yaml:absent.yaml", cwd=tmp_path
    )
    assert (given.returncode, given.stderr) == (
        2,
        "mlflow-syncer: error: config file absent.yaml does not exist\n",
    )
    env_over_file = run_forked(
        "check-config", "--offline", cwd=tmp_path, env=cli_env(MLFLOW_SYNCER_WORKERS="7")
    )
    assert env_over_file.stdout.splitlines()[-1] == f"{ok} 7"


def _options(parser: argparse.ArgumentParser, name: str) -> list[tuple[str, argparse.Action]]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                out += _options(sub, f"{name} {command}")
        elif action.option_strings:
            out.append((name, action))
    return out


def test_every_option_has_help_text():
    options = _options(build_parser(), "mlflow-syncer")
    assert len(options) > 150
    assert [(cmd, a.option_strings) for cmd, a in options if not a.help] == []


def test_mirror_once_log_lines_and_no_port_taken(source_db, tmp_path):
    """`mirror --once` logs a `cycle ended` line without empty fields, with ISO times, and serves no
    HTTP endpoint: a port a service beside it holds does not stop it."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_forked(
            "mirror",
            "--once",
            "--source",
            source_db,
            "--dest",
            f"sqlite:///{tmp_path / 'd.db'}",
            "--log-format",
            "json",
            "--state",
            f"sqlite:///{tmp_path / 's.db'}",
            "--http-port",
            str(busy.getsockname()[1]),
            cwd=tmp_path,
        )
    assert result.returncode == 0, result.stderr
    ended = [json.loads(x) for x in result.stderr.splitlines() if '"cycle ended"' in x]
    assert len(ended) == 1 and ended[0]["copied"] == 4 and ended[0]["ok"] is True
    assert [k for k, v in ended[0].items() if v is None or v == []] == []
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", ended[0][k]) for k in ("started", "ended")
    )


def test_shell_completion_completes_commands_and_flags():
    """`eval "$(mlflow-syncer completion bash)"` completes commands and each command's flags."""
    script = run_cli("completion", "bash")
    assert script.returncode == 0 and script.stderr == "", script.stderr
    ask = '\nCOMP_WORDS=({}); COMP_CWORD={}; _shtab_mlflow_syncer; echo "${{COMPREPLY[*]}}"'
    probe = (
        script.stdout
        + ask.format("mlflow-syncer mi", 1)
        + ask.format("mlflow-syncer migrate --dry", 2)
    )
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.splitlines() == ["migrate mirror", "--dry-run"], done.stdout + done.stderr


def test_a_reader_that_goes_away_is_no_error():
    """`mlflow-syncer ... | head`: the closed pipe ends the command quietly with 141, as for Unix
    tools."""
    proc = subprocess.Popen(
        [SYNCER, "completion", "zsh"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env()
    )
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err.decode()) == (141, "")
