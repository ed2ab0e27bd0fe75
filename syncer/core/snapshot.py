"""Plain-data pictures of one side (source or destination), produced by the scanner.

Snapshots hold what `search_experiments` and `search_runs` return: enough to plan without further
calls.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

PROVENANCE_PREFIX = "mlflow_syncer."
TAG_SOURCE = "mlflow_syncer.source"
TAG_SOURCE_RUN_ID = "mlflow_syncer.source_run_id"
TAG_SOURCE_EXPERIMENT_ID = "mlflow_syncer.source_experiment_id"
TAG_SOURCE_PARENT_RUN_ID = "mlflow_syncer.source_parent_run_id"
TAG_FINGERPRINT = "mlflow_syncer.fingerprint"
TAG_DUPLICATE_OF = "mlflow_syncer.duplicate_of"
TAG_RETIRED = "mlflow_syncer.retired"  # a copy set aside (deleted) for a fresh one, and why
PARENT_TAG = "mlflow.parentRunId"
# Tags that each server sets for itself or that cannot be compared across servers.
# mlflow.linkedPrompts names prompt versions by number: syncer.kinds.prompts.plan writes it,
# remapped.
IGNORED_TAGS = frozenset({"mlflow.log-model.history", "mlflow.linkedPrompts"})


def retired(tags: Container[str]) -> bool:
    """Whether a destination run is a copy set aside: a retired duplicate or a retired incomplete
    copy."""
    return TAG_DUPLICATE_OF in tags or TAG_RETIRED in tags


LatestMetric = tuple[float, int, int]  # value, timestamp, step


@dataclass(frozen=True)
class DatasetRef:
    """One dataset input of a run, as plain data."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None
    tags: tuple[tuple[str, str], ...] = ()


@dataclass
class RunSnap:
    """One run as seen by search_runs."""

    run_id: str
    experiment_id: str
    name: str
    status: str
    start_time: int | None
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, LatestMetric] = field(default_factory=dict)
    inputs: tuple[DatasetRef, ...] = ()

    @property
    def deleted(self) -> bool:
        return self.lifecycle_stage == "deleted"

    @property
    def parent_id(self) -> str | None:
        return self.tags.get(PARENT_TAG)

    @property
    def last_change(self) -> int | None:
        """The newest timestamp search_runs shows (start, end, latest metric points), ms since the
        epoch."""
        known = [
            t for t in (self.start_time, self.end_time, *(m[1] for m in self.metrics.values())) if t
        ]
        return max(known) if known else None


@dataclass
class ExperimentSnap:
    """One experiment as seen by search_experiments."""

    experiment_id: str
    name: str
    lifecycle_stage: str
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None
    artifact_location: str | None = None

    @property
    def deleted(self) -> bool:
        return self.lifecycle_stage == "deleted"


@dataclass
class Snapshot:
    """Everything one scan saw on one side."""

    identity: str
    experiments: dict[str, ExperimentSnap] = field(default_factory=dict)
    runs: dict[str, RunSnap] = field(default_factory=dict)
    # Each kind's part, keyed by kind name (syncer.kinds.<kind>: its scan fills it, its planner
    # reads it).
    parts: dict[str, Any] = field(default_factory=dict)
    # Every run read, when runs are streamed (syncer.kinds.runs.stream): `runs` then keeps only a
    # few whole.
    run_ids: Container[str] | None = None

    def part(self, kind: str) -> Any:
        """The part of kind `kind`: what its scan read (an empty dict until then)."""
        return self.parts.setdefault(kind, {})

    def has_run(self, run_id: str | None) -> bool:
        """Whether the scan read this run (whole or not)."""
        return run_id in self.runs or (self.run_ids is not None and run_id in self.run_ids)


def metric_value_key(value: float) -> str:
    """A hashable, comparable key for a metric value.

    NaN equals NaN here, and +/-inf equal +/-DBL_MAX: MLflow's SQL stores keep infinities that way,
    so a copy into (or out of) a database-backed server cannot tell them apart.
    """
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        value = math.copysign(sys.float_info.max, value)
    return repr(float(value))


def user_tags(tags: dict[str, str]) -> dict[str, str]:
    """The tags that are copied and compared: without provenance and server-owned tags."""
    return {
        k: v
        for k, v in tags.items()
        if not k.startswith(PROVENANCE_PREFIX) and k not in IGNORED_TAGS and k != PARENT_TAG
    }


def comparable(run: RunSnap, parent_source_id: str | None) -> dict:
    """What must be equal between a source run and its copy, as canonical plain data."""
    return {
        "name": run.name,
        "status": run.status,
        "start_time": run.start_time,
        "end_time": run.end_time if run.status != "RUNNING" else None,
        "deleted": run.deleted,
        "params": dict(sorted(run.params.items())),
        "tags": dict(sorted(user_tags(run.tags).items())),
        "parent": parent_source_id,
        "metrics": {
            k: [metric_value_key(v), ts, step] for k, (v, ts, step) in sorted(run.metrics.items())
        },
        "inputs": sorted([d.name, d.digest] for d in run.inputs),
    }


def fingerprint(data: dict) -> str:
    """A short stable hash of canonical plain data."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]
