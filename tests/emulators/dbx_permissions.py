"""Databricks-like experiment and workspace-registry model permissions: `GET
/api/2.0/permissions/experiments/<id>` (Experiments API, "Get experiment permissions":
https://docs.databricks.com/api/workspace/experiments/getpermissions; databricks-sdk
`w.experiments.get_permissions`) and `GET /api/2.0/permissions/registered-models/<id>` (Model
Registry API, "Get registered model permissions":
https://docs.databricks.com/api/workspace/modelregistry/getpermissions), with a model's id from `GET
/api/2.0/mlflow/databricks/registered-models/get?name=`
(https://docs.databricks.com/api/workspace/modelregistry/getmodel: `registered_model_databricks.id`;
databricks-sdk `w.model_registry.get_model`, databricks/sdk/service/ml.py).

The answer has the documented shape of `ObjectPermissions`: `object_id` (`/experiments/<id>`),
`object_type` (`mlflowExperiment`) and `access_control_list`, one entry per principal (`user_name`,
`group_name` or `service_principal_name`, with `display_name`) holding `all_permissions`
(`permission_level`, `inherited`, `inherited_from_object`); a model's object type is
`registered-model`. As in a workspace, every object also lists the `admins` group's CAN_MANAGE,
inherited from the root
(https://docs.databricks.com/security/auth/access-control/#mlflow-experiment-acls: workspace admins
have CAN MANAGE on every experiment). The models and their ids are the emulator's own table
(`models`), and a model the server behind holds gets an id the first time it is asked for; every
experiment id is taken as an existing experiment (one without direct grants until some are written).

Writes: `PATCH` (https://docs.databricks.com/api/access-management/v1/update-object-permissions,
"Update experiment permissions":
https://docs.databricks.com/api/workspace/experiments/updatepermissions) merges each
`access_control_list` entry (one of `user_name`, `group_name`, `service_principal_name`, and a
`permission_level`) into the object's direct grants; `PUT`
(https://docs.databricks.com/api/access-management/v1/set-object-permissions) replaces every direct
grant with the list given. Both answer the object's permissions, as GET. Not emulated: other object
types, permission levels listing, principals that do not exist, the rest of the Databricks model get
answer.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from tests.emulators.gateway import Gateway, Reply, Request, Rules, error

PREFIX = "/api/2.0/permissions/"
OBJECT = re.compile(
    r"^/api/2\.0/permissions/(?P<type>experiments|registered-models)/(?P<id>[^/]+)$"
)
MODEL_GET = "/api/2.0/mlflow/databricks/registered-models/get"
TYPES = {
    "experiments": ("experiments", "mlflowExperiment"),
    "registered-models": ("registered-models", "registered-model"),
}
KEYS = {"user": "user_name", "group": "group_name", "service_principal": "service_principal_name"}
# The levels of experiments and registered models (the Permissions API's `permission_level` values
# that apply to them:
# https://docs.databricks.com/security/auth/access-control/#mlflow-experiment-acls).
LEVELS = (
    "CAN_READ",
    "CAN_EDIT",
    "CAN_MANAGE",
    "CAN_MANAGE_STAGING_VERSIONS",
    "CAN_MANAGE_PRODUCTION_VERSIONS",
)
ADMINS = {
    "group_name": "admins",
    "all_permissions": [
        {
            "permission_level": "CAN_MANAGE",
            "inherited": True,
            "inherited_from_object": ["/experiments/"],
        }
    ],
}


class DatabricksPermissions(Rules):
    """Answer permissions from `acls`: object id (an experiment id, or a model id of `models`: name
    -> id)
    -> [(kind, name, level)], kind one of user, group, service_principal (direct grants; each object
      also
    shows the inherited admins)."""

    def __init__(self) -> None:
        self.acls: dict[str, list[tuple[str, str, str]]] = {}
        self.models: dict[str, str] = {}
        self.writes: list[tuple[str, str]] = []  # (method, object id) of each PATCH and PUT

    def check(self, req: Request, gateway: Gateway) -> Reply | None:
        if req.path == MODEL_GET:
            name = parse_qs(req.query).get("name", [""])[0]
            if name not in self.models and self._served(gateway, name):
                self.models[name] = f"m-{len(self.models) + 1}"
            if name not in self.models:
                return error(
                    404, "RESOURCE_DOES_NOT_EXIST", f"Registered Model with name={name} not found"
                )
            return Reply(
                200, {"registered_model_databricks": {"name": name, "id": self.models[name]}}
            )
        if not req.path.startswith(PREFIX):
            return None
        m = OBJECT.match(req.path)
        if m is None or req.method not in ("GET", "PATCH", "PUT"):
            return error(404, "ENDPOINT_NOT_FOUND", f"not emulated: {req.method} {req.path}")
        if m["type"] == "registered-models" and m["id"] not in self.models.values():
            return error(404, "RESOURCE_DOES_NOT_EXIST", f"Node ID {m['id']} does not exist.")
        if req.method != "GET":
            self.writes.append((req.method, m["id"]))
            problem = self._write(m["id"], req.method, req.json().get("access_control_list") or [])
            if problem:
                return error(400, "INVALID_PARAMETER_VALUE", problem)
        return self._answer(m["type"], m["id"])

    @staticmethod
    def _served(gateway: Gateway, name: str) -> bool:
        """Whether the server behind has the model (one created through the gateway has an id)."""
        path = "/api/2.0/mlflow/registered-models/get"
        found = gateway.upstream_json("GET", path, params={"name": name})
        return "registered_model" in found

    def _write(self, object_id: str, method: str, acl: list[dict]) -> str | None:
        """PATCH merges each entry (a principal's direct level replaced); PUT sets the direct ACL
        whole."""
        held = {} if method == "PUT" else {(k, n): lv for k, n, lv in self.acls.get(object_id, [])}
        for entry in acl:
            kinds = [k for k, key in KEYS.items() if entry.get(key)]
            if len(kinds) != 1 or entry.get("permission_level") not in LEVELS:
                return f"invalid access control entry: {entry}"
            held[(kinds[0], entry[KEYS[kinds[0]]])] = entry["permission_level"]
        self.acls[object_id] = [(k, n, lv) for (k, n), lv in held.items()]
        return None

    def _answer(self, object_type: str, object_id: str) -> Reply:
        entries = [
            {
                KEYS[kind]: name,
                "display_name": name,
                "all_permissions": [{"permission_level": level, "inherited": False}],
            }
            for kind, name, level in self.acls.get(object_id, [])
        ]
        prefix, kind = TYPES[object_type]
        return Reply(
            200,
            {
                "object_id": f"/{prefix}/{object_id}",
                "object_type": kind,
                "access_control_list": [*entries, ADMINS],
            },
        )
