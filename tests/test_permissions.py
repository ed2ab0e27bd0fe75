"""Permissions through the principal map, between two real `mlflow server --app-name basic-auth`
processes (started once for this module; the admin's password only in the environment)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.server.auth.client import AuthServiceClient

from syncer.backends.endpoint import Endpoint
from syncer.cli.diff import diff_report
from syncer.config import Settings
from syncer.core.actions import SIGIL, Op
from syncer.kinds.permissions.apply import apply_databricks
from syncer.kinds.permissions.grants import Grant, PermSnap, PrincipalMap
from syncer.kinds.permissions.plan import PermOptions, plan_permissions
from syncer.kinds.permissions.scan import scan_permissions
from tests.emulators.databricks import API, DatabricksRules
from tests.emulators.dbx_permissions import PREFIX, DatabricksPermissions
from tests.emulators.gateway import Gateway
from tests.emulators.uc_grants import PREFIX as UC_PREFIX
from tests.emulators.uc_grants import UnityCatalogGrants
from tests.fixtures.auth_servers import AuthPair
from tests.fixtures.azure import Emulated, point_sdk_at
from tests.fixtures.cli import cli_env, run_forked, write_config

SOURCE_USERS = ("alice", "bob", "carol", "dave")
DEST_USERS = ("alice2", "bob2", "carol2")
MAP = {"alice": "alice2", "bob": "bob2", "carol": "carol2", "admin": "admin"}


def _users(url: str, names: tuple[str, ...]) -> AuthServiceClient:
    auth = AuthServiceClient(url)
    for name in names:
        auth.create_user(name, secrets.token_urlsafe(12))
    return auth


def _grants(
    auth: AuthServiceClient, users: tuple[str, ...], resources: dict[tuple[str, str], str]
) -> dict[tuple[str, str, str], str]:
    """(user, resource type, our name for the resource) -> level, for the resources named."""
    out = {}
    for user in users:
        for p in auth._request(
            "/api/3.0/mlflow/users/permissions/list", "GET", params={"username": user}
        )["permissions"]:
            name = resources.get((p["resource_type"], p["resource_pattern"]))
            if name and p["role_name"].startswith("__user_"):
                out[(user, p["resource_type"], name)] = p["permission"]
    return out


def _diff(pair: AuthPair, config: Path) -> dict:
    out = run_forked("diff", "--config", str(config), "--format", "json", env=cli_env(**pair.env()))
    assert out.returncode in (1, 2), out.stderr
    return json.loads(out.stdout)


def _planned(stderr: str) -> dict[str, int]:
    """The permission counts of the `planned` log line: op -> count."""
    line = next(json.loads(x) for x in stderr.splitlines() if '"event": "planned"' in x)
    return {k.split("_", 1)[1]: v for k, v in line.items() if k.startswith("permission_")}


def _rows(report: dict) -> list[tuple[str, str, str]]:
    """(sigil, source principal, start of the reason) of each permission row that is no `=`."""
    return sorted(
        (o["sigil"], o["details"]["principal"], (o["details"].get("reason") or "")[:28])
        for o in report["objects"]
        if o["kind"] == "permission" and o["sigil"] != "="
    )


@pytest.fixture(scope="module")
def scenario(auth_pair: AuthPair, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Users on both ends; on the source two experiments and a model readable by alice and bob,
    editable by carol, and e1 readable by dave (not in the map); on the destination e2 already,
    carol2 on READ there."""
    name = f"p-{secrets.token_hex(4)}"
    src_auth, dst_auth = (
        _users(auth_pair.source.url, SOURCE_USERS),
        _users(auth_pair.dest.url, DEST_USERS),
    )
    src = MlflowClient(auth_pair.source.url)
    e1, e2 = src.create_experiment(f"{name}-e1"), src.create_experiment(f"{name}-e2")
    src.create_registered_model(f"{name}-model")
    src.set_terminated(src.create_run(e1, tags={"mlflow.user": "alice"}).info.run_id)
    for rtype, rid in (
        ("experiment", e1),
        ("experiment", e2),
        ("registered_model", f"{name}-model"),
    ):
        for user, level in (("alice", "READ"), ("bob", "READ"), ("carol", "EDIT")):
            src_auth.grant_user_permission(user, rtype, rid, level)
    src_auth.grant_user_permission("dave", "experiment", e1, "READ")
    d2 = MlflowClient(auth_pair.dest.url).create_experiment(f"{name}-e2")
    dst_auth.grant_user_permission("carol2", "experiment", d2, "READ")
    tmp = tmp_path_factory.mktemp("perm-scenario")
    options = {
        "source": auth_pair.source.url,
        "destination": auth_pair.dest.url,
        "state": f"sqlite:///{tmp / 'state.db'}",
        "experiments": [f"{name}-*"],
        "models": [f"{name}-model"],
        "prompts": [],
        "principals": {"map": MAP},
        "permissions": {"enabled": True},
    }
    return {
        "name": name,
        "src_auth": src_auth,
        "dst_auth": dst_auth,
        "e1": e1,
        "d2": d2,
        "tmp": tmp,
        "options": options,
    }


