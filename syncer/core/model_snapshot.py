"""Plain-data pictures of registered models and their versions, with their provenance tags."""

from __future__ import annotations

from dataclasses import dataclass, field

from syncer.core.actions import Action
from syncer.core.snapshot import Snapshot, fingerprint


@dataclass
class VersionSnap:
    """One model version."""

    version: str
    source: str
    run_id: str | None
    status: str
    description: str = ""
    stage: str = "None"
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def number(self) -> int:
        return int(self.version)


@dataclass
class ModelSnap:
    """One registered model with its versions (version string -> VersionSnap)."""

    name: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    versions: dict[str, VersionSnap] = field(default_factory=dict)
    registry: str | None = None  # the source registry URI it was read from
    clash: tuple[
        str, ...
    ] = ()  # every source registry holding a model of this name, when more than one

    def digest(self) -> str:
        """A hash of everything of the model a copy carries, as the registry's searches show it.
        MLflow's stores move `last_updated_timestamp` on description, stage and version changes but
        not on tag or alias edits, so change-only cycles compare this with the digest recorded when
        the model was last in sync instead (it changes whenever the timestamp would, and on those
        edits too)."""
        versions = {
            n: [v.source, v.run_id, v.status, v.description, v.stage, v.tags]
            for n, v in self.versions.items()
        }
        return fingerprint(
            {
                "description": self.description,
                "tags": self.tags,
                "aliases": self.aliases,
                "versions": versions,
            }
        )

    def ordered_versions(self) -> list[VersionSnap]:
        return sorted(self.versions.values(), key=lambda v: v.number)


TAG_SOURCE_MODEL = "mlflow_syncer.source_model"


TAG_SOURCE_VERSION = "mlflow_syncer.source_version"


TAG_SOURCE_STAGE = "mlflow_syncer.source_stage"


NO_STAGE = "None"


@dataclass(frozen=True)
class ModelOptions:
    """How models are copied: the stage policy ("copy", "tag" or "skip") and where loose files
    go."""

    stages: str = "copy"
    files_experiment: str = "mlflow-syncer-model-files"
    quarantined: frozenset[tuple[str, str]] = frozenset()


def version_key(model: str, version: str) -> str:
    """The source id of a model version in plans and the state store."""
    return f"{model}/{version}"


def run_relative_path(v: VersionSnap, src: Snapshot) -> str | None:
    """The path of a version's files inside its run's artifacts, or None when they lie elsewhere."""
    run = src.runs.get(v.run_id or "")
    if run is None:
        return None
    runs_prefix = f"runs:/{run.run_id}/"
    if v.source.startswith(runs_prefix):
        return v.source[len(runs_prefix) :].strip("/")
    root = run.artifact_uri.rstrip("/") + "/"
    if v.source.startswith(root):
        return v.source[len(root) :].strip("/")
    return None


def dest_version_ref(action: Action) -> str:
    """The destination 'name/number' of a model-version action that has a copy (its label is
    'name/v<n>')."""
    return f"{action.label.rsplit('/v', 1)[0]}/{action.dest_id}"


def model_of(action: Action) -> str:
    """The source model name of a model or model-version action."""
    return (
        action.source_id.rsplit("/", 1)[0] if action.kind == "model_version" else action.source_id
    )
