"""Applying a plan: kind by kind in the order of syncer.kinds.registry.KINDS, the run step a chunk
at a time.

The plan's actions are read back in order (they may lie on disk: syncer.core.spill). A chunk of runs
with something to do is read again from both sides (only the runs its actions name; the first
chunks' runs were kept from planning, syncer.core.held_runs) and applied, then dropped; runs
planned after every chunk (parents in other chunks) were kept by the run stream. Only the source ->
destination ids later kinds ask for (model versions, logged models, traces, prompt links, parents
in other chunks) stay in the context's id map. Deletions come last, in reverse order, only after a
clean pass and within `max_delete`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import structlog

from syncer.apply.context import Context
from syncer.apply.units import Outcome, Units
from syncer.core.actions import Action, Op, Plan, Segment, runs_named
from syncer.core.held_runs import HeldRuns
from syncer.core.snapshot import Snapshot
from syncer.core.windows import Window
from syncer.kinds.registry import BY_NAME, KINDS
from syncer.kinds.runs.stream import DEFERRED, RunStream
from syncer.scan import runs as run_scanner

log = structlog.get_logger("syncer.engine.apply")


def _of(step_kinds: tuple[str, ...], actions: list[Action]) -> list[Action]:
    return [a for a in actions if a.kind in step_kinds]


def _segments(plan: Plan) -> Iterator[tuple[int, Segment, list[Action]]]:
    """Each segment with its index and actions, reading the plan once."""
    actions = iter(plan.actions)
    for index, seg in enumerate(plan.segments):
        yield index, seg, [next(actions) for _ in range(seg.count)]


def referenced_runs(snap: Snapshot, stream: RunStream | None) -> set[str]:
    """Source runs whose copies later kinds look up by id (`Kind.linked_runs`: model versions,
    logged models and their metrics, traces), runs kept whole (prompt links) and the parents of runs
    planned after every chunk."""
    refs: set[str] = set(snap.runs)
    for kind in KINDS:
        if kind.linked_runs is not None:
            refs.update(kind.linked_runs(snap))
    if stream is not None:
        refs.update(r.parent_id for r in stream.facts.deferred.values() if r.parent_id)
        refs.update(stream.facts.cross_parents)
    refs.discard("")
    return refs


# fewer runs than this are read back by id (100 per search), more with their experiments
BY_ID_UP_TO = 1000


def _read(endpoint, experiments: list[str], wanted: set[str], window: Window | None = None) -> list:
    """The wanted runs of the experiments: by id when they are few (a change-only cycle), else every
    run (of the start-time window, and by id those the window does not hold: copies the state store
    found elsewhere)."""
    if len(wanted) < BY_ID_UP_TO:
        return run_scanner.fetch_runs(endpoint, experiments, wanted)
    runs = run_scanner.window_runs(endpoint, experiments, window, include_deleted=True)
    missing = wanted - {r.run_id for r in runs} if window is not None else set()
    return runs + (run_scanner.fetch_runs(endpoint, experiments, missing) if missing else [])


class ChunkApplier:
    """Applies the run step's segments: reads the runs a chunk's actions name, applies them, forgets
    them."""

    def __init__(self, ctx: Context, stream: RunStream | None, held: HeldRuns) -> None:
        self.ctx, self.stream, self.held = ctx, stream, held
        self.keep = referenced_runs(ctx.src_snap, stream)

    def apply(
        self, step_apply, index: int, seg: Segment, copies: list[Action], units: Units
    ) -> None:
        """Apply one chunk's copies (its `=` runs only map ids later kinds need)."""
        todo = [a for a in copies if a.mutates]
        if not todo:
            for a in copies:
                if a.dest_id and a.source_id in self.keep and a.op in (Op.SAME, Op.EXTRA):
                    self.ctx.map_id("run", a.source_id, a.dest_id)
            return
        added = self._load(index, seg, todo)
        try:
            step_apply(self.ctx, copies, units)
        finally:
            self._forget(added)

    def _load(self, index: int, seg: Segment, todo: list[Action]) -> tuple[list[str], list[str]]:
        ctx = self.ctx
        want_src, want_dst = runs_named(todo)
        held = self.held.take(index)
        if seg.experiments == DEFERRED and self.stream is not None:
            src_runs = list(self.stream.facts.deferred.values())
            dst_runs = list(self.stream.facts.deferred_copies.values())
        elif held is not None:  # kept from planning: no search again
            src_runs, dst_runs = list(held[0].values()), list(held[1].values())
        else:
            dest_exps = sorted(
                {d for e in seg.experiments or () if (d := ctx.dest_id("experiment", e))}
            )
            src_runs = _read(ctx.src, list(seg.experiments or ()), want_src, seg.window)
            dst_runs = _read(ctx.dst, dest_exps, want_dst, seg.window) if want_dst else []
        src_new = {
            r.run_id: r
            for r in src_runs
            if r.run_id in want_src and r.run_id not in ctx.src_snap.runs
        }
        dst_new = {
            r.run_id: r
            for r in dst_runs
            if r.run_id in want_dst and r.run_id not in ctx.dst_snap.runs
        }
        ctx.src_snap.runs.update(src_new)
        ctx.dst_snap.runs.update(dst_new)
        return list(src_new), list(dst_new)

    def _forget(self, added: tuple[list[str], list[str]]) -> None:
        ctx = self.ctx
        for rid in added[0]:
            ctx.src_snap.runs.pop(rid, None)
        for rid in added[1]:
            ctx.dst_snap.runs.pop(rid, None)
        with ctx.lock:
            for key in [k for k in ctx.id_map if k[0] == "run" and k[1] not in self.keep]:
                del ctx.id_map[key]


