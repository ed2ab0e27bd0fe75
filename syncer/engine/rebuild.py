"""Rebuild the state store from the destination's provenance tags (after the state was lost)."""

from __future__ import annotations

from syncer.backends.endpoint import Endpoint
from syncer.config import Settings
from syncer.engine.id_map import mapped_actions
from syncer.engine.sync import scan_and_plan
from syncer.state.store import DONE, StateStore


def rebuild(settings: Settings, src: Endpoint, dst: Endpoint, state: StateStore) -> int:
    """Forget the recorded objects and map every source object found in the destination again."""
    state.reset()
    _, _, plan = scan_and_plan(settings, src, dst, state)
    n = 0
    for a, status, ref in mapped_actions(plan):
        state.record(
            a.kind, a.source_id, ref, status, a.fingerprint if status == DONE else None, a.label
        )
        n += 1
    return n
