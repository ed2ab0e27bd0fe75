"""What the source refuses to show (HTTP 403: the caller may not view it) fails alone: one `!`
action, read again next pass, while the pass goes on."""

from __future__ import annotations

from syncer.backends.classify import describe
from syncer.core.actions import Action, Op


def experiment_refused(name: str, experiment_id: str, exc: Exception) -> Action:
    """The failure of an experiment whose runs the source refuses to show."""
    return Action(
        kind="experiment",
        op=Op.ERROR,
        label=name,
        source_id=experiment_id,
        experiment=experiment_id,
        details={"reason": f"its runs cannot be read: {describe(exc)}"},
    )


def run_refused(run_id: str, exc: Exception) -> Action:
    """The failure of a source run the source refuses to show (read alone)."""
    return Action(
        kind="run",
        op=Op.ERROR,
        label=f"run {run_id}",
        source_id=run_id,
        details={"reason": f"it cannot be read: {describe(exc)}"},
    )
