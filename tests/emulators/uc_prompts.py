"""Unity-Catalog-like prompts, READ side: the `/api/2.0/mlflow/unity-catalog/prompts` API that
MLflow's `databricks-uc` registry store calls (mlflow/store/_unity_catalog/registry/rest_store.py,
`UnityCatalogPromptService`), answered from the prompt registry of the real server behind the
gateway.

The tests write prompts named `catalog.schema.name` to the real server directly (its prompt registry
keeps them as tagged registered models); this gateway answers for them as Unity Catalog does, in
Unity Catalog's shapes: a prompt search needs a `catalog_schema` and answers names and descriptions
only (no tags, no aliases); `GET prompts/<name>` answers the prompt with its tags and aliases; a
version search (`prompts/<name>/versions/search`) answers every version with its template
(JSON-encoded, as Unity Catalog keeps it), commit message and tags, without aliases; `GET
prompts/<name>/versions/<v>` and `.../versions/by-alias/<alias>` answer one version with its
aliases. MLflow's own prompt tags (`mlflow.prompt.is_prompt`, `mlflow.prompt.text`) never leave the
gateway.

Not emulated: every write (create, tags, aliases, delete: 404), catalog and schema permissions and
listing (`/api/2.1/unity-catalog/...`), links from prompts to runs, models and traces, prompt search
filters besides catalog and schema, and the page size limits of the real service.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from urllib.parse import unquote

from tests.emulators.gateway import Gateway, Reply, Request, Rules, error

OSS = "/api/2.0/mlflow/"
PROMPTS = "/api/2.0/mlflow/unity-catalog/prompts"
IS_PROMPT, TEXT, TYPE = "mlflow.prompt.is_prompt", "mlflow.prompt.text", "_mlflow_prompt_type"
HIDDEN = {IS_PROMPT, TEXT}
ROUTES = [
    ("POST", re.compile(r"^/search$"), "_search"),
    ("GET", re.compile(r"^/(?P<name>[^/]+)$"), "_get"),
    ("POST", re.compile(r"^/(?P<name>[^/]+)/versions/search$"), "_versions"),
    ("GET", re.compile(r"^/(?P<name>[^/]+)/versions/by-alias/(?P<alias>[^/]+)$"), "_by_alias"),
    ("GET", re.compile(r"^/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$"), "_version"),
]


def _ts(ms: int | str | None) -> str | None:
    """Unity Catalog's timestamps are protobuf Timestamps (RFC 3339 in JSON), MLflow's
    milliseconds."""
    if ms is None:
        return None
    return (
        datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc).isoformat().replace("+00:00", "Z")
    )


def _tags(tags: list[dict]) -> list[dict]:
    return [{"key": t["key"], "value": t.get("value", "")} for t in tags if t["key"] not in HIDDEN]


def uc_version(v: dict, aliases: bool) -> dict:
    """An OSS prompt version (a registered model version) as Unity Catalog's PromptVersion."""
    tags = {t["key"]: t.get("value", "") for t in v.get("tags", [])}
    text = tags.get(TEXT, "")
    template = json.loads(text) if tags.get(TYPE) == "chat" else text
    out = {
        "name": v["name"],
        "version": str(v["version"]),
        "template": json.dumps(template),
        "description": v.get("description", ""),
        "tags": _tags(v.get("tags", [])),
        "creation_timestamp": _ts(v.get("creation_timestamp")),
        "last_updated_timestamp": _ts(v.get("last_updated_timestamp")),
    }
    if aliases:
        out["aliases"] = [{"alias": a, "version": str(v["version"])} for a in v.get("aliases", [])]
    return {k: val for k, val in out.items() if val is not None}


