"""The permission planner on plain data: what has no place on a destination (Azure ML: the role that
would cover it), the policies for unmapped principals, and the principal map read from a CSV
file."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncer.core.actions import Op
from syncer.core.capabilities import AZURE_ML
from syncer.core.errors import FatalError
from syncer.kinds.permissions.capabilities import scheme
from syncer.kinds.permissions.grants import Grant, PermSnap, PrincipalMap, read_csv_map
from syncer.kinds.permissions.plan import PermOptions, plan_permissions

SOURCE = PermSnap(
    grants=[
        Grant("experiment", "churn", "alice", "READ"),
        Grant("experiment", "churn", "carol", "EDIT"),
        Grant("registered_model", "churn-model", "carol", "MANAGE"),
        Grant("experiment", "churn", "dave", "READ"),
    ]
)
MAP = PrincipalMap({"alice": "alice@corp", "carol": "carol@corp"})


def test_azure_ml_lists_each_grant_with_the_role_that_would_cover_it() -> None:
    actions = plan_permissions(SOURCE, PermSnap(), PermOptions(MAP, dest_kind=scheme(AZURE_ML)))
    assert [a.op for a in actions] == [Op.UNCOPIED] * 4
    roles = [
        (
            a.details["principal"],
            a.details.get("dest_principal"),
            a.details.get("azure_role"),
            a.details.get("scope"),
        )
        for a in actions
    ]
    assert roles == [
        ("alice", "alice@corp", "Reader", "workspace"),
        ("carol", "carol@corp", "AzureML Data Scientist", "workspace"),
        ("carol", "carol@corp", "AzureML Data Scientist (granting others: Owner)", "workspace"),
        ("dave", None, None, None),
    ]
    assert actions[3].details["reason"] == "principal not in the map"
    assert all(a.details["count"] == 1 for a in actions)


def test_unmapped_fail_stops_before_any_action_naming_every_principal() -> None:
    pmap = PrincipalMap({"alice": "alice@corp"}, unmapped="fail")
    with pytest.raises(
        FatalError,
        match=r"^principals not in the map \(principals.unmapped: fail\): "
        r"carol, dave$",
    ):
        plan_permissions(
            SOURCE, PermSnap(users=frozenset()), PermOptions(pmap, dest_kind="basic-auth")
        )


def test_default_principal_keeps_the_narrowest_of_the_grants_it_stands_for() -> None:
    pmap = PrincipalMap({}, unmapped="default", default="team")
    dest = PermSnap(users=frozenset({"team"}))
    actions = plan_permissions(SOURCE, dest, PermOptions(pmap, dest_kind="basic-auth"))
    made = [
        (a.op, a.details["resource"], a.details["principal"], a.details["level"]) for a in actions
    ]
    assert made == [
        (
            Op.UNCOPIED,
            "churn",
            "carol",
            "EDIT",
        ),  # team also stands for alice (READ): the narrower kept
        (Op.UNCOPIED, "churn", "dave", "READ"),  # as narrow as alice's, which came first
        (Op.CREATE, "churn", "alice", "READ"),
        (Op.CREATE, "churn-model", "carol", "MANAGE"),
    ]


def test_a_principal_the_destination_does_not_list_is_reported_not_created() -> None:
    dest = PermSnap(users=frozenset({"alice@corp"}))
    actions = plan_permissions(SOURCE, dest, PermOptions(MAP, dest_kind="basic-auth"))
    assert sorted(
        (a.op.value, a.details["principal"], a.details.get("reason", "")) for a in actions
    ) == [
        ("create", "alice", ""),
        ("uncopied", "carol", "no user 'carol@corp' on the destination (users are not created)"),
        ("uncopied", "carol", "no user 'carol@corp' on the destination (users are not created)"),
        ("uncopied", "dave", "principal not in the map"),
    ]


def test_csv_map_names_each_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "map.csv"
    path.write_text("source,destination\nalice,alice@corp\nbob\nalice,other@corp\n")
    mapping, problems = read_csv_map(str(path))
    assert mapping == {"alice": "alice@corp"}
    assert problems == [
        f"principal map {path} line 3: want two cells, source,destination",
        f"principal map {path} line 4: source principal 'alice' mapped twice",
    ]


def test_only_grants_this_tool_made_are_revoked_where_their_resource_was_read() -> None:
    made = {
        "experiment|churn|alice": ("experiment|churn|alice@corp", "READ"),
        "experiment|churn|bob": ("experiment|churn|bob@corp", "READ"),
        "experiment|gone|alice": ("experiment|gone|alice@corp", "READ"),
        "experiment|churn|erin": ("experiment|churn|erin@corp", "EDIT"),
        "experiment|a|b|bob": ("experiment|a|b|bob@corp", "READ"),
    }
    dest = PermSnap(
        grants=[
            Grant("experiment", "churn", "alice@corp", "READ"),
            Grant("experiment", "churn", "bob@corp", "READ"),
            Grant("experiment", "gone", "alice@corp", "READ"),
            Grant("experiment", "churn", "erin@corp", "MANAGE"),  # changed since: left alone
            Grant("experiment", "churn", "frank@corp", "READ"),  # not ours: left alone
            Grant("experiment", "a|b", "bob@corp", "READ"),
        ],
        users=frozenset({"alice@corp", "bob@corp", "erin@corp", "frank@corp"}),
    )
    src = PermSnap(
        grants=[Grant("experiment", "churn", "alice", "READ")],
        resources=frozenset({("experiment", "churn"), ("experiment", "a|b")}),
    )  # not `gone`
    pmap = PrincipalMap({"alice": "alice@corp", "bob": "bob@corp"})
    actions = plan_permissions(src, dest, PermOptions(pmap, dest_kind="basic-auth", made=made))
    assert [(a.op, a.source_id, a.dest_id) for a in actions] == [
        (Op.SAME, "experiment|churn|alice", "experiment|churn|alice@corp"),
        (Op.DELETE, "experiment|a|b|bob", "experiment|a|b|bob@corp"),
        (Op.DELETE, "experiment|churn|bob", "experiment|churn|bob@corp"),
    ]
    assert actions[1].details["resource"] == "a|b"


def test_roles_and_uc_containers_have_a_place_only_where_the_destination_holds_them() -> None:
    """A role's grant and membership go only to an authentication app with roles (a role keeps its
    name, whatever `unmapped` says); a schema privilege only to Databricks (USE_SCHEMA, which only
    opens the way to the schema's models, is nothing to carry elsewhere)."""
    src = PermSnap(
        grants=[
            Grant("experiment", "churn", "role:readers", "READ"),
            Grant("role", "readers", "alice", "MEMBER"),
            Grant("schema", "main.ml", "alice", "EXECUTE"),
            Grant("schema", "main.ml", "alice", "USE_SCHEMA"),
        ]
    )
    pmap = PrincipalMap({"alice": "alice@corp"}, unmapped="default", default="team")

    def rows(kind: str, roles: bool) -> list[tuple[str, str | None]]:
        users = frozenset({"alice@corp"}) if kind == "basic-auth" else None
        dst = PermSnap(users=users, roles=roles)
        return [
            (a.op.value, a.details.get("reason"))
            for a in plan_permissions(src, dst, PermOptions(pmap, dest_kind=kind))
        ]

    no_roles = ("uncopied", "roles are written only to an MLflow authentication app with roles")
    assert rows("basic-auth", roles=True) == [
        ("uncopied", "the destination has no Unity Catalog schema to grant on"),
        ("create", None),
        ("create", None),
    ]
    assert rows("basic-auth", roles=False) == [
        no_roles,
        no_roles,
        ("uncopied", "the destination has no Unity Catalog schema to grant on"),
    ]
    assert rows("databricks", roles=False) == [
        no_roles,
        no_roles,
        ("create", None),
        ("create", None),
    ]
    created = plan_permissions(src, PermSnap(roles=True), PermOptions(pmap, dest_kind="basic-auth"))
    assert [a.details["dest_principal"] for a in created if a.op is Op.CREATE] == [
        "role:readers",
        "alice@corp",
    ]
