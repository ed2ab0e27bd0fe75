"""The trace kind's scan and plan steps (its `Kind` record, syncer.kinds.steps.TRACES, names them).

Full passes read every trace of the plannable experiments; incremental mirror cycles
(`Options.incremental`) read, per experiment, only the traces that started after its cursor
minus a look-back window, on both sides (copies keep the source's times). An experiment without a
cursor is read whole.
"""

from __future__ import annotations

from syncer.core.capabilities import supports
from syncer.kinds.base import Emitter, Job, Known, Planned, reading
from syncer.kinds.traces.capabilities import KIND
from syncer.kinds.traces.plan import plan_traces, unlisted_run_links
from syncer.kinds.traces.scan import scan_traces
from syncer.kinds.traces.snapshot import CURSOR_LOOKBACK_MS, cursor_name


def _experiments(known: Known) -> list[str]:
    planned = known.plannable
    return sorted(
        eid for eid, e in known.src_snap.experiments.items() if eid in planned and not e.deleted
    )


def _since(job: Job, experiments: list[str]) -> dict[str, int]:
    if "trace" not in job.options.incremental or job.state is None:
        return {}
    since = {}
    for eid in experiments:
        cursor = job.state.get_cursor(cursor_name(eid))
        if cursor is not None:
            since[eid] = max(0, int(cursor) - CURSOR_LOOKBACK_MS)
    return since


def scan_trace_step(job: Job, known: Known) -> Known:
    """Fill both snapshots' traces (the destination's only where it has a trace API)."""
    if not supports(job.src.caps, KIND):
        return known
    experiments = _experiments(known)
    since = _since(job, experiments)
    reading(
        job.src, "source traces", lambda: scan_traces(job.src, known.src_snap, experiments, since)
    )
    if not supports(job.dst.caps, KIND):
        return known
    dest_ids = {
        e.name: e.experiment_id for e in known.dst_snap.experiments.values() if not e.deleted
    }
    traced = {
        t.experiment_id for t in known.src_snap.part("trace").values()
    }  # no source trace: no destination read
    pairs = {
        eid: dest_ids[known.dest_names[eid]]
        for eid in experiments
        if eid in traced and known.dest_names.get(eid) in dest_ids
    }
    dest_since = {pairs[eid]: t for eid, t in since.items() if eid in pairs}
    reading(
        job.dst,
        "destination traces",
        lambda: scan_traces(job.dst, known.dst_snap, sorted(pairs.values()), dest_since),
    )
    return known


def plan_trace_step(job: Job, known: Known, out: Emitter) -> Planned:
    """The trace actions: copies matched by provenance, runs linked where their copies exist or are
    planned; and the `!` row of the run links MLflow cannot list by page
    (syncer.kinds.traces.plan.unlisted_run_links)."""
    actions = plan_traces(
        known.src_snap,
        known.dst_snap,
        known.dest_names,
        job.dst.caps,
        known.plannable,
        known.copied_runs,
        job.options.quarantined,
    )
    return Planned(
        actions + unlisted_run_links(known.src_snap, known.plannable, job.dst.caps), known
    )
