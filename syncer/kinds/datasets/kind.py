"""Evaluation datasets (MLflow 3): records merged by inputs.

This module is the kind's `Kind` record and its step functions; syncer.kinds.registry lists it.
"""

from __future__ import annotations

from syncer.core.capabilities import supports
from syncer.core.kinds import KindInfo
from syncer.kinds.base import Emitter, Job, Kind, Known, Planned, reading
from syncer.kinds.datasets.apply import apply_datasets
from syncer.kinds.datasets.archive import ARCHIVER
from syncer.kinds.datasets.capabilities import KIND
from syncer.kinds.datasets.plan import plan_datasets
from syncer.kinds.datasets.scan import scan_dest_datasets, scan_source_datasets
from syncer.kinds.datasets.snapshot import TAG_SOURCE_DATASET


def _scan_datasets(job: Job, known: Known) -> Known:
    known.src_snap.parts["dataset"] = reading(
        job.src, "source datasets", lambda: scan_source_datasets(job.src, known.src_snap)
    )
    if supports(job.dst.caps, KIND) and known.src_snap.part("dataset"):
        known.dst_snap.parts["dataset"] = reading(
            job.dst, "destination datasets", lambda: scan_dest_datasets(job.dst)
        )
    return known


def _plan_datasets(job: Job, known: Known, out: Emitter) -> Planned:
    return Planned(
        plan_datasets(
            known.src_snap, known.dst_snap, known.plannable, job.dst.caps, job.options.quarantined
        ),
        known,
    )


DATASETS = Kind(
    "dataset",
    (KindInfo("dataset", "evaluation datasets", TAG_SOURCE_DATASET, "dataset"),),
    _scan_datasets,
    _plan_datasets,
    apply_datasets,
    after=("experiment",),
    archiver=ARCHIVER,
)
