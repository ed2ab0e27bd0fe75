"""Kinds planned while the plan is applied.

A kind that writes nothing and whose findings no other kind reads (`Kind.beside_apply`: the
inventory of what no kind copies, nine listings on an MLflow 3 source) need not hold the first write
back. A pass that applies plans it on a thread of its own, beside the run step's copies, and its
actions join the plan before deletions are weighed (they may be errors, which refuse deletions), so
the plan ends as a dry run's does: those kinds last, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

from syncer.core.actions import Plan
from syncer.kinds.base import Kind, Known, Planned

# (kind, what the steps before established, the plan it emits into) -> what it established
Step = Callable[[Kind, Planned, Plan], Planned]


def split_beside(steps: Sequence[Kind]) -> tuple[tuple[Kind, ...], tuple[Kind, ...]]:
    """The kinds planned before applying, and the trailing kinds that may be planned beside it."""
    cut = len(steps)
    while cut and steps[cut - 1].beside_apply:
        cut -= 1
    return tuple(steps[:cut]), tuple(steps[cut:])


def _own(known: Known) -> Known:
    """`known` with a part map of its own: the kinds planned beside fill theirs while the applier
    reads the others."""
    return replace(known, src_snap=replace(known.src_snap, parts=dict(known.src_snap.parts)))


class Beside:
    """The kinds `kinds` planned on a thread (`start`), their actions added to `plan` (`join`)."""

    def __init__(self, kinds: tuple[Kind, ...], step: Step, done: Planned) -> None:
        self.kinds, self.step, self.done = kinds, step, replace(done, known=_own(done.known))
        self.parts = done.known.src_snap.parts  # the pass's own, given the kinds' parts at the end
        self.pool: ThreadPoolExecutor | None = None
        self.future: Future[Plan] | None = None

    def _plan(self) -> Plan:
        side = Plan(actions=[], dest_names={})
        for kind in self.kinds:
            self.done = self.step(kind, self.done, side)
        return side

    def start(self) -> None:
        """Begin planning the kinds on a thread of their own."""
        if self.kinds and self.future is None:
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="beside")
            self.future = self.pool.submit(self._plan)

    def join(self, plan: Plan) -> None:
        """Wait for the kinds (planning them now if not started) and add their actions to `plan`,
        segment by segment; their failure (a fatal read) is raised here."""
        if not self.kinds:
            return
        self.start()
        assert self.future is not None and self.pool is not None
        try:
            side = self.future.result()
        finally:
            self.pool.shutdown(wait=True)
            self.kinds = ()
        actions = iter(side.actions)
        for seg in side.segments:
            plan.add([next(actions) for _ in range(seg.count)], seg.step, seg.experiments)
        plan.extra_groups.update(side.extra_groups)
        found = self.done.known.src_snap.parts
        self.parts.update({k: v for k, v in found.items() if k not in self.parts})

    def close(self) -> None:
        """Wait for the thread, if one was started (a pass that stopped before joining)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True)
