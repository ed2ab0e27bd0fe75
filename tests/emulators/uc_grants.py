"""Unity-Catalog-like grants on registered models and their schemas and catalogs: `GET` and `PATCH
/api/2.1/unity-catalog/permissions/{securable_type}/{full_name}` (Grants API, "Get permissions":
https://docs.databricks.com/api/uc-grants/v1/get-permissions; "Update permissions":
https://docs.databricks.com/api/uc-grants/v1/update-permissions; databricks-sdk `w.grants.get` /
`w.grants.update`, databricks/sdk/service/catalog.py). A registered model is a securable of type
FUNCTION there (SQL `GRANT EXECUTE ON FUNCTION <model>`), with the privileges that apply to models:
ALL_PRIVILEGES, APPLY_TAG, EXECUTE, MANAGE
(https://docs.databricks.com/data-governance/unity-catalog/access-control/privileges-reference).

GET answers `privilege_assignments` (`principal`, `privileges`), the direct grants only; with
`max_results=0` (the paginated form) the assignments come one per page, each page but the last
carrying a `next_page_token` ("Every PrivilegeAssignment present in a single page response is
guaranteed to contain all the privileges granted on the requested Securable for the respective
principal"). PATCH takes `changes`, each a `principal` with privileges to `add` and `remove`, and
answers the assignments after the change. Models are the emulator's own table (`grants`: full name
-> principal -> privileges), not the server's registry: an unknown name is RESOURCE_DOES_NOT_EXIST.
Not emulated: other securable types (tables, volumes, ...), inherited or effective permissions,
`principal_id`, principals that do not exist.

Schemas and catalogs (`SCHEMA`, `CATALOG`; the same two requests with
`schema/<catalog>.<schema>` and `catalog/<catalog>`) are the tables `schemas` and `catalogs`; the
schema and catalog of every model of `grants` exist too (a model lives in one), with no direct
grant until one is written. Their privileges are the ones the privileges reference lists for those
securables ("Privilege types by securable object",
https://docs.databricks.com/data-governance/unity-catalog/manage-privileges/privileges.html); a
privilege not applicable answers 400 INVALID_PARAMETER_VALUE.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote

from tests.emulators.gateway import Gateway, Reply, Request, Rules, error

PREFIX = "/api/2.1/unity-catalog/permissions/"
PATH = re.compile(r"^/api/2\.1/unity-catalog/permissions/(?P<type>[^/]+)/(?P<name>[^/]+)$")
PRIVILEGES = frozenset({"ALL_PRIVILEGES", "APPLY_TAG", "EXECUTE", "MANAGE"})
_CONTAINED = frozenset(
    {
        "ALL_PRIVILEGES",
        "APPLY_TAG",
        "BROWSE",
        "CREATE_FUNCTION",
        "CREATE_MODEL",
        "CREATE_TABLE",
        "CREATE_VOLUME",
        "EXECUTE",
        "MANAGE",
        "MODIFY",
        "READ_VOLUME",
        "SELECT",
        "USE_SCHEMA",
        "WRITE_VOLUME",
    }
)
APPLICABLE = {
    "FUNCTION": PRIVILEGES,
    "SCHEMA": _CONTAINED,
    "CATALOG": _CONTAINED | {"USE_CATALOG", "CREATE_SCHEMA"},
}


class UnityCatalogGrants(Rules):
    """Answer grants on the models of `grants` (full name -> principal -> privileges), and on the
    schemas and catalogs of `schemas` and `catalogs` (the same shape)."""

    def __init__(self) -> None:
        self.grants: dict[str, dict[str, set[str]]] = {}
        self.schemas: dict[str, dict[str, set[str]]] = {}
        self.catalogs: dict[str, dict[str, set[str]]] = {}
        # the full name of each PATCH (`schema:`, `catalog:` before a container's)
        self.writes: list[str] = []

    def _table(self, securable: str, name: str) -> dict[str, set[str]] | None:
        """The grants of one securable (None: it does not exist)."""
        if securable == "FUNCTION":
            return self.grants.get(name)
        table, depth = (self.schemas, 2) if securable == "SCHEMA" else (self.catalogs, 1)
        if name not in table and any(".".join(m.split(".")[:depth]) == name for m in self.grants):
            table[name] = {}
        return table.get(name)

    def check(self, req: Request, gateway: Gateway) -> Reply | None:
        if not req.path.startswith(PREFIX):
            return None
        m = PATH.match(req.path)
        securable = m["type"].upper() if m else ""
        if m is None or req.method not in ("GET", "PATCH") or securable not in APPLICABLE:
            return error(404, "ENDPOINT_NOT_FOUND", f"not emulated: {req.method} {req.path}")
        name = unquote(m["name"])
        table = self._table(securable, name)
        if table is None:
            return error(
                404, "RESOURCE_DOES_NOT_EXIST", f"{securable.capitalize()} '{name}' does not exist."
            )
        if req.method == "PATCH":
            problem = self._patch(securable, name, table, req.json().get("changes") or [])
            return error(400, "INVALID_PARAMETER_VALUE", problem) if problem else self._all(table)
        if parse_qs(req.query).get("max_results") == ["0"]:
            return self._page(table, parse_qs(req.query).get("page_token", ["0"])[0])
        return self._all(table)

    def _patch(
        self, securable: str, name: str, table: dict[str, set[str]], changes: list[dict]
    ) -> str | None:
        applicable = APPLICABLE[securable]
        for c in changes:
            asked = set(c.get("add") or []) | set(c.get("remove") or [])
            if not c.get("principal") or not asked <= applicable:
                return f"Privilege {sorted(asked - applicable)} is not applicable to this entity"
        self.writes.append(name if securable == "FUNCTION" else f"{securable.lower()}:{name}")
        for c in changes:
            held = table.setdefault(c["principal"], set())
            held |= set(c.get("add") or [])
            held -= set(c.get("remove") or [])
            if not held:
                del table[c["principal"]]
        return None

    @staticmethod
    def _assignments(table: dict[str, set[str]]) -> list[dict]:
        return [{"principal": p, "privileges": sorted(privs)} for p, privs in sorted(table.items())]

    def _all(self, table: dict[str, set[str]]) -> Reply:
        return Reply(200, {"privilege_assignments": self._assignments(table)})

    def _page(self, table: dict[str, set[str]], token: str) -> Reply:
        everyone, at = self._assignments(table), int(token)
        body: dict = {"privilege_assignments": everyone[at : at + 1]}
        if at + 1 < len(everyone):
            body["next_page_token"] = str(at + 1)
        return Reply(200, body)
