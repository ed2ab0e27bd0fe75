"""Databricks experiment and workspace-registry model permissions through the Permissions API
(`GET /api/2.0/permissions/experiments/<id>`,
https://docs.databricks.com/api/workspace/experiments/getpermissions; `GET
/api/2.0/permissions/registered-models/<id>`), parsed with databricks-sdk's `iam.ObjectPermissions`;
the requests go through MLflow's REST helper with the workspace's credentials, as every other call
to it.

Only direct grants are read: an entry whose every level is `inherited` (from the workspace folder,
or the `admins` group's CAN_MANAGE on everything) belongs to the parent, not to the object.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mlflow.utils.rest_utils import http_request, verify_rest_response

from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint

if TYPE_CHECKING:  # databricks-sdk is imported only when a Databricks source's permissions are read
    from databricks.sdk.service.iam import AccessControlResponse, ObjectPermissions

MODEL = "/api/2.0/mlflow/databricks/registered-models/get"
# Databricks levels -> MLflow's authentication-app levels, never wider (experiment ACLs: CAN_READ,
# CAN_EDIT, CAN_MANAGE; registered models add CAN_MANAGE_STAGING_VERSIONS and
# CAN_MANAGE_PRODUCTION_VERSIONS, which are narrower than CAN_MANAGE:
# https://docs.databricks.com/security/auth/access-control/#mlflow-experiment-acls).
LEVELS = {
    "CAN_READ": "READ",
    "CAN_EDIT": "EDIT",
    "CAN_MANAGE_STAGING_VERSIONS": "EDIT",
    "CAN_MANAGE_PRODUCTION_VERSIONS": "EDIT",
    "CAN_MANAGE": "MANAGE",
}


def _principal(entry: AccessControlResponse) -> str | None:
    return entry.user_name or entry.group_name or entry.service_principal_name


def _get(endpoint: Endpoint, path: str) -> ObjectPermissions:
    store = endpoint.client._tracking_client.store
    body = verify_rest_response(http_request(store.get_host_creds(), path, "GET"), path).json()
    from databricks.sdk.service.iam import ObjectPermissions

    return ObjectPermissions.from_dict(body)


def _direct(acl: ObjectPermissions) -> list[tuple[str, str]]:
    """(principal, MLflow level) of each direct grant; the widest level a principal holds directly,
    mapped no wider."""
    out = []
    for entry in acl.access_control_list or []:
        direct = [
            p.permission_level.value
            for p in entry.all_permissions or []
            if not p.inherited and p.permission_level is not None
        ]
        levels = [LEVELS[lv] for lv in direct if lv in LEVELS]
        who = _principal(entry)
        if who and levels:
            out.append((who, max(levels, key=("READ", "EDIT", "MANAGE").index)))
    return out


def experiment_grants(endpoint: Endpoint, experiment_id: str) -> list[tuple[str, str]]:
    """The direct grants on one experiment."""
    path = f"/api/2.0/permissions/experiments/{experiment_id}"
    return _direct(call(endpoint, "get experiment permissions", lambda: _get(endpoint, path)))


def model_grants(endpoint: Endpoint, name: str) -> list[tuple[str, str]]:
    """The direct grants on one workspace-registry model: its id from the registry's Databricks get
    (https://docs.databricks.com/api/workspace/modelregistry/getmodel), then its permissions
    (https://docs.databricks.com/api/workspace/modelregistry/getpermissions)."""
    found = _model_id(endpoint, name)
    if found is None:
        return []
    path = f"/api/2.0/permissions/registered-models/{found}"
    return _direct(call(endpoint, "get model permissions", lambda: _get(endpoint, path)))


def _model_id(endpoint: Endpoint, name: str) -> str | None:
    store = endpoint.client._tracking_client.store
    response = call(
        endpoint,
        "get registered model",
        lambda: verify_rest_response(
            http_request(store.get_host_creds(), MODEL, "GET", params={"name": name}), MODEL
        ),
    )
    from databricks.sdk.service.ml import GetModelResponse

    found = GetModelResponse.from_dict(response.json()).registered_model_databricks
    return found.id if found is not None and found.id else None


# MLflow levels -> the Databricks level written, never wider (Databricks has no "no permission"
# level: a NO_PERMISSIONS grant has no place there).
WRITE_LEVELS = {"READ": "CAN_READ", "USE": "CAN_READ", "EDIT": "CAN_EDIT", "MANAGE": "CAN_MANAGE"}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


def principal_entry(name: str) -> dict[str, str]:
    """The access-control entry key of a destination principal: an e-mail address is a user, an
    application id (a UUID) a service principal, any other name a group."""
    if "@" in name:
        return {"user_name": name}
    if _UUID.match(name):
        return {"service_principal_name": name}
    return {"group_name": name}


def _object_path(endpoint: Endpoint, resource_type: str, resource_id: str) -> str:
    """The Permissions API path of an experiment (by id) or a workspace-registry model (by name)."""
    if resource_type == "experiment":
        return f"/api/2.0/permissions/experiments/{resource_id}"
    found = _model_id(endpoint, resource_id)
    if found is None:
        raise LookupError(f"destination model {resource_id!r} has no Databricks id")
    return f"/api/2.0/permissions/registered-models/{found}"


def _send(endpoint: Endpoint, path: str, method: str, acl: list[dict]) -> None:
    store = endpoint.client._tracking_client.store
    verify_rest_response(
        http_request(store.get_host_creds(), path, method, json={"access_control_list": acl}), path
    )


def grant(endpoint: Endpoint, resource_type: str, resource_id: str, who: str, level: str) -> None:
    """Add one principal's grant: `PATCH` merges the entry into the object's direct ACL
    (https://docs.databricks.com/api/access-management/v1/update-object-permissions;
    https://docs.databricks.com/api/workspace/experiments/updatepermissions)."""
    path = _object_path(endpoint, resource_type, resource_id)
    entry = {**principal_entry(who), "permission_level": WRITE_LEVELS[level]}
    call(endpoint, "update permissions", lambda: _send(endpoint, path, "PATCH", [entry]))


def replace(
    endpoint: Endpoint, resource_type: str, resource_id: str, who: str, level: str | None
) -> None:
    """Change (`level`) or take away (None) one principal's direct grant: the object's direct ACL
    read, then set whole without that principal's entry, or with it at `level` (`PUT` replaces every
    direct grant: https://docs.databricks.com/api/access-management/v1/set-object-permissions)."""
    path = _object_path(endpoint, resource_type, resource_id)
    current = call(endpoint, "get permissions", lambda: _get(endpoint, path))
    acl = [
        {**principal_entry(p), "permission_level": lv} for p, lv in _direct_raw(current) if p != who
    ]
    if level is not None:
        acl.append({**principal_entry(who), "permission_level": WRITE_LEVELS[level]})
    call(endpoint, "set permissions", lambda: _send(endpoint, path, "PUT", acl))


def _direct_raw(acl: ObjectPermissions) -> list[tuple[str, str]]:
    """(principal, Databricks level) of each direct grant, as held."""
    return [
        (who, p.permission_level.value)
        for entry in acl.access_control_list or []
        if (who := _principal(entry))
        for p in entry.all_permissions or []
        if not p.inherited and p.permission_level is not None
    ]
