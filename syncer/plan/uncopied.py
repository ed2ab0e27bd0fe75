"""Objects a sync does not copy, listed and counted with the reason (never dropped quietly)."""

from __future__ import annotations

from syncer.core.actions import Action, Op
from syncer.core.capabilities import Capabilities
from syncer.core.kinds import plural


def uncopied(kind: str, count: int, reason: str, group: str | None = None, experiment: str | None = None) -> Action:
    """One `!` action standing for `count` source objects of `kind` (in `group`, e.g. an experiment) not copied."""
    where = f"{group}/" if group else ""
    return Action(kind=kind, op=Op.UNCOPIED, label=f"{where}{plural(kind)}", source_id=f"uncopied:{where}{kind}",
                  experiment=experiment, details={"count": count, "reason": reason})


def missing_api(kind: str, caps: Capabilities) -> str:
    """Why the destination cannot hold objects of `kind`, from its capability record."""
    return f"destination has no {kind.replace('_', ' ')} API: {caps.kind}"
