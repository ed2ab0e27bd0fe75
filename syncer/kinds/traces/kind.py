"""Traces: copied at ids derived from the source trace and the destination experiment.

This module is the kind's `Kind` record and its step functions; syncer.kinds.registry lists it.
"""

from __future__ import annotations

from collections.abc import Iterable

from syncer.config import Settings
from syncer.core import cycle_options
from syncer.core.kinds import KindInfo
from syncer.core.snapshot import Snapshot
from syncer.kinds.base import EXPERIMENT, Kind
from syncer.kinds.traces.apply import apply_traces
from syncer.kinds.traces.archive import ARCHIVER
from syncer.kinds.traces.snapshot import TAG_SOURCE_TRACE_ID
from syncer.kinds.traces.step import plan_trace_step, scan_trace_step


def _linked_runs(snap: Snapshot) -> Iterable[str]:
    return (t.source_run for t in snap.part("trace").values() if t.source_run)


def _incremental(settings: Settings, cycle: int) -> bool:
    """A mirror cycle reads every trace on the first cycle, then every `traces_full_every`th; the
    others only those newer than each experiment's cursor."""
    every = settings.mirror.traces_full_every
    return not (cycle == 1 or (bool(every) and cycle % every == 0))


TRACES = Kind(
    "trace",
    (KindInfo("trace", "traces", TAG_SOURCE_TRACE_ID, "trace"),),
    scan_trace_step,
    plan_trace_step,
    apply_traces,
    after=("run", "logged_model"),
    scope=EXPERIMENT,
    archiver=ARCHIVER,
    linked_runs=_linked_runs,
)
cycle_options.register(TRACES.name, _incremental)
