"""The pure trace planner: source traces -> actions, matching destination copies by their provenance
tag.

`=` the copy carries the source's fingerprint; `+` no copy (a half-made copy has no provenance tag
yet and is completed in place: its id is derived from the source id); `*` the source changed (tags,
assessments, state, a run link not made yet) or several copies exist (the extra ones are retired);
`!` quarantined. A destination without a trace API gets one `!` per experiment with the count and
the reason (syncer.plan.uncopied). Traces deleted in the source are not deleted in the destination.
Run links made with `link_traces_to_run` (entity associations, not the trace's `mlflow.sourceRun`)
are not copied: MLflow lists them only one run at a time, so a pass that reads traces says so in one
`!` row (`unlisted_run_links`) instead of dropping them quietly.
"""

from __future__ import annotations

from collections import Counter

from syncer.core.actions import Action, Op
from syncer.core.capabilities import Capabilities, supports
from syncer.core.snapshot import Snapshot
from syncer.kinds.traces.capabilities import KIND
from syncer.kinds.traces.snapshot import TraceSnap, dest_trace_id
from syncer.plan.uncopied import missing_api, uncopied, unlisted

RUN_LINKS_KIND = "trace_run_link"
RUN_LINKS_WHY = (
    "MLflow lists the run links made with link_traces_to_run only one run at a time (search_traces "
    "with run_id = ...): not read, not copied; a trace's own run (mlflow.sourceRun) is copied"
)


def plan_traces(
    src: Snapshot,
    dst: Snapshot,
    dest_names: dict[str, str],
    caps: Capabilities,
    planned_experiments: set[str | None],
    linked_runs: set[str],
    quarantined: frozenset[tuple[str, str]] = frozenset(),
) -> list[Action]:
    """One action per source trace of the plannable experiments, oldest first; or the uncopied
    count.

    `linked_runs`: source runs whose copies exist or are planned (a trace recorded in one is linked
    to its copy).
    """
    traces = sorted(
        (t for t in src.part("trace").values() if t.experiment_id in planned_experiments),
        key=lambda t: (t.experiment_id, t.request_time, t.trace_id),
    )
    if not supports(caps, KIND):
        counts = Counter(t.experiment_id for t in traces)
        return [
            uncopied(
                "trace",
                n,
                missing_api("trace", caps),
                group=src.experiments[eid].name,
                experiment=eid,
            )
            for eid, n in sorted(counts.items(), key=lambda kv: src.experiments[kv[0]].name)
        ]
    dest_exp_ids = {e.name: e.experiment_id for e in dst.experiments.values() if not e.deleted}
    copies: dict[str, list[TraceSnap]] = {}
    for t in dst.part("trace").values():
        if t.source_trace_id:
            copies.setdefault(t.source_trace_id, []).append(t)
    return [
        _plan_trace(
            t,
            src,
            copies.get(t.trace_id, []),
            dest_exp_ids.get(dest_names.get(t.experiment_id, "")),
            linked_runs,
            quarantined,
        )
        for t in traces
    ]


def _plan_trace(
    trace: TraceSnap,
    src: Snapshot,
    copies: list[TraceSnap],
    dest_exp: str | None,
    linked_runs: set[str],
    quarantined: frozenset[tuple[str, str]],
) -> Action:
    link = trace.source_run if trace.source_run in linked_runs else None
    base = dict(
        kind="trace",
        label=f"{src.experiments[trace.experiment_id].name}/{trace.trace_id}",
        source_id=trace.trace_id,
        experiment=trace.experiment_id,
        fingerprint=trace.fingerprint,
    )
    details = {"request_time": trace.request_time, "link": link, "size": trace.size}
    if ("trace", trace.trace_id) in quarantined:
        return Action(
            op=Op.ERROR,
            details={**details, "reason": "quarantined after repeated failures"},
            **base,
        )
    copies = [c for c in copies if dest_exp is None or c.experiment_id == dest_exp]
    if not copies:
        return Action(op=Op.CREATE, details={**details, "state": trace.state}, **base)
    preferred = dest_trace_id(trace.trace_id, dest_exp) if dest_exp else None
    keep = next(
        (c for c in copies if c.trace_id == preferred), min(copies, key=lambda c: c.trace_id)
    )
    retire = sorted(c.trace_id for c in copies if c is not keep)
    if keep.copy_fingerprint == trace.fingerprint and not retire:
        return Action(op=Op.SAME, dest_id=keep.trace_id, details=details, **base)
    details.update(spans=keep.state != trace.state, **({"retire": retire} if retire else {}))
    if keep.copy_fingerprint != trace.fingerprint:
        details["changed"] = "unlinked run" if keep.copy_fingerprint == "unlinked" else "content"
    return Action(op=Op.UPDATE, dest_id=keep.trace_id, details=details, **base)


def unlisted_run_links(
    src: Snapshot, planned_experiments: set[str | None], caps: Capabilities
) -> list[Action]:
    """One `!` row (count unknown) saying that `link_traces_to_run` links are not copied, when
    traces are."""
    if not supports(caps, KIND) or not any(
        t.experiment_id in planned_experiments for t in src.part("trace").values()
    ):
        return []
    return [unlisted(RUN_LINKS_KIND, RUN_LINKS_WHY)]
