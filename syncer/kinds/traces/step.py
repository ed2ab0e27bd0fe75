"""The trace kind's scan and plan steps (its `Kind` record, syncer.kinds.steps.TRACES, names them).

Full passes read every trace of the plannable experiments; incremental mirror cycles
(`Options.traces_incremental`) read, per experiment, only the traces that started after its cursor
minus a look-back window, on both sides (copies keep the source's times). An experiment without a
cursor is read whole.
"""

from __future__ import annotations

from typing import Any

from syncer.core.actions import Action
from syncer.core.capabilities import supports
from syncer.kinds.traces.capabilities import KIND
from syncer.kinds.traces.plan import plan_traces, unlisted_run_links
from syncer.kinds.traces.scan import scan_traces
from syncer.kinds.traces.snapshot import CURSOR_LOOKBACK_MS, cursor_name

# syncer.kinds.base.Job (not imported: one pass of refactoring away from typed step inputs).
TraceJob = Any


def _experiments(job: TraceJob) -> list[str]:
    planned = job.plannable
    return sorted(
        eid for eid, e in job.src_snap.experiments.items() if eid in planned and not e.deleted
    )


def _since(job: TraceJob, experiments: list[str]) -> dict[str, int]:
    if not job.options.traces_incremental or job.state is None:
        return {}
    since = {}
    for eid in experiments:
        cursor = job.state.get_cursor(cursor_name(eid))
        if cursor is not None:
            since[eid] = max(0, int(cursor) - CURSOR_LOOKBACK_MS)
    return since


def scan_trace_step(job: TraceJob, reading) -> None:
    """Fill both snapshots' traces (the destination's only where it has a trace API); `reading`
    wraps reads."""
    if not supports(job.src.caps, KIND):
        return
    experiments = _experiments(job)
    since = _since(job, experiments)
    reading(
        job.src, "source traces", lambda: scan_traces(job.src, job.src_snap, experiments, since)
    )
    if not supports(job.dst.caps, KIND):
        return
    dest_ids = {e.name: e.experiment_id for e in job.dst_snap.experiments.values() if not e.deleted}
    traced = {
        t.experiment_id for t in job.src_snap.part("trace").values()
    }  # no source trace: no destination read
    pairs = {
        eid: dest_ids[job.dest_names[eid]]
        for eid in experiments
        if eid in traced and job.dest_names.get(eid) in dest_ids
    }
    dest_since = {pairs[eid]: t for eid, t in since.items() if eid in pairs}
    reading(
        job.dst,
        "destination traces",
        lambda: scan_traces(job.dst, job.dst_snap, sorted(pairs.values()), dest_since),
    )


def plan_trace_step(job: TraceJob) -> list[Action]:
    """The trace actions: copies matched by provenance, runs linked where their copies exist or are
    planned; and the `!` row of the run links MLflow cannot list by page
    (syncer.kinds.traces.plan.unlisted_run_links)."""
    return plan_traces(
        job.src_snap,
        job.dst_snap,
        job.dest_names,
        job.dst.caps,
        job.plannable,
        job.copied_runs,
        job.options.quarantined,
    ) + unlisted_run_links(job.src_snap, job.plannable, job.dst.caps)