def apply_plan(
    ctx: Context,
    plan: Plan,
    units: Units,
    max_delete: int | None = None,
    stream: RunStream | None = None,
    before_deletes: Callable[[], None] | None = None,
) -> str | None:
    """Apply a plan kind by kind; deletions last, only after a clean pass and within `max_delete`
    (`before_deletes` runs first: the kinds planned while applying join the plan).

    Returns why the planned deletions were refused, or None.
    """
    ctx.guard()
    chunks = ChunkApplier(ctx, stream, plan.held)
    deletes: list[Action] = []
    finishing: dict[str, list[Action]] = {}
    for index, seg, actions in _segments(plan):
        deletes.extend(a for a in actions if a.op is Op.DELETE)
        copies = [a for a in actions if a.op is not Op.DELETE]
        for kind in KINDS if seg.step is None else (BY_NAME[seg.step],):
            if kind.finish is not None:
                finishing.setdefault(kind.name, []).extend(_of(kind.names, copies))
            if seg.experiments is not None:
                chunks.apply(kind.apply, index, seg, _of(kind.names, copies), units)
            else:
                kind.apply(ctx, _of(kind.names, copies), units)
    for kind in KINDS:
        if kind.finish is not None:
            kind.finish(ctx, finishing.get(kind.name, []), units)
    if before_deletes is not None:
        before_deletes()
    return _delete(ctx, plan, units, deletes, max_delete)


def _delete(
    ctx: Context, plan: Plan, units: Units, deletes: list[Action], max_delete: int | None
) -> str | None:
    if not deletes or (ctx.stop is not None and ctx.stop.is_set()):
        return None
    reason = delete_guard(plan, units.outcomes, len(deletes), max_delete)
    if reason is not None:
        log.warning(
            "deletions refused",
            count=len(deletes),
            reason=reason,
            runs=[a.label for a in deletes[:20]],
        )
        return f"{len(deletes)} deletions not done: {reason}"
    for kind in reversed(KINDS):
        kind.apply(ctx, _of(kind.names, deletes), units)
    return None


def delete_guard(plan: Plan, outcomes, count: int, max_delete: int | None) -> str | None:
    """Why the deletions of this pass must not happen (None: they may)."""
    if any(not o.ok for o in outcomes) or plan.has_errors:
        return "the cycle had errors"
    if max_delete is not None and count > max_delete:
        return f"{count} deletions exceed --max-delete {max_delete}"
    return None


__all__ = ["Outcome", "apply_plan", "delete_guard"]
