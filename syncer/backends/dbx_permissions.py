"""Databricks experiment and workspace-registry model permissions through the Permissions API
(`GET /api/2.0/permissions/experiments/<id>`,
https://docs.databricks.com/api/workspace/experiments/getpermissions; `GET
/api/2.0/permissions/registered-models/<id>`), parsed with databricks-sdk's `iam.ObjectPermissions`; the
requests go through MLflow's REST helper with the workspace's credentials, as every other call to it.

Only direct grants are read: an entry whose every level is `inherited` (from the workspace folder, or the
`admins` group's CAN_MANAGE on everything) belongs to the parent, not to the object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlflow.utils.rest_utils import http_request, verify_rest_response

from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint

if TYPE_CHECKING:  # databricks-sdk is imported only when a Databricks source's permissions are read
    from databricks.sdk.service.iam import AccessControlResponse, ObjectPermissions

MODEL = "/api/2.0/mlflow/databricks/registered-models/get"
# Databricks levels -> MLflow's authentication-app levels, never wider (experiment ACLs: CAN_READ, CAN_EDIT,
# CAN_MANAGE; registered models add CAN_MANAGE_STAGING_VERSIONS and CAN_MANAGE_PRODUCTION_VERSIONS, which
# are narrower than CAN_MANAGE: https://docs.databricks.com/security/auth/access-control/#mlflow-experiment-acls).
LEVELS = {"CAN_READ": "READ", "CAN_EDIT": "EDIT", "CAN_MANAGE_STAGING_VERSIONS": "EDIT",
          "CAN_MANAGE_PRODUCTION_VERSIONS": "EDIT", "CAN_MANAGE": "MANAGE"}


def _principal(entry: AccessControlResponse) -> str | None:
    return entry.user_name or entry.group_name or entry.service_principal_name


def _get(endpoint: Endpoint, path: str) -> ObjectPermissions:
    store = endpoint.client._tracking_client.store
    body = verify_rest_response(http_request(store.get_host_creds(), path, "GET"), path).json()
    from databricks.sdk.service.iam import ObjectPermissions

    return ObjectPermissions.from_dict(body)


def _direct(acl: ObjectPermissions) -> list[tuple[str, str]]:
    """(principal, MLflow level) of each direct grant; the widest level a principal holds directly, mapped
    no wider."""
    out = []
    for entry in acl.access_control_list or []:
        direct = [p.permission_level.value for p in entry.all_permissions or []
                  if not p.inherited and p.permission_level is not None]
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
    store = endpoint.client._tracking_client.store
    response = call(endpoint, "get registered model", lambda: verify_rest_response(http_request(
        store.get_host_creds(), MODEL, "GET", params={"name": name}), MODEL))
    from databricks.sdk.service.ml import GetModelResponse

    found = GetModelResponse.from_dict(response.json()).registered_model_databricks
    if found is None or not found.id:
        return []
    path = f"/api/2.0/permissions/registered-models/{found.id}"
    return _direct(call(endpoint, "get model permissions", lambda: _get(endpoint, path)))
