"""Databricks-like experiment permissions: `GET /api/2.0/permissions/experiments/<id>` (Experiments API,
"Get experiment permissions": https://docs.databricks.com/api/workspace/experiments/getpermissions; the
databricks-sdk call `w.experiments.get_permissions`, databricks/sdk/service/ml.py).

The answer has the documented shape of `ObjectPermissions`: `object_id` (`/experiments/<id>`), `object_type`
(`mlflowExperiment`) and `access_control_list`, one entry per principal (`user_name`, `group_name` or
`service_principal_name`, with `display_name`) holding `all_permissions` (`permission_level`, `inherited`,
`inherited_from_object`). As in a workspace, every experiment also lists the `admins` group's CAN_MANAGE,
inherited from the root (https://docs.databricks.com/security/auth/access-control/#mlflow-experiment-acls:
workspace admins have CAN MANAGE on every experiment). Not emulated: setting or updating permissions, other
object types, registered-model permissions (their ids come from the Databricks registry's own get call),
permission levels listing.
"""

from __future__ import annotations

import re

from tests.emulators.gateway import Gateway, Reply, Request, Rules, error

PREFIX = "/api/2.0/permissions/"
EXPERIMENT = re.compile(r"^/api/2\.0/permissions/experiments/(?P<id>[^/]+)$")
KEYS = {"user": "user_name", "group": "group_name", "service_principal": "service_principal_name"}
ADMINS = {"group_name": "admins", "all_permissions": [
    {"permission_level": "CAN_MANAGE", "inherited": True, "inherited_from_object": ["/experiments/"]}]}


class DatabricksPermissions(Rules):
    """Answer experiment permissions from `acls`: experiment id -> [(kind, name, level)], kind one of
    user, group, service_principal (direct grants; each experiment also shows the inherited admins)."""

    def __init__(self) -> None:
        self.acls: dict[str, list[tuple[str, str, str]]] = {}

    def check(self, req: Request, gateway: Gateway) -> Reply | None:
        if not req.path.startswith(PREFIX):
            return None
        m = EXPERIMENT.match(req.path)
        if m is None or req.method != "GET":
            return error(404, "ENDPOINT_NOT_FOUND", f"not emulated: {req.method} {req.path}")
        if m["id"] not in self.acls:
            return error(404, "RESOURCE_DOES_NOT_EXIST", f"Node ID {m['id']} does not exist.")
        entries = [{KEYS[kind]: name, "display_name": name, "all_permissions": [
            {"permission_level": level, "inherited": False}]} for kind, name, level in self.acls[m["id"]]]
        return Reply(200, {"object_id": f"/experiments/{m['id']}", "object_type": "mlflowExperiment",
                           "access_control_list": [*entries, ADMINS]})
