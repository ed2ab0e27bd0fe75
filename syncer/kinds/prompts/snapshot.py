"""Plain-data pictures of prompts (MLflow's prompt registry) and their versions, with their
provenance tags.

A prompt version's content (template, commit message, response format, model config) cannot change
once created; its tags and the prompt's tags and aliases can. Links from runs to prompt versions
live on the runs (`mlflow.linkedPrompts`, a JSON list of {"name", "version"}), and a prompt's
experiments in its tag `_mlflow_experiment_ids` (",1,2,"): both name source ids that are remapped on
the destination.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from syncer.core.snapshot import fingerprint
from syncer.core.snapshot import user_tags as _user_tags

TAG_SOURCE_PROMPT = "mlflow_syncer.source_prompt"
TAG_SOURCE_PROMPT_VERSION = "mlflow_syncer.source_prompt_version"
LINKED_PROMPTS = "mlflow.linkedPrompts"
EXPERIMENT_IDS = "_mlflow_experiment_ids"


@dataclass
class PromptVersionSnap:
    """One prompt version: its immutable content as stored (JSON text where MLflow stores JSON) and
    its tags."""

    version: str
    template: str
    chat: bool = False
    commit_message: str = ""
    response_format: str | None = None
    model_config: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def number(self) -> int:
        return int(self.version)

    def content(self) -> dict:
        """The immutable content as canonical plain data (JSON parsed, so key order does not
        matter)."""
        return {
            "template": _parsed(self.template) if self.chat else self.template,
            "chat": self.chat,
            "commit_message": self.commit_message,
            "response_format": _parsed(self.response_format),
            "model_config": _parsed(self.model_config),
        }


@dataclass
class PromptSnap:
    """One prompt with its versions (version string -> PromptVersionSnap) and aliases (alias ->
    version)."""

    name: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    versions: dict[str, PromptVersionSnap] = field(default_factory=dict)

    def ordered_versions(self) -> list[PromptVersionSnap]:
        return sorted(self.versions.values(), key=lambda v: v.number)


def _parsed(text: str | None) -> object:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def prompt_version_key(name: str, version: str) -> str:
    """The source id of a prompt version in plans and the state store."""
    return f"{name}/{version}"


def prompt_of(source_id: str, kind: str) -> str:
    """The source prompt name of a prompt or prompt-version action's source id."""
    return source_id.rsplit("/", 1)[0] if kind == "prompt_version" else source_id


def linked_prompts(value: str | None) -> list[tuple[str, str]]:
    """The (prompt name, version) pairs of a `mlflow.linkedPrompts` tag value (none when
    unreadable)."""
    try:
        entries = json.loads(value) if value else []
    except ValueError:
        return []
    if not isinstance(entries, list):
        return []
    return [
        (str(e["name"]), str(e["version"]))
        for e in entries
        if isinstance(e, dict) and "name" in e and "version" in e
    ]


def linked_prompts_value(entries: list[tuple[str, str]]) -> str:
    """A `mlflow.linkedPrompts` tag value, in MLflow's own format."""
    return json.dumps([{"name": name, "version": version} for name, version in entries])


def experiment_ids(value: str | None) -> list[str]:
    """The experiment ids of a `_mlflow_experiment_ids` tag value (",1,2," -> ["1", "2"])."""
    return [i.strip() for i in (value or "").split(",") if i.strip()]


def experiment_ids_value(ids: list[str]) -> str:
    """A `_mlflow_experiment_ids` tag value, in MLflow's own format."""
    return f",{','.join(ids)},"


def user_tags(tags: dict[str, str]) -> dict[str, str]:
    """The tags of a prompt or prompt version copied as they are (not provenance, not experiment
    links)."""
    return {k: v for k, v in _user_tags(tags).items() if k != EXPERIMENT_IDS}


def version_fingerprint(v: PromptVersionSnap) -> str:
    """The fingerprint a complete copy of `v` carries."""
    return fingerprint({"content": v.content(), "tags": dict(sorted(user_tags(v.tags).items()))})


_WILD = frozenset("*?[")


def uc_schemas(globs: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """The (catalog, schema) pairs Unity Catalog prompt globs name, and the globs that name none.

    Unity Catalog searches prompts one schema at a time: a glob selects prompts only when its
    catalog and schema parts are literal (`main.genai.*`, `main.genai.qa`); `*` or `main.*.qa`
    cannot be searched.
    """
    schemas: list[tuple[str, str]] = []
    unsearchable: list[str] = []
    for glob in globs:
        parts = glob.split(".")
        if len(parts) != 3 or any(c in _WILD for c in parts[0] + parts[1]):
            unsearchable.append(glob)
        elif (parts[0], parts[1]) not in schemas:
            schemas.append((parts[0], parts[1]))
    return schemas, unsearchable
