"""Unity Catalog grants on registered models (`catalog.schema.name`) through the grants API: `GET`
and `PATCH /api/2.1/unity-catalog/permissions/function/<full_name>`
(https://docs.databricks.com/api/uc-grants/v1/get-permissions,
https://docs.databricks.com/api/uc-grants/v1/update-permissions): a registered model is a securable
of type FUNCTION there, its privileges EXECUTE, APPLY_TAG, MANAGE and ALL_PRIVILEGES
(https://docs.databricks.com/data-governance/unity-catalog/access-control/privileges-reference).
Only direct grants are read (the API lists no inherited ones).

MLflow levels from privileges, never wider: READ needs EXECUTE (reading and loading versions); EDIT
needs EXECUTE and APPLY_TAG (ALL_PRIVILEGES holds both); MANAGE needs those and MANAGE. A level is
written as exactly the privileges it needs, so what is written reads back as the same level.
"""

from __future__ import annotations

from urllib.parse import quote

from mlflow.utils.rest_utils import http_request, verify_rest_response

from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint

PATH = "/api/2.1/unity-catalog/permissions/"
WRITE = {
    "READ": ["EXECUTE"],
    "USE": ["EXECUTE"],
    "EDIT": ["EXECUTE", "APPLY_TAG"],
    "MANAGE": ["EXECUTE", "APPLY_TAG", "MANAGE"],
}
MODEL_PRIVILEGES = frozenset({"EXECUTE", "APPLY_TAG", "MANAGE", "ALL_PRIVILEGES"})


def level_of(privileges: set[str]) -> str | None:
    """The widest MLflow level the privileges cover (None: not even READ)."""
    held = set(privileges) | ({"EXECUTE", "APPLY_TAG"} if "ALL_PRIVILEGES" in privileges else set())
    covered = [lv for lv in ("MANAGE", "EDIT", "READ") if set(WRITE[lv]) <= held]
    return covered[0] if covered else None


def _request(
    endpoint: Endpoint, name: str, method: str, securable: str = "function", **kwargs: object
) -> dict:
    store = endpoint.client._tracking_client.store
    path = f"{PATH}{securable}/{quote(name, safe='')}"
    response = http_request(store.get_host_creds(), path, method, **kwargs)
    return verify_rest_response(response, path).json()


def privileges(endpoint: Endpoint, name: str, securable: str = "function") -> dict[str, set[str]]:
    """principal -> direct privileges on one securable (a model by default), every page read."""
    out: dict[str, set[str]] = {}
    token: str | None = None
    while True:
        params = {"max_results": 0, **({"page_token": token} if token else {})}
        body = call(
            endpoint,
            "get grants",
            lambda p=params: _request(endpoint, name, "GET", securable, params=p),
        )
        for a in body.get("privilege_assignments") or []:
            if a.get("principal"):
                out.setdefault(a["principal"], set()).update(a.get("privileges") or [])
        token = body.get("next_page_token")
        if not token:
            return out


def model_grants(endpoint: Endpoint, name: str) -> list[tuple[str, str]]:
    """(principal, MLflow level) of each direct grant on one Unity Catalog model."""
    return [
        (who, level)
        for who, privs in sorted(privileges(endpoint, name).items())
        if (level := level_of(privs)) is not None
    ]


def change(endpoint: Endpoint, name: str, who: str, level: str | None) -> None:
    """Make `who` hold exactly `level`'s privileges among the model's (None: none of them): the
    missing ones added, the others removed, in one PATCH."""
    held = privileges(endpoint, name).get(who, set()) & MODEL_PRIVILEGES
    wanted = set(WRITE[level]) if level else set()
    delta = {"principal": who, "add": sorted(wanted - held), "remove": sorted(held - wanted)}
    body = {"changes": [delta]}
    call(endpoint, "update grants", lambda: _request(endpoint, name, "PATCH", json=body))


# The privileges on a model's schema and catalog that reach models, carried one by one
# (https://docs.databricks.com/data-governance/unity-catalog/manage-privileges/privileges.html):
# to reach a model a principal needs USE_CATALOG on its catalog and USE_SCHEMA on its schema;
# EXECUTE and APPLY_TAG on a schema apply to every model in it, CREATE_MODEL creates models there.
# ALL_PRIVILEGES is carried as those (never wider: it reaches tables and volumes too); other
# privileges (tables, volumes, MANAGE of the whole container) are not read.
CONTAINER = {
    "catalog": ("USE_CATALOG",),
    "schema": ("USE_SCHEMA", "EXECUTE", "APPLY_TAG", "CREATE_MODEL"),
}


def container_grants(endpoint: Endpoint, securable: str, name: str) -> list[tuple[str, str]]:
    """(principal, privilege) of each carried direct privilege on a catalog or schema."""
    carried = CONTAINER[securable]
    return [
        (who, p)
        for who, privs in sorted(privileges(endpoint, name, securable).items())
        for p in carried
        if p in privs or "ALL_PRIVILEGES" in privs
    ]


def change_privilege(
    endpoint: Endpoint, securable: str, name: str, who: str, privilege: str, add: bool
) -> None:
    """Add or remove one privilege of `who` on a catalog or schema (one PATCH; other privileges are
    left as they are)."""
    body = {"changes": [{"principal": who, "add" if add else "remove": [privilege]}]}
    call(endpoint, "update grants", lambda: _request(endpoint, name, "PATCH", securable, json=body))