class UnityCatalogPrompts(Rules):
    """Answer Unity Catalog's prompt API from the server's prompt registry (place after
    DatabricksRules)."""

    def check(self, req: Request, gateway: Gateway) -> Reply | None:
        if not req.path.startswith(PROMPTS):
            return None
        rest = req.path[len(PROMPTS) :]
        for method, pattern, handler in ROUTES:
            m = pattern.match(rest)
            if m and req.method == method:
                gateway.count(f"uc prompts {handler[1:]}")
                return getattr(self, handler)(
                    req, gateway, **{k: unquote(v) for k, v in m.groupdict().items()}
                )
        return error(404, "ENDPOINT_NOT_FOUND", f"not emulated: {req.method} {req.path}")

    @staticmethod
    def _up(gateway: Gateway, path: str, params: dict) -> tuple[int, dict]:
        r = gateway.session().get(f"{gateway.upstream}{OSS}{path}", params=params, timeout=60)
        return r.status_code, (r.json() if r.content else {})

    def _search(self, req: Request, gateway: Gateway) -> Reply:
        body = req.json()
        where = body.get("catalog_schema") or {}
        catalog, schema = where.get("catalog_name"), where.get("schema_name")
        if not catalog or not schema:
            return error(
                400,
                "INVALID_PARAMETER_VALUE",
                "catalog_schema (catalog_name, schema_name) is required",
            )
        prefix = f"{catalog}.{schema}."
        params = {
            "filter": f"tags.`{IS_PROMPT}` = 'true' AND name LIKE '{prefix}%'",
            "max_results": body.get("max_results") or 100,
            **({"page_token": body["page_token"]} if body.get("page_token") else {}),
        }
        status, found = self._up(gateway, "registered-models/search", params)
        if status != 200:
            return Reply(status, found)
        prompts = [
            {
                "name": m["name"],
                "description": m.get("description", ""),
                "creation_timestamp": _ts(m.get("creation_timestamp")),
            }
            for m in found.get("registered_models", [])
            if m["name"].startswith(prefix) and "." not in m["name"][len(prefix) :]
        ]
        token = found.get("next_page_token")
        return Reply(200, {"prompts": prompts, **({"next_page_token": token} if token else {})})

    def _model(self, gateway: Gateway, name: str) -> tuple[int, dict]:
        status, body = self._up(gateway, "registered-models/get", {"name": name})
        if status == 200 and not any(
            t["key"] == IS_PROMPT for t in body["registered_model"].get("tags", [])
        ):
            return 404, {
                "error_code": "RESOURCE_DOES_NOT_EXIST",
                "message": f"Prompt '{name}' does not exist",
            }
        return status, body

    def _get(self, req: Request, gateway: Gateway, name: str) -> Reply:
        status, body = self._model(gateway, name)
        if status != 200:
            return Reply(status, body)
        m = body["registered_model"]
        return Reply(
            200,
            {
                "name": m["name"],
                "description": m.get("description", ""),
                "tags": _tags(m.get("tags", [])),
                "aliases": [
                    {"alias": a["alias"], "version": str(a["version"])}
                    for a in m.get("aliases", [])
                ],
            },
        )

    def _versions(self, req: Request, gateway: Gateway, name: str) -> Reply:
        body = req.json()
        params = {
            "filter": f"name = '{name}' AND tags.`{IS_PROMPT}` = 'true'",
            "max_results": body.get("max_results") or 100,
            **({"page_token": body["page_token"]} if body.get("page_token") else {}),
        }
        status, found = self._up(gateway, "model-versions/search", params)
        if status != 200:
            return Reply(status, found)
        versions = [uc_version(v, aliases=False) for v in found.get("model_versions", [])]
        token = found.get("next_page_token")
        return Reply(
            200, {"prompt_versions": versions, **({"next_page_token": token} if token else {})}
        )

    def _version(self, req: Request, gateway: Gateway, name: str, version: str) -> Reply:
        status, body = self._up(gateway, "model-versions/get", {"name": name, "version": version})
        return Reply(
            status, uc_version(body["model_version"], aliases=True) if status == 200 else body
        )

    def _by_alias(self, req: Request, gateway: Gateway, name: str, alias: str) -> Reply:
        status, body = self._up(gateway, "registered-models/alias", {"name": name, "alias": alias})
        return Reply(
            status, uc_version(body["model_version"], aliases=True) if status == 200 else body
        )
