"""Read registered models and their versions on both sides into plain data (`Snapshot.parts`).

The source scan lists every registered model and every version in two paged searches, then keeps the
models the user selected: those named by `models` globs plus those with a version made from a run of
the selected experiments. Nothing is read per model or per version, so an idle pass costs two
searches. A registry whose searches leave out tags and aliases (Unity Catalog:
`RegistryCaps.search_details`) has each selected model and version read once more. A source with
several registries (a Databricks workspace's own and Unity Catalog) is scanned registry by registry;
a name found in more than one is marked as a clash.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator

import structlog
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException

from syncer.backends.calls import call, pages
from syncer.backends.classify import classify
from syncer.backends.endpoint import Endpoint
from syncer.core.errors import Kind
from syncer.core.model_snapshot import (
    ModelSnap,
    VersionSnap,
)
from syncer.core.snapshot import Snapshot
from syncer.scan.runs import matches

log = structlog.get_logger("syncer.models")


def _model_snap(model: RegisteredModel, details: bool = True) -> ModelSnap:
    snap = ModelSnap(name=model.name, description=model.description or "")
    if details:
        snap.tags = dict(model.tags or {})
        snap.aliases = {a: str(v) for a, v in (model.aliases or {}).items()}
    return snap


def _version_snap(v: ModelVersion, details: bool = True) -> VersionSnap:
    return VersionSnap(
        version=str(v.version),
        source=v.source or "",
        run_id=v.run_id or None,
        status=v.status or "READY",
        description=v.description or "",
        stage=v.current_stage or "None",
        tags=dict(v.tags or {}) if details else {},
    )


def _versions_of(endpoint: Endpoint, name: str) -> Iterator[ModelVersion]:
    return pages(
        endpoint,
        "search_model_versions",
        lambda t: endpoint.client.search_model_versions(
            f"name='{_quoted(name)}'", max_results=10000, page_token=t
        ),
    )


def _read_versions(endpoint: Endpoint, name: str, numbers: Iterable[str]) -> list[ModelVersion]:
    client = endpoint.client
    return [
        call(endpoint, "get_model_version", lambda n=n: client.get_model_version(name, n))
        for n in numbers
    ]


def _all_models(endpoint: Endpoint) -> dict[str, ModelSnap]:
    """Every model with its versions: one paged search for all versions, or one per model where the
    registry needs a filter (Unity Catalog). Without tags and aliases where searches leave them
    out."""
    client = endpoint.client
    details = endpoint.registry.search_details
    models = {
        m.name: _model_snap(m, details)
        for m in pages(
            endpoint, "search_registered_models", lambda t: endpoint.registered_models_page(t)
        )
    }
    if not models:
        return models
    try:
        versions = list(
            pages(
                endpoint,
                "search_model_versions",
                lambda t: client.search_model_versions(max_results=10000, page_token=t),
            )
        )
    except MlflowException as exc:
        if classify(exc) is not Kind.TERMINAL:
            raise
        versions = [v for name in models for v in _versions_of(endpoint, name)]
    for v in versions:
        if v.name in models:
            models[v.name].versions[str(v.version)] = _version_snap(v, details)
    return models


def _with_details(endpoint: Endpoint, model: ModelSnap) -> ModelSnap:
    """A selected model of a registry whose searches leave out tags and aliases, read in full."""
    if endpoint.registry.search_details:
        return model
    client = endpoint.client
    full = _model_snap(
        call(endpoint, "get_registered_model", lambda: client.get_registered_model(model.name))
    )
    full.registry, full.clash = model.registry, model.clash
    full.versions = {
        str(v.version): _version_snap(v)
        for v in _read_versions(endpoint, model.name, [v.version for v in model.ordered_versions()])
    }
    return full


def _every_registry(endpoint: Endpoint) -> dict[str, ModelSnap]:
    """The models of each registry of the source; a name held by several registries is marked
    `clash`."""
    everything: dict[str, ModelSnap] = {}
    for registry in endpoint.registries():
        for name, model in _all_models(registry).items():
            model.registry = registry.registry_uri
            first = everything.setdefault(name, model)
            if first is not model:
                first.clash = (*(first.clash or (first.registry or "",)), model.registry or "")
    return everything


def scan_source_models(
    endpoint: Endpoint,
    snap: Snapshot,
    globs: Iterable[str],
    copied: Container[str] = (),
    changed: Callable[[ModelSnap], bool] | None = None,
) -> dict[str, ModelSnap]:
    """The selected source models: named by `globs`, or with a version made from a run in `snap` or
    in `copied` (a change-only cycle reads only the runs that changed). With `changed`, only the
    selected models it accepts (a change-only cycle: syncer.kinds.models.kind)."""
    globs = list(globs)
    selected = {}
    everything = _every_registry(endpoint)
    for name, model in everything.items():
        linked = any(
            snap.has_run(v.run_id) or (v.run_id and v.run_id in copied)
            for v in model.versions.values()
        )
        if linked or (globs and matches(name, globs)):
            full = _with_details(endpoint.for_registry(model.registry), model)
            if changed is None or changed(full):
                selected[name] = full
    return selected  # a glob that matches nothing: syncer.kinds.base.unmatched


def _quoted(name: str) -> str:
    return name.replace("'", "\\'")


def scan_dest_models(endpoint: Endpoint, names: Iterable[str]) -> dict[str, ModelSnap]:
    """The destination models of the given names that exist, with their versions."""
    client = endpoint.client
    found = {}
    for name in sorted(set(names)):
        try:
            model = call(
                endpoint, "get_registered_model", lambda n=name: client.get_registered_model(n)
            )
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                continue
            raise
        snap = _model_snap(model)
        versions = list(_versions_of(endpoint, name))
        if not endpoint.registry.search_details:
            versions = _read_versions(endpoint, name, [str(v.version) for v in versions])
        for v in versions:
            snap.versions[str(v.version)] = _version_snap(v)
        found[name] = snap
    return found