def _dest_grants(auth_pair: AuthPair, sc: dict) -> dict[tuple[str, str, str], str]:
    d1 = MlflowClient(auth_pair.dest.url).get_experiment_by_name(f"{sc['name']}-e1").experiment_id
    names = {
        ("experiment", d1): "e1",
        ("experiment", sc["d2"]): "e2",
        ("registered_model", f"{sc['name']}-model"): "model",
    }
    return _grants(sc["dst_auth"], DEST_USERS, names)


def _dest_grants_by_name(sc: dict) -> dict[tuple[str, str, str], str]:
    """The destination's grants on e2 and the model (before e1 exists there)."""
    names = {("experiment", sc["d2"]): "e2", ("registered_model", f"{sc['name']}-model"): "model"}
    return _grants(sc["dst_auth"], DEST_USERS, names)


RESOURCES = (("experiment", "e1"), ("experiment", "e2"), ("registered_model", "model"))


def test_permissions_arrive_through_the_map(auth_pair: AuthPair, scenario: dict) -> None:
    """Same access through the map, the unmapped principal reported, nothing widened, a second pass
    changes nothing; then a mirror cycle revokes the grant this tool made that the source revoked,
    and `replace` widens on request; `state export` lists the map applied and the grants made."""
    env = cli_env(**auth_pair.env())
    failing = write_config(
        scenario["tmp"] / "fail.yaml",
        **{**scenario["options"], "principals": {"map": MAP, "unmapped": "fail"}},
    )
    stopped = run_forked("migrate", "--config", str(failing), env=env)
    assert (stopped.returncode, stopped.stderr.splitlines()[-1:]) == (
        2,
        ["mlflow-syncer: error: principals not in the map (principals.unmapped: fail): dave"],
    )
    dest = MlflowClient(auth_pair.dest.url)
    assert dest.get_experiment_by_name(f"{scenario['name']}-e1") is None  # nothing written
    assert dest.search_registered_models(f"name = '{scenario['name']}-model'") == []
    assert _dest_grants_by_name(scenario) == {("carol2", "experiment", "e2"): "READ"}
    config = write_config(scenario["tmp"] / "c.yaml", **scenario["options"])
    first = run_forked("migrate", "--config", str(config), env=env)
    assert first.returncode == 1, first.stderr  # dave uncopied, carol2's narrower grant a conflict
    # 8 grants of the three users, and admin's MANAGE on e1 and the model (theirs as their creator
    # once the pass creates them: found held, not granted twice); admin's on e2 is there already.
    assert _planned(first.stderr) == {"create": 10, "same": 1, "conflict": 1, "uncopied": 1}
    want = {
        (u, t, n): lvl
        for u, lvl in (("alice2", "READ"), ("bob2", "READ"), ("carol2", "EDIT"))
        for t, n in RESOURCES
    }
    want[("carol2", "experiment", "e2")] = "READ"  # not widened
    assert _dest_grants(auth_pair, scenario) == want
    copied = MlflowClient(auth_pair.dest.url).search_runs(
        [
            MlflowClient(auth_pair.dest.url)
            .get_experiment_by_name(f"{scenario['name']}-e1")
            .experiment_id
        ]
    )
    assert [r.data.tags["mlflow.user"] for r in copied] == ["alice2"]  # through the map

    second = run_forked("migrate", "--config", str(config), env=env)
    assert second.returncode == 1, second.stderr
    assert _planned(second.stderr) == {"same": 11, "conflict": 1, "uncopied": 1}
    assert _dest_grants(auth_pair, scenario) == want
    assert auth_pair.password not in first.stdout + first.stderr + second.stdout + second.stderr

    scenario["src_auth"].revoke_user_permission("bob", "experiment", scenario["e1"])
    config = write_config(
        scenario["tmp"] / "c.yaml",
        **{**scenario["options"], "permissions": {"enabled": True, "replace": True}},
    )
    assert _rows(_diff(auth_pair, config)) == [
        ("!", "dave", "principal not in the map"),
        ("*", "carol", ""),
        ("-", "bob", ""),
    ]
    third = run_forked(
        "mirror", "--once", "--config", str(config), env=env
    )  # a mirror cycle follows them
    assert third.returncode == 1, third.stderr  # dave stays uncopied
    del want[("bob2", "experiment", "e1")]
    want[("carol2", "experiment", "e2")] = "EDIT"
    assert _dest_grants(auth_pair, scenario) == want

    exported = run_forked("state", "export", "--config", str(config), "--format", "jsonl", env=env)
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [(r["source_id"], r["dest_id"]) for r in rows if r["kind"] == "principal"] == sorted(
        MAP.items()
    )
    made = {r["source_id"]: r["status"] for r in rows if r["kind"] == "permission"}
    e1 = f"experiment|{scenario['name']}-e1"
    assert made[f"{e1}|bob"] == "revoked" and made[f"{e1}|alice"] == "done"
    assert (
        len(made) == 11
    )  # 8 grants + carol's widened e2 + admin's two found held; dave's never made


