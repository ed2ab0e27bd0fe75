"""Unity-Catalog-like grants on registered models: `GET` and `PATCH
/api/2.1/unity-catalog/permissions/function/<full_name>` (Grants API, "Get permissions":
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
Not emulated: other securable types, inherited or effective permissions, `principal_id`, principals
that do not exist.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote

from tests.emulators.gateway import Gateway, Reply, Request, Rules, error

PREFIX = "/api/2.1/unity-catalog/permissions/"
PATH = re.compile(r"^/api/2\.1/unity-catalog/permissions/(?P<type>[^/]+)/(?P<name>[^/]+)$")
PRIVILEGES = frozenset({"ALL_PRIVILEGES", "APPLY_TAG", "EXECUTE", "MANAGE"})


class UnityCatalogGrants(Rules):
    """Answer grants on the models of `grants` (full name -> principal -> privileges)."""

    def __init__(self) -> None:
        self.grants: dict[str, dict[str, set[str]]] = {}
        self.writes: list[str] = []  # full name of each PATCH

    def check(self, req: Request, gateway: Gateway) -> Reply | None:
        if not req.path.startswith(PREFIX):
            return None
        m = PATH.match(req.path)
        if m is None or req.method not in ("GET", "PATCH") or m["type"].upper() != "FUNCTION":
            return error(404, "ENDPOINT_NOT_FOUND", f"not emulated: {req.method} {req.path}")
        name = unquote(m["name"])
        if name not in self.grants:
            return error(404, "RESOURCE_DOES_NOT_EXIST", f"Function '{name}' does not exist.")
        if req.method == "PATCH":
            problem = self._patch(name, req.json().get("changes") or [])
            return error(400, "INVALID_PARAMETER_VALUE", problem) if problem else self._all(name)
        if parse_qs(req.query).get("max_results") == ["0"]:
            return self._page(name, parse_qs(req.query).get("page_token", ["0"])[0])
        return self._all(name)

    def _patch(self, name: str, changes: list[dict]) -> str | None:
        for c in changes:
            asked = set(c.get("add") or []) | set(c.get("remove") or [])
            if not c.get("principal") or not asked <= PRIVILEGES:
                return f"Privilege {sorted(asked - PRIVILEGES)} is not applicable to this entity"
        self.writes.append(name)
        for c in changes:
            held = self.grants[name].setdefault(c["principal"], set())
            held |= set(c.get("add") or [])
            held -= set(c.get("remove") or [])
            if not held:
                del self.grants[name][c["principal"]]
        return None

    def _assignments(self, name: str) -> list[dict]:
        return [{"principal": p, "privileges": sorted(privs)}
                for p, privs in sorted(self.grants[name].items())]

    def _all(self, name: str) -> Reply:
        return Reply(200, {"privilege_assignments": self._assignments(name)})

    def _page(self, name: str, token: str) -> Reply:
        everyone, at = self._assignments(name), int(token)
        body: dict = {"privilege_assignments": everyone[at:at + 1]}
        if at + 1 < len(everyone):
            body["next_page_token"] = str(at + 1)
        return Reply(200, body)
