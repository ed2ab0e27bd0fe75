"""Permissions through the principal map, between two real `mlflow server --app-name basic-auth` processes
(started once for this module; the admin's password only in the environment)."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.server.auth.client import AuthServiceClient

from tests.fixtures.auth_servers import AuthPair, start_auth_pair
from tests.fixtures.cli import cli_env, run_cli, write_config

SOURCE_USERS = ("alice", "bob", "carol", "dave")
DEST_USERS = ("alice2", "bob2", "carol2")
MAP = {"alice": "alice2", "bob": "bob2", "carol": "carol2", "admin": "admin"}


@pytest.fixture(scope="module")
def auth_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthPair]:
    pair = start_auth_pair(tmp_path_factory.mktemp("auth-servers"))
    saved = {k: os.environ.get(k) for k in pair.env()}
    os.environ.update(pair.env())
    try:
        yield pair
    finally:
        pair.stop()
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def _users(url: str, names: tuple[str, ...]) -> AuthServiceClient:
    auth = AuthServiceClient(url)
    for name in names:
        auth.create_user(name, secrets.token_urlsafe(12))
    return auth


def _grants(auth: AuthServiceClient, users: tuple[str, ...], resources: dict[tuple[str, str], str]
            ) -> dict[tuple[str, str, str], str]:
    """(user, resource type, our name for the resource) -> level, for the resources named."""
    out = {}
    for user in users:
        for p in auth._request("/api/3.0/mlflow/users/permissions/list", "GET",  # noqa: SLF001
                               params={"username": user})["permissions"]:
            name = resources.get((p["resource_type"], p["resource_pattern"]))
            if name and p["role_name"].startswith("__user_"):
                out[(user, p["resource_type"], name)] = p["permission"]
    return out


def _diff(pair: AuthPair, config: Path) -> dict:
    out = run_cli("diff", "--config", str(config), "--format", "json", env=cli_env(**pair.env()))
    assert out.returncode in (0, 1, 2), out.stderr
    return json.loads(out.stdout)


def _perm_rows(report: dict) -> list[dict]:
    return [o for o in report["objects"] if o["kind"] == "permission" and o["sigil"] != "="]


def test_permissions_arrive_through_the_map(auth_pair: AuthPair, tmp_path: Path, unique_name: str) -> None:
    src_auth = _users(auth_pair.source.url, SOURCE_USERS)
    dst_auth = _users(auth_pair.dest.url, DEST_USERS)
    src = MlflowClient(auth_pair.source.url)
    e1 = src.create_experiment(f"{unique_name}-e1")
    e2 = src.create_experiment(f"{unique_name}-e2")
    model = f"{unique_name}-model"
    src.create_registered_model(model)
    resources = [("experiment", e1), ("experiment", e2), ("registered_model", model)]
    for rtype, rid in resources:
        for user, level in (("alice", "READ"), ("bob", "READ"), ("carol", "EDIT")):
            src_auth.grant_user_permission(user, rtype, rid, level)
    src_auth.grant_user_permission("dave", "experiment", e1, "READ")
    # The destination already holds e2 with carol2 on READ: narrower than the source's EDIT.
    d2 = MlflowClient(auth_pair.dest.url).create_experiment(f"{unique_name}-e2")
    dst_auth.grant_user_permission("carol2", "experiment", d2, "READ")
    config = write_config(tmp_path / "c.yaml", source=auth_pair.source.url, destination=auth_pair.dest.url,
                          state=f"sqlite:///{tmp_path / 'state.db'}", experiments=[f"{unique_name}-*"],
                          models=[model], principals={"map": MAP}, permissions={"enabled": True})
    first = run_cli("migrate", "--config", str(config), env=cli_env(**auth_pair.env()))
    print(first.stdout, first.stderr)
    dst = MlflowClient(auth_pair.dest.url)
    d1 = dst.get_experiment_by_name(f"{unique_name}-e1").experiment_id
    names = {("experiment", d1): "e1", ("experiment", d2): "e2", ("registered_model", model): "model"}
    got = _grants(dst_auth, DEST_USERS, names)
    want = {(u, t, n): lvl for u, lvl in (("alice2", "READ"), ("bob2", "READ"), ("carol2", "EDIT"))
            for t, n in (("experiment", "e1"), ("experiment", "e2"), ("registered_model", "model"))}
    want[("carol2", "experiment", "e2")] = "READ"  # not widened
    assert got == want
    rows = _perm_rows(_diff(auth_pair, config))
    assert sorted((r["sigil"], r["details"]["principal"], r["details"].get("reason", "")[:24]) for r in rows) == [
        ("!", "carol", "the destination grants R"), ("!", "dave", "principal not in the map")]
