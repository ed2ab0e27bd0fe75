"""Roles of MLflow's authentication app (MLflow 3's RBAC, mlflow.server.auth.routes:
`/api/3.0/mlflow/roles/...`): each role's permissions on resources and its members, read and
written by an admin.

Only the default workspace's roles are read (the tool copies one workspace); a user's own hidden
role `__user_<id>__` holds that user's direct grants (syncer.kinds.permissions.auth_app) and is left
out here. A server without the role routes (an older MLflow) answers 404: it has no roles (None).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlflow.exceptions import MlflowException
from mlflow.utils.rest_utils import http_request, verify_rest_response

from syncer.backends.calls import call
from syncer.backends.classify import not_offered
from syncer.backends.endpoint import Endpoint

ROLES = "/api/3.0/mlflow/roles/"
WORKSPACE = "default"  # mlflow.utils.workspace_utils.DEFAULT_WORKSPACE_NAME
# A user's hidden role (mlflow.server.auth.sqlalchemy_store: _SYNTHETIC_ROLE_NAME_RE).
_OWN = re.compile(r"^__user_\d+__$")


@dataclass(frozen=True)
class RoleGrant:
    """One permission of a role: `pattern` is an experiment id, a model name, or `*` (every one)."""

    id: int
    resource_type: str
    pattern: str
    permission: str


@dataclass(frozen=True)
class Role:
    """A role of the default workspace, its permissions and its members' user ids."""

    id: int
    name: str
    grants: tuple[RoleGrant, ...]
    members: frozenset[int]


def _request(endpoint: Endpoint, route: str, method: str, **kwargs: object) -> dict:
    store = endpoint.client._tracking_client.store
    path = ROLES + route
    answer = http_request(store.get_host_creds(), path, method, **kwargs)
    response = verify_rest_response(answer, path)
    return response.json() if response.content else {}


def _listed(endpoint: Endpoint) -> list[dict] | None:
    try:
        body = call(
            endpoint,
            "list roles",
            lambda: _request(endpoint, "list", "GET", params={"workspace": WORKSPACE}),
        )
    except MlflowException as exc:
        if not_offered(exc):
            return None
        raise
    return [r for r in body.get("roles", []) if not _OWN.match(r["name"])]


def _role(endpoint: Endpoint, listed: dict) -> Role:
    """A listed role with its members."""
    body = call(
        endpoint,
        "list role users",
        lambda: _request(endpoint, "users/list", "GET", params={"role_id": str(listed["id"])}),
    )
    grants = tuple(
        RoleGrant(int(p["id"]), p["resource_type"], str(p["resource_pattern"]), p["permission"])
        for p in listed.get("permissions", [])
    )
    members = frozenset(int(a["user_id"]) for a in body.get("assignments", []))
    return Role(int(listed["id"]), listed["name"], grants, members)


def list_roles(endpoint: Endpoint) -> list[Role] | None:
    """The roles of the default workspace with their members (None: the app has no roles)."""
    listed = _listed(endpoint)
    return None if listed is None else [_role(endpoint, r) for r in listed]


def find_or_create(endpoint: Endpoint, name: str) -> Role:
    """The default workspace's role `name`, created (without permissions or members) when missing; a
    create whose answer was lost is found on the next look."""
    for attempt in range(2):
        found = next((r for r in _listed(endpoint) or [] if r["name"] == name), None)
        if found is not None:
            return _role(endpoint, found)
        try:
            body = call(
                endpoint,
                "create role",
                lambda: _request(
                    endpoint, "create", "POST", json={"workspace": WORKSPACE, "name": name}
                ),
            )
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS" or attempt:
                raise
            continue
        return Role(int(body["role"]["id"]), name, (), frozenset())
    raise LookupError(f"role {name!r} neither found nor created")


def set_permission(
    endpoint: Endpoint, role: Role, resource_type: str, resource_id: str, level: str | None
) -> None:
    """Make the role hold `level` on one resource (None: no permission there): added, updated or
    removed."""
    where = (resource_type, resource_id)
    held = next((g for g in role.grants if (g.resource_type, g.pattern) == where), None)
    if held is None and level is not None:
        body = {
            "role_id": role.id,
            "resource_type": resource_type,
            "resource_pattern": resource_id,
            "permission": level,
        }
        call(
            endpoint,
            "add role permission",
            lambda: _request(endpoint, "permissions/add", "POST", json=body),
        )
    elif held is not None and level is None:
        call(
            endpoint,
            "remove role permission",
            lambda: _request(
                endpoint, "permissions/remove", "DELETE", json={"role_permission_id": held.id}
            ),
        )
    elif held is not None and held.permission != level:
        body = {"role_permission_id": held.id, "permission": level}
        call(
            endpoint,
            "update role permission",
            lambda: _request(endpoint, "permissions/update", "PATCH", json=body),
        )


def set_member(endpoint: Endpoint, role: Role, username: str, user_id: int, member: bool) -> None:
    """Assign the user to the role, or take the assignment away."""
    if (user_id in role.members) == member:
        return
    body = {"username": username, "role_id": role.id}
    if member:
        call(endpoint, "assign role", lambda: _request(endpoint, "assign", "POST", json=body))
    else:
        call(endpoint, "unassign role", lambda: _request(endpoint, "unassign", "DELETE", json=body))
