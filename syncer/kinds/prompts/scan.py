"""Read prompts (MLflow's prompt registry) and their versions on one side into plain data
(`Snapshot.parts`).

MLflow keeps prompts in the model registry as registered models and versions tagged
`mlflow.prompt.is_prompt`; its model searches hide them, so the model scan never sees them. Here two
paged searches read them all, whatever their number: the prompts (tags, aliases, description) and
every prompt version (template, commit message, response format and model config live in version
tags). An idle pass costs two searches per side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import structlog
from mlflow.entities.model_registry import ModelVersion, RegisteredModel

from syncer.backends.calls import pages
from syncer.backends.endpoint import Endpoint
from syncer.core.capabilities import supports
from syncer.kinds.prompts.capabilities import KIND, REGISTRY
from syncer.kinds.prompts.snapshot import PromptSnap, PromptVersionSnap
from syncer.kinds.prompts.uc_scan import (
    CONTENT_TAGS,
    MODEL_CONFIG,
    RESPONSE_FORMAT,
    scan_uc_prompts,
)
from syncer.scan.runs import matches

log = structlog.get_logger("syncer.prompts")

IS_PROMPT = "mlflow.prompt.is_prompt"
_TEXT = "mlflow.prompt.text"
_TYPE = "_mlflow_prompt_type"
_PROMPT_FILTER = f"tags.`{IS_PROMPT}` = 'true'"


def _prompt_snap(rm: RegisteredModel) -> PromptSnap:
    tags = {k: v for k, v in (rm.tags or {}).items() if k != IS_PROMPT}
    aliases = {a: str(v) for a, v in (rm.aliases or {}).items()}
    return PromptSnap(name=rm.name, description=rm.description or "", tags=tags, aliases=aliases)


def _version_snap(mv: ModelVersion) -> PromptVersionSnap:
    tags = dict(mv.tags or {})
    return PromptVersionSnap(
        version=str(mv.version),
        template=tags.get(_TEXT, ""),
        chat=tags.get(_TYPE) == "chat",
        commit_message=mv.description or "",
        response_format=tags.get(RESPONSE_FORMAT),
        model_config=tags.get(MODEL_CONFIG),
        tags={k: v for k, v in tags.items() if k not in CONTENT_TAGS},
    )


def scan_prompts(endpoint: Endpoint, keep: Callable[[str], bool]) -> dict[str, PromptSnap]:
    """Every prompt of `endpoint` whose name `keep` accepts, with its versions and aliases."""
    client = endpoint.client
    prompts = {
        rm.name: _prompt_snap(rm)
        for rm in pages(
            endpoint,
            "search_prompts",
            lambda t: client.search_registered_models(
                filter_string=_PROMPT_FILTER, max_results=1000, page_token=t
            ),
        )
        if keep(rm.name)
    }
    if not prompts:
        return prompts
    for mv in pages(
        endpoint,
        "search_prompt_versions",
        lambda t: client.search_model_versions(
            filter_string=_PROMPT_FILTER, max_results=10000, page_token=t
        ),
    ):
        if mv.name in prompts:
            prompts[mv.name].versions[str(mv.version)] = _version_snap(mv)
    return prompts


def scan_source_prompts(endpoint: Endpoint, globs: Iterable[str]) -> dict[str, PromptSnap]:
    """The source prompts named by `globs` (["*"]: all of them; []: none). An end whose prompts live
    in Unity Catalog (the prompt kind's `REGISTRY` feature) is read on that registry
    (syncer.kinds.prompts.uc_scan)."""
    globs = list(globs)
    if not globs:
        return {}
    if supports(endpoint.caps, KIND, REGISTRY):
        selected = scan_uc_prompts(
            endpoint.on_registry(supports(endpoint.caps, KIND, REGISTRY)), globs
        )
    else:
        selected = scan_prompts(endpoint, lambda name: matches(name, globs))
    return selected  # a glob that matches nothing: syncer.kinds.base.unmatched


def scan_dest_prompts(endpoint: Endpoint, names: Iterable[str]) -> dict[str, PromptSnap]:
    """The destination prompts of the given names that exist, with their versions."""
    wanted = set(names)
    return scan_prompts(endpoint, lambda name: name in wanted) if wanted else {}
