"""Roles of MLflow's authentication app (MLflow 3's RBAC) copied between the two real `mlflow server
--app-name basic-auth` processes of the session (tests.fixtures.auth_servers): the role, its
permissions on the copied experiments and models, its members through the principal map."""

from __future__ import annotations

import json
import secrets

from mlflow import MlflowClient
from mlflow.server.auth.client import AuthServiceClient

from tests.fixtures.auth_servers import AuthPair
from tests.fixtures.cli import cli_env, run_forked, write_config

WORKSPACE = "default"


def _roles(
    auth: AuthServiceClient, names: dict[tuple[str, str], str]
) -> dict[str, tuple[dict[str, str], list[str]]]:
    """Role name -> ({our resource name: level}, sorted member names)."""
    users = {
        u["id"]: u["username"] for u in auth._request("/api/2.0/mlflow/users/list", "GET")["users"]
    }
    out = {}
    for role in auth.list_roles(WORKSPACE):
        perms = {
            names.get((p.resource_type, p.resource_pattern), p.resource_pattern): p.permission
            for p in role.permissions
        }
        members = sorted(users[a.user_id] for a in auth.list_role_users(role.id))
        out[role.name] = (perms, members)
    return out


def _planned(stderr: str) -> dict[str, int]:
    line = next(json.loads(x) for x in stderr.splitlines() if '"event": "planned"' in x)
    return {k.split("_", 1)[1]: v for k, v in line.items() if k.startswith("permission_")}


def _role_rows(stdout: str) -> list[tuple[str, str]]:
    """(sigil, label) of each role permission or membership row of a JSON diff that is no `=`."""
    return sorted(
        (o["sigil"], o["label"])
        for o in json.loads(stdout)["objects"]
        if o["kind"] == "permission"
        and o["sigil"] != "="
        and (
            o["details"].get("resource_type") == "role"
            or o["details"].get("principal", "").startswith("role:")
        )
    )


def test_roles_arrive_with_their_permissions_and_mapped_members(
    auth_pair: AuthPair, tmp_path
) -> None:
    """A role readable on two experiments and a model, with two mapped members and an unmapped one,
    and a second role the destination already holds more narrowly; a second pass changes nothing; a
    mirror cycle follows the source's revocations of what this tool made."""
    tok = secrets.token_hex(3)
    src_auth, dst_auth = (
        AuthServiceClient(auth_pair.source.url),
        AuthServiceClient(auth_pair.dest.url),
    )
    erin, frank, hal = f"erin-{tok}", f"frank-{tok}", f"hal-{tok}"
    for name in (erin, frank, hal):
        src_auth.create_user(name, secrets.token_urlsafe(12))
    for name in (f"{erin}-2", f"{frank}-2"):
        dst_auth.create_user(name, secrets.token_urlsafe(12))
    src, dst = MlflowClient(auth_pair.source.url), MlflowClient(auth_pair.dest.url)
    e1, e2 = src.create_experiment(f"r-{tok}-e1"), src.create_experiment(f"r-{tok}-e2")
    src.create_registered_model(f"r-{tok}-model")
    readers, editors = f"readers-{tok}", f"editors-{tok}"
    role = src_auth.create_role(WORKSPACE, readers)
    for rtype, rid in (
        ("experiment", e1),
        ("experiment", e2),
        ("registered_model", f"r-{tok}-model"),
    ):
        src_auth.add_role_permission(role.id, rtype, rid, "READ")
    for user in (erin, frank, hal):
        src_auth.assign_role(user, role.id)
    wide = src_auth.create_role(WORKSPACE, editors)
    src_auth.add_role_permission(wide.id, "experiment", e2, "EDIT")
    src_auth.add_role_permission(wide.id, "experiment", "*", "READ")  # reaches every experiment
    src_auth.assign_role(frank, wide.id)
    d2 = dst.create_experiment(f"r-{tok}-e2")
    narrow = dst_auth.create_role(WORKSPACE, editors)
    dst_auth.add_role_permission(narrow.id, "experiment", d2, "READ")
    mapping = {erin: f"{erin}-2", frank: f"{frank}-2", "admin": "admin"}
    config = write_config(
        tmp_path / "c.yaml",
        source=auth_pair.source.url,
        destination=auth_pair.dest.url,
        state=f"sqlite:///{tmp_path / 'state.db'}",
        experiments=[f"r-{tok}-*"],
        models=[f"r-{tok}-model"],
        prompts=[],
        principals={"map": mapping},
        permissions={"enabled": True},
    )
    env = cli_env(**auth_pair.env())
    try:
        first = run_forked("migrate", "--config", str(config), env=env)
        assert first.returncode == 1, first.stderr  # hal unmapped, editors narrower, '*' not copied
        d1 = dst.get_experiment_by_name(f"r-{tok}-e1").experiment_id
        names = {
            ("experiment", d1): "e1",
            ("experiment", d2): "e2",
            ("registered_model", f"r-{tok}-model"): "model",
        }
        want = {
            readers: ({"e1": "READ", "e2": "READ", "model": "READ"}, [f"{erin}-2", f"{frank}-2"]),
            editors: ({"e2": "READ"}, [f"{frank}-2"]),
        }  # not widened to EDIT; frank2 a member
        assert {k: v for k, v in _roles(dst_auth, names).items() if k in want} == want

        diff = run_forked("diff", "--config", str(config), "--format", "json", env=env)
        assert _role_rows(diff.stdout) == [
            ("!", f"experiment 'r-{tok}-e2': role:{editors} EDIT"),
            ("!", f"role '{readers}': {hal} MEMBER"),
        ]
        second = run_forked("migrate", "--config", str(config), env=env)
        assert second.returncode == 1, second.stderr
        assert set(_planned(second.stderr)) <= {"same", "conflict", "uncopied"}  # nothing to write
        assert {k: v for k, v in _roles(dst_auth, names).items() if k in want} == want

        src_auth.unassign_role(
            erin, role.id
        )  # and editors narrowed to the destination's: a clean cycle
        src_auth.update_role_permission(
            next(p.id for p in src_auth.list_role_permissions(wide.id) if p.resource_pattern == e2),
            "READ",
        )
        src_auth.remove_role_permission(
            next(p.id for p in src_auth.list_role_permissions(role.id) if p.resource_pattern == e1)
        )
        third = run_forked("mirror", "--once", "--config", str(config), env=env)
        assert third.returncode == 1, third.stderr
        want[readers] = ({"e2": "READ", "model": "READ"}, [f"{frank}-2"])
        assert {k: v for k, v in _roles(dst_auth, names).items() if k in want} == want
        assert auth_pair.password not in first.stderr + second.stderr + third.stderr
    finally:  # the session's servers are shared: no role of this test reaches another's passes
        for r in src_auth.list_roles(WORKSPACE):
            if r.name in (readers, editors):
                src_auth.delete_role(r.id)
