"""Units of work: each applied action is one unit that commits its result (or its failure) to the
state store."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from syncer.apply.context import Context
from syncer.apply.runs import RunStats
from syncer.backends import telemetry
from syncer.backends.classify import classify, describe
from syncer.core.actions import Action, Op
from syncer.core.errors import Cancelled, FatalError, Kind
from syncer.core.spill import SpillList
from syncer.state.store import DONE

log = structlog.get_logger("syncer.apply")

Work = Callable[[], tuple[str | None, RunStats]]


@dataclass
class Outcome:
    """What happened to one planned action."""

    action: Action
    ok: bool
    dest_id: str | None = None
    error: str | None = None
    status: str | None = None
    stats: RunStats = field(default_factory=RunStats)


Progress = Callable[[Outcome], None]
Started = Callable[[Action], None]


@dataclass
class Units:
    """Runs the units of one apply and keeps their outcomes, in the order they finished."""

    ctx: Context
    workers: int = 1
    progress: Progress = lambda outcome: None
    started: Started = lambda action: None  # an action's unit of work begins: progress bars
    outcomes: SpillList = field(
        default_factory=SpillList
    )  # a million outcomes spill to disk (syncer.core.spill)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _failed: dict[str, set[str | None]] = field(default_factory=dict, repr=False)

    def run(self, action: Action, work: Work) -> Outcome:
        """Run one unit of work and commit its result (or its failure) to the state store; not
        recorded."""
        ctx = self.ctx
        self.started(action)
        try:
            dest_id, stats = work()
        except Cancelled:
            return Outcome(action, ok=False, error="abandoned: shutting down", status="cancelled")
        except Exception as exc:
            kind = classify(exc)
            message = describe(exc)
            if kind is Kind.FATAL:
                raise FatalError(message) from exc
            telemetry.ERRORS.labels(kind.value).inc()
            status = ctx.state.record_failure(action.kind, action.key[1], message)
            log.warning(
                "object failed", kind=action.kind, object=action.label, error=message, status=status
            )
            return Outcome(action, ok=False, error=message, status=status)
        if action.source_id is not None:
            ctx.state.record(
                action.kind, action.source_id, dest_id, DONE, action.fingerprint, action.label
            )
        telemetry.OBJECTS.labels(action.kind, action.op.value, "ok").inc()
        return Outcome(action, ok=True, dest_id=dest_id, stats=stats)

    def record(self, outcome: Outcome) -> None:
        """Keep an outcome and report it to the progress callback."""
        with self._lock:
            self.outcomes.append(outcome)
            if not outcome.ok:
                self._failed.setdefault(outcome.action.kind, set()).add(outcome.action.source_id)
        self.progress(outcome)

    def run_and_record(self, action: Action, work: Work) -> Outcome:
        """`run`, then `record`."""
        outcome = self.run(action, work)
        self.record(outcome)
        return outcome

    def fail(self, kind: str, source_id: str, error: str) -> None:
        """Turn the recorded outcome of an object into a failure found after its unit ended (state
        included)."""
        status = self.ctx.state.record_failure(kind, source_id, error)
        log.warning("object failed", kind=kind, source_id=source_id, error=error, status=status)
        with self._lock:
            self._failed.setdefault(kind, set()).add(source_id)
            for i, o in enumerate(self.outcomes):
                if o.action.kind == kind and o.action.source_id == source_id:
                    self.outcomes[i] = Outcome(
                        o.action,
                        ok=False,
                        dest_id=o.dest_id,
                        error=error,
                        status=status,
                        stats=o.stats,
                    )

    def failed(self, kind: str) -> set[str | None]:
        """Source ids of the `kind` actions that failed so far."""
        with self._lock:
            return set(self._failed.get(kind, ()))


Step = Callable[[Action], tuple[str | None, RunStats]]


def versions_then_parent(
    units: Units, group: list[Action], parent_kind: str, copy_version: Step, update_parent: Step
) -> list[Outcome]:
    """One object with versions (a registered model, a prompt): its versions in source order, then
    its own fields (aliases point at versions that exist by then). Returns the units' outcomes, not
    recorded."""
    parent = next(a for a in group if a.kind == parent_kind)
    if parent.op is Op.ERROR:
        return []
    outcomes = [
        units.run(a, lambda a=a: copy_version(a))
        for a in group
        if a.kind != parent_kind and a.op in (Op.CREATE, Op.UPDATE)
    ]
    if parent.op in (Op.CREATE, Op.UPDATE):
        outcomes.append(units.run(parent, lambda: update_parent(parent)))
    return outcomes