def test_check_config_names_duplicates_and_unknown_principals(
    auth_pair: AuthPair, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"source: {auth_pair.source.url}\ndestination: {auth_pair.dest.url}\n"
        f"state: sqlite:///{tmp_path / 'state.db'}\npermissions: {{enabled: true}}\n"
        "principals:\n  map:\n    alice: admin\n    bob: nobody\n    alice: admin\n"
    )
    out = run_forked("check-config", "--config", str(config), env=cli_env(**auth_pair.env()))
    assert out.returncode == 2, out.stdout
    assert out.stderr.splitlines() == [
        "mlflow-syncer: error: principals.map line 9: source principal 'alice' mapped twice",
        f"mlflow-syncer: error: principal map: no user 'nobody' on the destination "
        f"({auth_pair.dest.url})",
    ]


def test_databricks_experiment_and_model_permissions_are_read_direct_only(
    auth_pair: AuthPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the Permissions API of a Databricks-like gateway (its permission routes are answered
    by the emulator itself: the server behind it is never asked)."""
    token = f"dapi{secrets.token_hex(8)}"
    rules, perms, uc = DatabricksRules(token), DatabricksPermissions(), UnityCatalogGrants()
    rules.apis = (API, PREFIX, UC_PREFIX)
    uc.grants = {
        "main.ml.uc_model": {
            "alice@corp.com": {"EXECUTE"},
            "bob@corp.com": {"APPLY_TAG"},
            "ml-team": {"ALL_PRIVILEGES", "MANAGE"},
            "ops": {"EXECUTE", "MANAGE"},
        }
    }
    perms.acls = {
        "101": [
            ("user", "alice@corp.com", "CAN_READ"),
            ("group", "ml-team", "CAN_EDIT"),
            ("service_principal", "0a1b-sp", "CAN_MANAGE"),
        ],
        "102": [],
        "m-0a1b": [
            ("user", "bob@corp.com", "CAN_MANAGE_PRODUCTION_VERSIONS"),
            ("group", "ml-team", "CAN_MANAGE"),
        ],
    }
    perms.models = {"churn-model": "m-0a1b"}
    gateway = Gateway(auth_pair.source.url, [rules, perms, uc]).start()
    try:
        point_sdk_at(Emulated(auth_pair.source, gateway, rules, token), monkeypatch)
        src = Endpoint("databricks", "databricks", role="source")
        snap, roles = scan_permissions(
            src,
            {"101": "churn", "102": "empty"},
            {"churn-model": "churn-model", "main.ml.uc_model": "uc_model"},
        )
    finally:
        gateway.stop()
    assert snap.grants == [
        Grant("experiment", "churn", "alice@corp.com", "READ"),
        Grant("experiment", "churn", "ml-team", "EDIT"),
        Grant("experiment", "churn", "0a1b-sp", "MANAGE"),  # admins: inherited, left out
        Grant("registered_model", "churn-model", "bob@corp.com", "EDIT"),  # never wider
        Grant("registered_model", "churn-model", "ml-team", "MANAGE"),
        # Unity Catalog grants, one principal a page; APPLY_TAG alone is
        # not READ, MANAGE without APPLY_TAG not EDIT (never wider)
        Grant("registered_model", "uc_model", "alice@corp.com", "READ"),
        Grant("registered_model", "uc_model", "ml-team", "MANAGE"),
        Grant("registered_model", "uc_model", "ops", "READ"),
    ]
    assert ("registered_model", "uc_model") in snap.resources and uc.writes == []
    assert (snap.users, roles) == (None, 0)


SP = "0a1b2c3d-0000-4000-8000-000000000001"
DBX_MAP = PrincipalMap(
    {"alice": "alice@corp.com", "team": "ml-team", "robot": SP, "carol": "carol@corp.com"}
)
DBX_SOURCE = PermSnap(
    grants=[
        Grant("experiment", "e1", "alice", "READ"),
        Grant("experiment", "e1", "team", "EDIT"),
        Grant("experiment", "e1", "robot", "MANAGE"),
        Grant("experiment", "e1", "dave", "READ"),
        Grant("experiment", "e2", "carol", "READ"),
        Grant("experiment", "e2", "alice", "NO_PERMISSIONS"),
        Grant("experiment", "e2", "robot", "USE"),  # CAN_READ: Databricks has no USE
        Grant("registered_model", "churn", "team", "READ"),
        Grant("registered_model", "churn", "alice", "EDIT"),
        Grant("registered_model", "main.ml.uc", "team", "READ"),
        Grant("registered_model", "main.ml.uc", "alice", "EDIT"),
        Grant("registered_model", "main.ml.uc", "carol", "MANAGE"),
    ]
)


def _dbx_pass(dst: Endpoint, made: dict[str, tuple[str, str]]) -> list[tuple[str, str, str]]:
    """Read the destination's grants, plan against DBX_SOURCE, write: (sigil, label, reason) of each
    row."""
    models = {"churn": "churn", "main.ml.uc": "main.ml.uc"}
    snap, _ = scan_permissions(dst, {"201": "e1", "202": "e2"}, models)
    actions = plan_permissions(
        DBX_SOURCE, snap, PermOptions(DBX_MAP, dest_kind="databricks", made=made)
    )
    for a in actions:
        if a.mutates:
            apply_databricks(
                dst, a, {"e1": "201", "e2": "202"}.get(a.details["resource"], a.details["resource"])
            )
    return sorted(
        (SIGIL[a.op], a.label, (a.details.get("reason") or "")[:20])
        for a in actions
        if a.op != Op.SAME
    )


def test_databricks_destination_gets_grants_never_widened(
    auth_pair: AuthPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Grants planned against a Databricks destination's Permissions API and written there (PATCH
    for a new grant, PUT for a narrowing or a revocation), through the emulator; a second pass
    writes nothing."""
    token = f"dapi{secrets.token_hex(8)}"
    rules, perms, uc = DatabricksRules(token), DatabricksPermissions(), UnityCatalogGrants()
    rules.apis = (API, PREFIX, UC_PREFIX)
    uc.grants = {"main.ml.uc": {"carol@corp.com": {"EXECUTE"}, "ml-team": {"ALL_PRIVILEGES"}}}
    perms.acls = {
        "201": [("group", "ml-team", "CAN_READ")],
        "202": [("user", "carol@corp.com", "CAN_MANAGE"), ("user", "bob@corp.com", "CAN_READ")],
    }
    perms.models = {"churn": "m-1"}
    made = {"experiment|e2|bob": ("experiment|e2|bob@corp.com", "READ")}
    gateway = Gateway(auth_pair.dest.url, [rules, perms, uc]).start()
    try:
        point_sdk_at(Emulated(auth_pair.dest, gateway, rules, token), monkeypatch)
        dst = Endpoint("databricks", "databricks", role="destination")
        first = _dbx_pass(dst, made)
        writes, uc_writes = list(perms.writes), list(uc.writes)
        second = _dbx_pass(dst, made)
    finally:
        gateway.stop()
    assert [r[0] for r in first] == ["!"] * 4 + ["*"] * 2 + ["+"] * 6 + ["-"]
    assert {r[1]: r[2] for r in first if r[0] == "!"} == {
        "experiment 'e1': dave READ": "principal not in the",
        # narrower there: not widened
        "experiment 'e1': team -> ml-team EDIT": "the destination gran",
        "experiment 'e2': alice NO_PERMISSIONS": "Databricks has no NO",
        "registered_model 'main.ml.uc': carol -> carol@corp.com MANAGE": "the destination gran",
    }
    assert {k: sorted(v) for k, v in perms.acls.items()} == {
        "201": [
            ("group", "ml-team", "CAN_READ"),
            ("service_principal", SP, "CAN_MANAGE"),
            ("user", "alice@corp.com", "CAN_READ"),
        ],
        "202": [
            ("service_principal", SP, "CAN_READ"),
            ("user", "carol@corp.com", "CAN_READ"),
        ],  # carol's narrowed, bob's revoked
        "m-1": [("group", "ml-team", "CAN_READ"), ("user", "alice@corp.com", "CAN_EDIT")],
    }
    assert sorted(writes) == [
        ("PATCH", "201"),
        ("PATCH", "201"),
        ("PATCH", "202"),
        ("PATCH", "m-1"),
        ("PATCH", "m-1"),
        ("PUT", "202"),
        ("PUT", "202"),
    ]
    assert uc.grants == {
        "main.ml.uc": {
            "alice@corp.com": {"EXECUTE", "APPLY_TAG"},
            "carol@corp.com": {"EXECUTE"},  # narrower: not widened
            "ml-team": {"EXECUTE"},
        }
    }  # ALL_PRIVILEGES narrowed
    assert uc_writes == ["main.ml.uc"] * 2
    assert second == [r for r in first if r[0] == "!"]
    assert (perms.writes, uc.writes) == (writes, uc_writes)  # nothing more written


def test_azure_ml_destination_gets_each_grant_with_its_workspace_role_in_the_json_diff(
    auth_pair: AuthPair, scenario: dict, tmp_path: Path
) -> None:
    """An Azure-ML-like destination (the service profile on the destination server) holds no
    per-object permission: `diff --format json` lists every source grant with the role that would
    cover it. In process: the report is the CLI's own (`diff_report`), without another interpreter
    start-up."""
    options = {
        **scenario["options"],
        "state": f"sqlite:///{tmp_path / 'state.db'}",
        "destination": {"tracking_uri": auth_pair.dest.url, "profile": "azureml"},
    }
    out = tmp_path / "diff.json"
    assert diff_report(Settings(**options), None, "json", str(out), deep=False) == 1
    rows = [o for o in json.loads(out.read_text())["objects"] if o["kind"] == "permission"]
    got = sorted(
        (
            r["sigil"],
            r["details"]["principal"],
            r["details"].get("dest_principal"),
            r["details"]["level"],
            r["details"].get("azure_role"),
            r["details"].get("scope"),
        )
        for r in rows
        if r["details"]["principal"] in ("alice", "carol", "dave")
    )
    assert got == [("!", "alice", "alice2", "READ", "Reader", "workspace")] * 3 + [
        ("!", "carol", "carol2", "EDIT", "AzureML Data Scientist", "workspace")
    ] * 3 + [("!", "dave", None, "READ", None, None)]


def test_each_end_reads_its_own_credentials(auth_pair: AuthPair, scenario: dict) -> None:
    """`credentials: {username_env, password_env}` per end: an admin of the source only and an admin
    of the destination only, neither in MLFLOW_TRACKING_USERNAME/PASSWORD; the diff is the one the
    shared admin sees, and neither password is printed. A variable not set is one line, exit 2."""
    secret = {"SRC_PW": secrets.token_urlsafe(12), "DST_PW": secrets.token_urlsafe(12)}
    for auth, user, pw in (
        (scenario["src_auth"], "src-admin", "SRC_PW"),
        (scenario["dst_auth"], "dst-admin", "DST_PW"),
    ):
        auth.create_user(user, secret[pw])
        auth.update_user_admin(user, True)
    options = scenario["options"]
    ends = {
        "source": {
            "tracking_uri": auth_pair.source.url,
            "credentials": {"username_env": "SRC_USER", "password_env": "SRC_PW"},
        },
        "destination": {
            "tracking_uri": auth_pair.dest.url,
            "credentials": {"username_env": "DST_USER", "password_env": "DST_PW"},
        },
    }
    config = write_config(scenario["tmp"] / "ends.yaml", **{**options, **ends})
    env = {
        k: v
        for k, v in cli_env(SRC_USER="src-admin", DST_USER="dst-admin", **secret).items()
        if k not in auth_pair.env()
    }
    own = run_forked("diff", "--config", str(config), "--format", "json", env=env)
    shared = run_forked(
        "diff",
        "--config",
        str(write_config(scenario["tmp"] / "shared.yaml", **options)),
        "--format",
        "json",
        env=cli_env(**auth_pair.env()),
    )
    assert own.returncode == shared.returncode and own.returncode in (1, 2), own.stderr
    objects = json.loads(own.stdout)["objects"]
    assert objects == json.loads(shared.stdout)["objects"]
    assert any(
        o["kind"] == "permission" and o["sigil"] == "=" for o in objects
    )  # both ends' grants read
    assert not any(pw in own.stdout + own.stderr for pw in secret.values())

    unset = run_forked(
        "diff", "--config", str(config), env={k: v for k, v in env.items() if k != "DST_PW"}
    )
    assert (unset.returncode, unset.stderr.splitlines()) == (
        2,
        ["mlflow-syncer: error: destination.credentials: environment variable DST_PW is not set"],
    )
