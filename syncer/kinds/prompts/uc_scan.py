"""Read Unity Catalog prompts (a Databricks workspace's prompt registry) into plain data
(`Snapshot.parts`).

MLflow's `databricks-uc` store (UnityCatalogPromptService under
`/api/2.0/mlflow/unity-catalog/prompts`) searches prompts one `catalog.schema` at a time, so only
the schemas the prompt globs name literally are read (`main.genai.*`; see
kinds.prompts.snapshot.uc_schemas). Per schema a paged prompt search; per selected prompt one read
of the prompt (its tags and aliases: the search answers names only) and a paged search of its
versions (template, commit message, tags). A prompt keeps its three-part name
(`catalog.schema.name`).
"""

from __future__ import annotations

import json

from mlflow.protos.unity_catalog_prompt_messages_pb2 import GetPromptRequest
from mlflow.utils.proto_json_utils import message_to_json

from syncer.backends.calls import call, pages
from syncer.backends.endpoint import Endpoint
from syncer.kinds.prompts.snapshot import PromptSnap, PromptVersionSnap, uc_schemas
from syncer.scan.runs import matches

PAGE = 100
RESPONSE_FORMAT = "_mlflow_prompt_response_format"
MODEL_CONFIG = "_mlflow_prompt_model_config"
# Version tags MLflow keeps for a prompt's content (read into fields, never copied as tags), in
# either registry.
CONTENT_TAGS = frozenset(
    {
        "mlflow.prompt.is_prompt",
        "mlflow.prompt.text",
        "_mlflow_prompt_type",
        RESPONSE_FORMAT,
        MODEL_CONFIG,
    }
)


def _store(endpoint: Endpoint):
    return endpoint.client._get_registry_client().store


def _version_snap(pv) -> PromptVersionSnap:
    """One Unity Catalog PromptVersion message as plain data (its template is JSON-encoded text or
    messages)."""
    tags = {t.key: t.value for t in pv.tags}
    template = json.loads(pv.template) if pv.template else ""
    chat = not isinstance(template, str)
    return PromptVersionSnap(
        version=str(pv.version),
        template=json.dumps(template) if chat else template,
        chat=chat,
        commit_message=pv.description or "",
        response_format=tags.get(RESPONSE_FORMAT),
        model_config=tags.get(MODEL_CONFIG),
        tags={k: v for k, v in tags.items() if k not in CONTENT_TAGS},
    )


def _read_prompt(endpoint: Endpoint, name: str, description: str) -> PromptSnap:
    store = _store(endpoint)
    path, method = store._get_endpoint_from_method(GetPromptRequest)
    proto = call(
        endpoint,
        "get_prompt",
        lambda: store._edit_endpoint_and_call(
            endpoint=path,
            method=method,
            req_body=message_to_json(GetPromptRequest(name=name)),
            name=name,
            proto_name=GetPromptRequest,
        ),
    )
    prompt = PromptSnap(
        name=name,
        description=proto.description or description,
        tags={t.key: t.value for t in proto.tags},
        aliases={a.alias: str(a.version) for a in proto.aliases},
    )
    token = None
    while True:
        page = call(
            endpoint,
            "search_prompt_versions",
            lambda t=token: store.search_prompt_versions(name, max_results=PAGE, page_token=t),
        )
        for pv in page.prompt_versions:
            prompt.versions[str(pv.version)] = _version_snap(pv)
        token = page.next_page_token
        if not token:
            return prompt


def scan_uc_prompts(endpoint: Endpoint, globs: list[str]) -> dict[str, PromptSnap]:
    """Every Unity Catalog prompt (with versions and aliases) of the schemas `globs` name, that they
    select."""
    schemas, _unsearchable = uc_schemas(globs)
    store = _store(endpoint)
    found: dict[str, str] = {}
    for catalog, schema in schemas:
        where = f"catalog = '{catalog}' AND schema = '{schema}'"
        for p in pages(
            endpoint,
            "search_prompts",
            lambda t, w=where: store.search_prompts(
                filter_string=w, max_results=PAGE, page_token=t
            ),
        ):
            if matches(p.name, globs):
                found[p.name] = p.description or ""
    return {
        name: _read_prompt(endpoint, name, description)
        for name, description in sorted(found.items())
    }
