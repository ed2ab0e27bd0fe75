"""Registered models and their versions, read by the same searches.

This module is the kind's `Kind` record and its step functions; syncer.kinds.registry lists it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from syncer.config import Settings, dest_name
from syncer.core.kinds import KindInfo
from syncer.core.model_snapshot import (
    TAG_SOURCE_MODEL,
    TAG_SOURCE_VERSION,
    ModelOptions,
    ModelSnap,
)
from syncer.core.snapshot import Snapshot
from syncer.kinds.base import Emitter, Job, Kind, Known, Planned, reading, unmatched
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


def _scan_models(job: Job, known: Known) -> Known:
    s = job.settings
    if not s.copy_models:
        return known
    changes = _model_changes(job)
    known.src_snap.parts["model"] = reading(
        job.src,
        "source registry",
        lambda: scan_source_models(job.src, known.src_snap, s.models, known.copied_runs, changes),
    )
    if changes is None:  # a change-only cycle selects only the models that changed
        known = unmatched(job, known, "models", s.models, list(known.src_snap.part("model")))
    _fetch_version_runs(job, known)
    names = [dest_name(name, s.model_names) for name in known.src_snap.part("model")]
    known.dst_snap.parts["model"] = (
        reading(job.dst, "destination registry", lambda: scan_dest_models(job.dst, names))
        if names
        else {}
    )
    return known


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


def _fetch_version_runs(job: Job, known: Known) -> None:
    """Read the copied runs model versions were made from (their artifact locations decide where
    files come from): the streamed run step keeps only a few runs whole."""
    missing = {
        v.run_id
        for m in known.src_snap.part("model").values()
        for v in m.versions.values()
        if v.run_id and v.run_id in known.copied_runs and v.run_id not in known.src_snap.runs
    }
    if missing:
        runs = reading(
            job.src,
            "source",
            lambda: run_scanner.fetch_runs(job.src, sorted(known.src_snap.experiments), missing),
        )
        known.src_snap.runs.update({r.run_id: r for r in runs})


def _plan_models(job: Job, known: Known, out: Emitter) -> Planned:
    s = job.settings
    if not s.copy_models:
        return Planned([], known)
    names = {name: dest_name(name, s.model_names) for name in known.src_snap.part("model")}
    actions = plan_models(
        known.src_snap,
        known.dst_snap.part("model"),
        names,
        known.copied_runs,
        job.dst.caps,
        model_options(s, job.options.quarantined),
    )
    return Planned(actions, known)


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
