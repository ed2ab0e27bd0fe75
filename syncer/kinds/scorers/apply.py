"""Register the planned scorers in their destination experiments, one call each.

A scorer is written by one call (`register_scorer`: a new version holding the serialized scorer), so
a kill leaves it either absent (planned `+` again) or equal (`=`). A retried call whose first answer
was lost adds one more version with the same content: the latest version stays equal.
"""

from __future__ import annotations

from syncer.apply.context import Context
from syncer.apply.runs import RunStats
from syncer.apply.units import Units
from syncer.backends.calls import call
from syncer.core.actions import Action
from syncer.core.errors import SyncError
from syncer.kinds.scorers.snapshot import KIND


def _register(ctx: Context, action: Action) -> tuple[str | None, RunStats]:
    eid, name = (action.source_id or "").split("/", 1)
    scorer = ctx.src_snap.parts[KIND][eid][name]
    dest_eid = ctx.dest_id("experiment", eid)
    if dest_eid is None:
        raise SyncError(f"scorer {action.label}: its experiment was not copied")
    ctx.guard()
    store = ctx.dst.client._tracking_client.store
    call(
        ctx.dst, "register scorer", lambda: store.register_scorer(dest_eid, name, scorer.serialized)
    )
    return f"{dest_eid}/{name}", RunStats()


def apply_scorers(ctx: Context, actions: list[Action], units: Units) -> None:
    """Register each scorer to create or update, one after another (an experiment holds a few)."""
    for a in actions:
        if a.mutates:
            units.run_and_record(a, lambda a=a: _register(ctx, a))
