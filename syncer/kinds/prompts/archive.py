"""The prompt archiver: one prompt with every version, for `unsupported: archive` and `restore`.

Document: name, description, user tags, experiment links (by experiment name), aliases (alias ->
source version) and every version in order with its template, commit message, user tags, model
config and response format. Restore writes through the prompt API like a migration does, with the
same provenance tags (`mlflow_syncer.source_prompt`, `mlflow_syncer.source_prompt_version`): a
version whose copy exists (made by a restore or a migration) is not created again, so a second
restore creates nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

from syncer.apply.archive import dest_experiment
from syncer.backends.calls import call, pages
from syncer.backends.endpoint import Endpoint
from syncer.core.archive import Archiver, register
from syncer.core.snapshot import TAG_SOURCE
from syncer.kinds.prompts.snapshot import (
    EXPERIMENT_IDS,
    TAG_SOURCE_PROMPT,
    TAG_SOURCE_PROMPT_VERSION,
    experiment_ids,
    experiment_ids_value,
    user_tags,
)

KIND = "prompt"


def prompt_names(src: Endpoint, experiment_id: str | None) -> Iterator[str]:
    """Every prompt of the source (linked to `experiment_id` when given), paged."""
    for prompt in pages(
        src, "search_prompts", lambda t: src.client.search_prompts(max_results=1000, page_token=t)
    ):
        if experiment_id is None or experiment_id in experiment_ids(
            (prompt.tags or {}).get(EXPERIMENT_IDS)
        ):
            yield prompt.name


def _version_numbers(endpoint: Endpoint, name: str) -> list[int]:
    listed = call(
        endpoint,
        "search_prompt_versions",
        lambda: endpoint.client.search_prompt_versions(name, max_results=1000),
    )
    return sorted(int(pv.version) for pv in listed)


def export_prompt(src: Endpoint, name: str) -> dict:
    """One prompt with every version in order, as plain data (see the module docstring)."""
    client = src.client
    prompt = call(src, "get_prompt", lambda: client.get_prompt(name))
    tags = dict(prompt.tags or {})
    names = [
        call(src, "get_experiment", lambda i=i: client.get_experiment(i)).name
        for i in experiment_ids(tags.get(EXPERIMENT_IDS))
    ]
    versions, aliases = [], {}
    for number in _version_numbers(src, name):
        pv = call(src, "get_prompt_version", lambda n=number: client.get_prompt_version(name, n))
        versions.append(
            {
                "version": str(number),
                "template": pv.template,
                "commit_message": pv.commit_message,
                "tags": user_tags(dict(pv.tags or {})),
                "model_config": pv.model_config,
                "response_format": pv.response_format,
            }
        )
        aliases.update({alias: str(number) for alias in pv.aliases or []})
    return {
        "name": name,
        "source": src.identity,
        "description": prompt.description or "",
        "tags": user_tags(tags),
        "experiments": names,
        "aliases": aliases,
        "versions": versions,
    }


def _copies(dst: Endpoint, name: str) -> dict[str, str]:
    """Source version -> destination version number, by the provenance tag of each destination
    version."""
    out: dict[str, str] = {}
    for number in _version_numbers(dst, name):
        pv = call(
            dst, "get_prompt_version", lambda n=number: dst.client.get_prompt_version(name, n)
        )
        source_version = pv._tags.get(TAG_SOURCE_PROMPT_VERSION)  # .tags hides no provenance,
        if source_version is not None:  # but _tags is where MLflow keeps every version tag)
            out.setdefault(source_version, str(number))
    return out


def _links(dst: Endpoint, doc: dict) -> str | None:
    cache: dict[str, str | None] = {}
    ids = [dest_experiment(dst, name, cache) for name in doc.get("experiments", [])]
    return experiment_ids_value([i for i in ids if i]) if ids else None


def _ensure_prompt(dst: Endpoint, doc: dict) -> None:
    client, name = dst.client, doc["name"]
    existing = call(dst, "get_prompt", lambda: client.get_prompt(name))
    have = dict(existing.tags or {}) if existing is not None else {}
    want = {**doc["tags"], TAG_SOURCE_PROMPT: name, TAG_SOURCE: doc["source"]}
    links = _links(dst, doc)
    if links:
        want[EXPERIMENT_IDS] = links
    if existing is None:
        call(
            dst,
            "create_prompt",
            lambda: client.create_prompt(name, description=doc["description"] or None, tags=want),
        )
        return
    for key, value in sorted(want.items()):
        if have.get(key) != value and not (key in (TAG_SOURCE_PROMPT, TAG_SOURCE) and key in have):
            call(dst, "set_prompt_tag", lambda k=key, v=value: client.set_prompt_tag(name, k, v))


def restore_prompt(dst: Endpoint, doc: dict, experiment_id: str | None) -> str:  # workspace-wide
    """Create the prompt and the versions it lacks (found by provenance tag), in order, then its
    aliases."""
    client, name = dst.client, doc["name"]
    _ensure_prompt(dst, doc)
    copies = _copies(dst, name)
    for v in doc["versions"]:
        if v["version"] in copies:
            continue
        tags = {
            **v["tags"],
            TAG_SOURCE_PROMPT: name,
            TAG_SOURCE_PROMPT_VERSION: v["version"],
            TAG_SOURCE: doc["source"],
        }
        pv = call(
            dst,
            "create_prompt_version",
            lambda v=v, t=tags: client.create_prompt_version(
                name,
                v["template"],
                description=v["commit_message"] or None,
                tags=t,
                response_format=v["response_format"],
                model_config=v["model_config"],
            ),
        )
        copies[v["version"]] = str(pv.version)
    for alias, source_version in sorted(doc["aliases"].items()):
        if source_version in copies:
            call(
                dst,
                "set_prompt_alias",
                lambda a=alias, n=copies[source_version]: client.set_prompt_alias(name, a, int(n)),
            )
    return name


ARCHIVER = Archiver(KIND, list_ids=prompt_names, export=export_prompt, restore=restore_prompt)
register(ARCHIVER)
