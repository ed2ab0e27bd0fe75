"""Rebuild the state store from the destination's provenance tags (after the state was lost)."""

from __future__ import annotations

from syncer.backends.endpoint import Endpoint
from syncer.config import Settings
from syncer.core.actions import Op
from syncer.engine.sync import scan_and_plan
from syncer.state.store import DONE, IN_PROGRESS, StateStore


def rebuild(settings: Settings, src: Endpoint, dst: Endpoint, state: StateStore) -> int:
    """Forget the recorded objects and map every source object found in the destination again."""
    state.reset()
    _, _, plan = scan_and_plan(settings, src, dst, state)
    n = 0
    for a in plan.actions:
        if a.source_id is None or a.dest_id is None:
            continue
        status = DONE if a.op is Op.SAME else IN_PROGRESS
        state.record(a.kind, a.source_id, a.dest_id, status, a.fingerprint if status == DONE else None)
        n += 1
    return n
