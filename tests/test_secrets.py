"""Secrets given to mlflow-syncer never appear in anything it writes: output, logs, reports, state,
--help."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

import sqlalchemy
from mlflow import MlflowClient

from syncer.state.store import with_driver
from tests.compare import assert_same
from tests.fixtures.cli import cli_env, run_cli, run_forked, write_config
from tests.fixtures.postgres import PG_PASSWORD
from tests.fixtures.procs import free_port
from tests.fixtures.workload import make_workload

SECRETS = {
    "MLFLOW_TRACKING_TOKEN": "mlflowtok-SECRET-a1b2c3d4e5",
    "DATABRICKS_TOKEN": "dapi0123456789abcdef0123456789abcd",
    "DATABRICKS_CLIENT_SECRET": "dbx-client-SECRET-77aa",
    "AZURE_CLIENT_SECRET": "azsecret~SECRET~9z8y7x",
    "AZURE_STORAGE_CONNECTION_STRING": (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=c2VjcmV0LWtleS1TRUNSRVQtdmFsdWU=;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;"
    ),
    "SYNCER_PG_PASSWORD": PG_PASSWORD,
    "SOURCE_PASSWORD": "srcpw-SECRET-55aa",
    "DEST_PASSWORD": "dstpw-SECRET-66bb",
}


def _needles() -> list[str]:
    values = [v for k, v in SECRETS.items() if k != "AZURE_STORAGE_CONNECTION_STRING"]
    values += ["c2VjcmV0LWtleS1TRUNSRVQtdmFsdWU=", SECRETS["AZURE_STORAGE_CONNECTION_STRING"]]
    values += [base64.b64encode(f"alice:{SECRETS['SOURCE_PASSWORD']}".encode()).decode()]
    return values


def _with_user(url: str, user: str, var: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{user}:${{{var}}}@{parts.netloc}{parts.path}"


def _dump(url: str) -> str:
    engine = sqlalchemy.create_engine(with_driver(url))
    out = []
    with engine.connect() as conn:
        for table in sqlalchemy.inspect(engine).get_table_names():
            out += [
                repr(tuple(row)) for row in conn.execute(sqlalchemy.text(f"SELECT * FROM {table}"))
            ]
    engine.dispose()
    return "\n".join(out)


def test_no_secret_in_anything_written(
    source_server, dest_server, postgres_server, pg_database, unique_name, tmp_path
):
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    w = make_workload(src, unique_name, runs_per_experiment=1)
    db = pg_database()
    state = f"postgresql://syncer:${{SYNCER_PG_PASSWORD}}@127.0.0.1:{postgres_server.port}/{db}"
    config = write_config(
        tmp_path / "c.yaml",
        source={"tracking_uri": _with_user(source_server.url, "alice", "SOURCE_PASSWORD")},
        destination={"tracking_uri": _with_user(dest_server.url, "bob", "DEST_PASSWORD")},
        state=state,
        experiments=[f"{unique_name}/*"],
        log_level="debug",
        log_format="json",
    )
    env = cli_env(**SECRETS)
    outputs = []

    def run(*args: str, start=run_forked) -> int:
        result = start(*args, env=env)
        outputs.extend([result.stdout, result.stderr])
        return result.returncode

    assert (
        run(  # a process started anew with the secrets in its environment; the others forked
            "migrate",
            "--config",
            str(config),
            "--no-progress",
            "--log-format",
            "json",
            "--log-level",
            "debug",
            start=run_cli,
        )
        == 0
    ), outputs[-1]
    assert_same(src, dst, w.experiments)
    report = tmp_path / "report.json"
    assert run("diff", "--config", str(config), "--format", "json", "--output", str(report)) == 0, (
        outputs[-1]
    )
    assert run("state", "show", "--config", str(config)) == 0
    assert run("check-config", "--config", str(config)) == 0
    for sub in ([], ["migrate"], ["diff"], ["state"], ["check-config"]):
        run(*sub, "--help")
    dead = write_config(
        tmp_path / "dead.yaml",
        source={
            "tracking_uri": _with_user(
                f"http://127.0.0.1:{free_port()}", "alice", "SOURCE_PASSWORD"
            )
        },
        destination={"tracking_uri": dest_server.url},
        state=state.replace(db, pg_database()),
        experiments=["x"],
        log_level="debug",
    )
    env.update(MLFLOW_SYNCER_RETRY_ATTEMPTS="1", MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    assert run("migrate", "--config", str(dead), "--no-progress") == 2
    assert "unreachable" in outputs[-1]

    written = "\n".join(outputs) + report.read_text() + _dump(postgres_server.url(db))
    assert "run done" in written and unique_name in written  # the grep looks at real output
    for needle in _needles():
        assert needle not in written, f"secret leaked: {needle[:12]}..."
