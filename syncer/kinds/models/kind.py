"""Registered models and their versions, read by the same searches.

This module is the kind's `Kind` record and its step functions; syncer.kinds.registry lists it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from syncer.config import Settings, dest_name
from syncer.core.actions import Action
from syncer.core.kinds import KindInfo
from syncer.core.model_snapshot import (
    TAG_SOURCE_MODEL,
    TAG_SOURCE_VERSION,
    ModelOptions,
    ModelSnap,
)
from syncer.core.snapshot import Snapshot
from syncer.kinds.base import Job, Kind, reading, unmatched
from syncer.kinds.models.apply import apply_models
from syncer.kinds.models.plan import plan_models
from syncer.kinds.models.scan import scan_dest_models, scan_source_models
from syncer.scan import runs as run_scanner


def model_options(
    settings: Settings, quarantined: frozenset[tuple[str, str]] = frozenset()
) -> ModelOptions:
    """The model-copying options of the settings."""
    return ModelOptions(
        stages=settings.model_stages,
        files_experiment=settings.model_files_experiment,
        quarantined=quarantined,
    )


def _scan_models(job: Job) -> None:
    s = job.settings
    if not s.copy_models:
        return
    changes = _model_changes(job)
    job.src_snap.parts["model"] = reading(
        job.src,
        "source registry",
        lambda: scan_source_models(job.src, job.src_snap, s.models, job.copied_runs, changes),
    )
    if changes is None:  # a change-only cycle selects only the models that changed
        unmatched(job, "models", s.models, list(job.src_snap.part("model")))
    _fetch_version_runs(job)
    names = [dest_name(name, s.model_names) for name in job.src_snap.part("model")]
    job.dst_snap.parts["model"] = (
        reading(job.dst, "destination registry", lambda: scan_dest_models(job.dst, names))
        if names
        else {}
    )


def _model_changes(job: Job) -> Callable[[ModelSnap], bool] | None:
    """In a change-only cycle, which selected models are read on the destination and planned: those
    whose content, as the source's searches show it, differs from the digest recorded when they were
    last in sync (`ModelSnap.digest`), so an idle cycle costs the two registry searches. None (every
    model) in a full pass."""
    state = job.state
    if job.options.runs_since is None or state is None:
        return None

    def changed(model: ModelSnap) -> bool:
        record = state.get("model", model.name)
        return record is None or record.fingerprint != model.digest()

    return changed


def _fetch_version_runs(job: Job) -> None:
    """Read the copied runs model versions were made from (their artifact locations decide where
    files come from): the streamed run step keeps only a few runs whole."""
    missing = {
        v.run_id
        for m in job.src_snap.part("model").values()
        for v in m.versions.values()
        if v.run_id and v.run_id in job.copied_runs and v.run_id not in job.src_snap.runs
    }
    if missing:
        runs = reading(
            job.src,
            "source",
            lambda: run_scanner.fetch_runs(job.src, sorted(job.src_snap.experiments), missing),
        )
        job.src_snap.runs.update({r.run_id: r for r in runs})


def _plan_models(job: Job) -> list[Action]:
    s = job.settings
    if not s.copy_models:
        return []
    names = {name: dest_name(name, s.model_names) for name in job.src_snap.part("model")}
    return plan_models(
        job.src_snap,
        job.dst_snap.part("model"),
        names,
        job.copied_runs,
        job.dst.caps,
        model_options(s, job.options.quarantined),
    )


def _linked_runs(snap: Snapshot) -> Iterable[str]:
    return (v.run_id for m in snap.part("model").values() for v in m.versions.values() if v.run_id)


MODELS = Kind(
    "model",
    (
        KindInfo("model", "models", TAG_SOURCE_MODEL),
        KindInfo("model_version", "model versions", TAG_SOURCE_VERSION),
    ),
    _scan_models,
    _plan_models,
    apply_models,
    after=("run", "logged_model"),
    linked_runs=_linked_runs,
)
