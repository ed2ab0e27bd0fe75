"""Unity Catalog grants on a model's schema and catalog, read from one catalog and written to
another through the principal map, in the HTTP-level grants emulator (tests/emulators/uc_grants.py)
in front of the session's destination server (whose own routes these requests never reach)."""

from __future__ import annotations

import secrets

import pytest

from syncer.backends.endpoint import Endpoint
from syncer.core.actions import SIGIL, Op
from syncer.kinds.permissions.apply import apply_databricks
from syncer.kinds.permissions.grants import PrincipalMap
from syncer.kinds.permissions.plan import PermOptions, plan_permissions
from syncer.kinds.permissions.scan import scan_permissions
from tests.emulators.databricks import API, DatabricksRules
from tests.emulators.gateway import Gateway
from tests.emulators.uc_grants import PREFIX, UnityCatalogGrants
from tests.fixtures.azure import Emulated, point_sdk_at
from tests.fixtures.procs import MlflowServer

MAP = PrincipalMap(
    {"ml-team": "ml-team-prod", "alice@corp.com": "alice@corp.com", "bob": "bob@corp.com"}
)
MADE = {"schema|prod.ml|bob|USE_SCHEMA": ("schema|prod.ml|bob@corp.com|USE_SCHEMA", "USE_SCHEMA")}


def _pass(endpoint: Endpoint) -> list[tuple[str, str]]:
    """Read both catalogs' grants, plan main.ml.churn -> prod.ml.churn, write: (sigil, label) of
    each row that is no `=`."""
    src, _ = scan_permissions(endpoint, {}, {"main.ml.churn": "prod.ml.churn"})
    dst, _ = scan_permissions(endpoint, {}, {"prod.ml.churn": "prod.ml.churn"})
    actions = plan_permissions(src, dst, PermOptions(MAP, dest_kind="databricks", made=MADE))
    for a in actions:
        if a.mutates:
            apply_databricks(endpoint, a, a.details["resource"])
    return sorted((SIGIL[a.op], a.label) for a in actions if a.op != Op.SAME)


def test_schema_and_catalog_privileges_arrive_one_by_one(
    dest_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The privileges that reach models arrive on the destination's schema and catalog
    (ALL_PRIVILEGES as those it holds, never wider), a privilege this tool made and the source took
    away is removed, the destination's own privileges stay, an unmapped principal is reported; a
    second pass writes nothing."""
    token = f"dapi{secrets.token_hex(8)}"
    rules, uc = DatabricksRules(token), UnityCatalogGrants()
    rules.apis = (API, PREFIX)
    uc.grants = {"main.ml.churn": {"ml-team": {"EXECUTE"}}, "prod.ml.churn": {}}
    uc.schemas = {
        "main.ml": {
            "ml-team": {"USE_SCHEMA", "EXECUTE"},
            "alice@corp.com": {"ALL_PRIVILEGES"},
            "dave": {"USE_SCHEMA"},
            "ops": {"SELECT"},
        },
        "prod.ml": {
            "ml-team-prod": {"USE_SCHEMA"},
            "bob@corp.com": {"USE_SCHEMA"},
            "etl": {"SELECT", "MODIFY"},
        },
    }
    uc.catalogs = {
        "main": {"ml-team": {"USE_CATALOG"}, "alice@corp.com": {"USE_CATALOG", "CREATE_SCHEMA"}}
    }
    gateway = Gateway(dest_server.url, [rules, uc]).start()
    try:
        point_sdk_at(Emulated(dest_server, gateway, rules, token), monkeypatch)
        endpoint = Endpoint("databricks", "databricks", role="destination")
        first = _pass(endpoint)
        writes = list(uc.writes)
        second = _pass(endpoint)
    finally:
        gateway.stop()
    assert first == [
        ("!", "schema 'prod.ml': dave USE_SCHEMA"),  # not in the map
        ("+", "catalog 'prod': alice@corp.com USE_CATALOG"),  # CREATE_SCHEMA does not reach models
        ("+", "catalog 'prod': ml-team -> ml-team-prod USE_CATALOG"),
        ("+", "registered_model 'prod.ml.churn': ml-team -> ml-team-prod READ"),
        ("+", "schema 'prod.ml': alice@corp.com APPLY_TAG"),  # ALL_PRIVILEGES, as far as models go
        ("+", "schema 'prod.ml': alice@corp.com CREATE_MODEL"),
        ("+", "schema 'prod.ml': alice@corp.com EXECUTE"),
        ("+", "schema 'prod.ml': alice@corp.com USE_SCHEMA"),
        ("+", "schema 'prod.ml': ml-team -> ml-team-prod EXECUTE"),
        ("-", "schema 'prod.ml': bob -> bob@corp.com USE_SCHEMA (revoked)"),
    ]
    assert uc.schemas == {
        "main.ml": {
            "ml-team": {"USE_SCHEMA", "EXECUTE"},
            "alice@corp.com": {"ALL_PRIVILEGES"},
            "dave": {"USE_SCHEMA"},
            "ops": {"SELECT"},
        },  # the source: never written
        "prod.ml": {
            "ml-team-prod": {"USE_SCHEMA", "EXECUTE"},
            "etl": {"SELECT", "MODIFY"},
            "alice@corp.com": {"USE_SCHEMA", "EXECUTE", "APPLY_TAG", "CREATE_MODEL"},
        },
    }
    assert uc.catalogs == {
        "main": {"ml-team": {"USE_CATALOG"}, "alice@corp.com": {"USE_CATALOG", "CREATE_SCHEMA"}},
        "prod": {"ml-team-prod": {"USE_CATALOG"}, "alice@corp.com": {"USE_CATALOG"}},
    }
    assert uc.grants["prod.ml.churn"] == {"ml-team-prod": {"EXECUTE"}}
    assert sorted(set(writes)) == ["catalog:prod", "prod.ml.churn", "schema:prod.ml"]
    assert second == [("!", "schema 'prod.ml': dave USE_SCHEMA")] and uc.writes == writes
