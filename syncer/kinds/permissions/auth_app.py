"""MLflow's authentication app (`mlflow server --app-name basic-auth`) over its REST routes
(mlflow.server.auth.routes): users, and each user's own grants on experiments and registered models.

MLflow 3.x keeps a user's direct grants in a hidden role named `__user_<id>__` (mlflow.server.auth.
sqlalchemy_store); grants through other roles are role grants, read and reported apart. Every call
needs an admin of that server (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD); passwords are
never read or set.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow.utils.rest_utils import http_request, verify_rest_response

from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint
from syncer.kinds.permissions.grants import RESOURCE_TYPES

USERS = "/api/2.0/mlflow/users/list"
USER_PERMISSIONS = "/api/3.0/mlflow/users/permissions/list"
GRANT = "/api/3.0/mlflow/users/permissions/grant"
REVOKE = "/api/3.0/mlflow/users/permissions/revoke"


@dataclass(frozen=True)
class Row:
    """One grant as the app lists it: `direct` when held through the user's own hidden role."""

    username: str
    resource_type: str
    resource_id: str
    permission: str
    direct: bool
    role: str


def _request(endpoint: Endpoint, path: str, method: str, **kwargs: object) -> dict:
    store = endpoint.client._tracking_client.store
    response = verify_rest_response(
        http_request(store.get_host_creds(), path, method, **kwargs), path
    )
    return response.json() if response.content else {}


def list_users(endpoint: Endpoint) -> dict[str, int]:
    """Every user of the app: username -> id."""
    body = call(endpoint, "list users", lambda: _request(endpoint, USERS, "GET"))
    return {u["username"]: int(u["id"]) for u in body.get("users", [])}


def user_rows(endpoint: Endpoint, username: str, user_id: int) -> list[Row]:
    """A user's grants on experiments and registered models (other resource types are left out)."""
    body = call(
        endpoint,
        "list user permissions",
        lambda: _request(endpoint, USER_PERMISSIONS, "GET", params={"username": username}),
    )
    own = f"__user_{user_id}__"
    return [
        Row(
            username,
            p["resource_type"],
            str(p["resource_pattern"]),
            p["permission"],
            p.get("role_name") == own,
            p.get("role_name", ""),
        )
        for p in body.get("permissions", [])
        if p.get("resource_type") in RESOURCE_TYPES
    ]


def grant(
    endpoint: Endpoint, username: str, resource_type: str, resource_id: str, level: str
) -> None:
    """Give a user `level` on one resource (the app refuses a second grant of the same resource)."""
    body = {
        "username": username,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "permission": level,
    }
    call(endpoint, "grant permission", lambda: _request(endpoint, GRANT, "POST", json=body))


def revoke(endpoint: Endpoint, username: str, resource_type: str, resource_id: str) -> None:
    """Take a user's own grant on one resource away."""
    body = {"username": username, "resource_type": resource_type, "resource_id": resource_id}
    call(endpoint, "revoke permission", lambda: _request(endpoint, REVOKE, "POST", json=body))
