"""A whole `migrate` from MLflow's authentication app into a Databricks destination: the
Databricks-like gateway of the session (tests/emulators/databricks.py, with its Permissions API,
tests/emulators/dbx_permissions.py, added for this module) in front of its real server."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.server.auth.client import AuthServiceClient

from tests.compare import assert_same
from tests.emulators.dbx_permissions import PREFIX, DatabricksPermissions
from tests.emulators.gateway import Gateway
from tests.fixtures.auth_servers import AuthPair
from tests.fixtures.azure import Emulated
from tests.fixtures.cli import cli_env, run_forked, write_config

SP = "0a1b2c3d-0000-4000-8000-00000000002a"


@pytest.fixture(scope="module")
def workspace(databricks_source: Emulated) -> Iterator[tuple[Emulated, DatabricksPermissions]]:
    """The session's Databricks-like workspace (a real server keeping artifacts in Azurite behind
    the gateway), answering the Permissions API too while this module runs."""
    perms = DatabricksPermissions()
    apis = databricks_source.rules.apis
    databricks_source.rules.apis = (*apis, PREFIX)
    databricks_source.gateway.rules.append(perms)
    try:
        yield databricks_source, perms
    finally:
        databricks_source.gateway.rules.remove(perms)
        databricks_source.rules.apis = apis


def _planned(stderr: str) -> dict[str, int]:
    """The `planned` log line's counts: kind_op -> count."""
    line = next(json.loads(x) for x in stderr.splitlines() if '"event": "planned"' in x)
    return {k: v for k, v in line.items() if k not in ("event", "level", "timestamp")}


def _acl(gateway: Gateway, token: str, path: str) -> list[tuple[str, str, bool]]:
    """(principal, level, inherited) of each entry the Permissions API answers for one object."""
    body = requests.get(
        f"{gateway.url}/api/2.0/permissions/{path}",
        timeout=30,
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    return sorted(
        (
            e.get("user_name") or e.get("group_name") or e["service_principal_name"],
            p["permission_level"],
            p["inherited"],
        )
        for e in body["access_control_list"]
        for p in e["all_permissions"]
    )


def test_migrate_into_databricks_writes_acls_through_the_permissions_api(
    auth_pair: AuthPair, workspace: tuple[Emulated, DatabricksPermissions], tmp_path
) -> None:
    """An experiment with a run and a model, readable by one user, editable by a second and managed
    by a third, arrive in the Databricks workspace with the same access through the map (a user, a
    group, a service principal), read back from its Permissions API; a second pass plans and writes
    nothing."""
    tok = secrets.token_hex(3)
    src_auth = AuthServiceClient(auth_pair.source.url)
    ann, ben, cid = f"ann-{tok}", f"ben-{tok}", f"cid-{tok}"
    for name in (ann, ben, cid):
        src_auth.create_user(name, secrets.token_urlsafe(12))
    src = MlflowClient(auth_pair.source.url)
    e1, model = src.create_experiment(f"/Shared/dd-{tok}"), f"dd-{tok}-model"
    run = src.create_run(e1, start_time=1_700_000_000_000, run_name="train").info.run_id
    src.log_batch(
        run,
        metrics=[Metric("loss", 1.0 / s, 1_700_000_000_000 + s, s) for s in range(1, 6)],
        params=[Param("lr", "0.1")],
    )
    src.set_terminated(run, end_time=1_700_000_009_000)
    src.create_registered_model(model)
    for user, rtype, rid, level in (
        (ann, "experiment", e1, "READ"),
        (ben, "experiment", e1, "EDIT"),
        (ann, "registered_model", model, "READ"),
        (cid, "registered_model", model, "MANAGE"),
    ):
        src_auth.grant_user_permission(user, rtype, rid, level)
    emulated, perms = workspace
    gateway, token = emulated.gateway, emulated.token
    mapping = {ann: f"{ann}@corp.com", ben: f"team-{tok}", cid: SP, "admin": "admin@corp.com"}
    config = write_config(
        tmp_path / "c.yaml",
        source=auth_pair.source.url,
        destination={"tracking_uri": "databricks", "registry_uri": "databricks"},
        state=f"sqlite:///{tmp_path / 'state.db'}",
        experiments=[f"/Shared/dd-{tok}"],
        models=[model],
        prompts=[],
        principals={"map": mapping},
        permissions={"enabled": True},
    )
    env = cli_env(DATABRICKS_HOST=gateway.url, DATABRICKS_TOKEN=token, **auth_pair.env())
    first = run_forked("migrate", "--config", str(config), env=env)
    assert first.returncode == 0, first.stderr
    dest = MlflowClient(emulated.server.url)
    d1 = dest.get_experiment_by_name(f"/Shared/dd-{tok}").experiment_id
    admins = ("admins", "CAN_MANAGE", True)
    assert _acl(gateway, token, f"experiments/{d1}") == sorted(
        [
            (f"{ann}@corp.com", "CAN_READ", False),
            (f"team-{tok}", "CAN_EDIT", False),
            ("admin@corp.com", "CAN_MANAGE", False),
            admins,
        ]
    )  # admin: the source's creator
    assert _acl(gateway, token, f"registered-models/{perms.models[model]}") == sorted(
        [
            (f"{ann}@corp.com", "CAN_READ", False),
            (SP, "CAN_MANAGE", False),
            ("admin@corp.com", "CAN_MANAGE", False),
            admins,
        ]
    )
    assert_same(src, dest, [f"/Shared/dd-{tok}"])
    assert dest.get_registered_model(model).name == model
    writes = list(perms.writes)
    assert sorted(writes) == [("PATCH", d1)] * 3 + [("PATCH", perms.models[model])] * 3

    second = run_forked("migrate", "--config", str(config), env=env)
    assert second.returncode == 0, second.stderr
    planned = _planned(second.stderr)
    assert planned == {
        "experiment_same": 1,
        "run_same": 1,
        "model_same": 1,
        "permission_same": 6,
    }, planned
    assert perms.writes == writes
    assert auth_pair.password not in first.stdout + first.stderr + second.stderr
    assert token not in first.stdout + first.stderr + second.stderr
