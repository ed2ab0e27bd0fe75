"""What the source holds that no kind copies: counted and reported, never copied.

This module is the kind's `Kind` record and its step functions; syncer.kinds.registry lists it.
"""

from __future__ import annotations

from syncer.core.kinds import KindInfo
from syncer.kinds.base import Emitter, Job, Kind, Known, Planned, reading
from syncer.kinds.inventory.listing import INVENTORY_KINDS
from syncer.kinds.inventory.plan import plan_inventory
from syncer.kinds.inventory.scan import scan_inventory
from syncer.kinds.inventory.visibility import VISIBILITY, visibility


def _scan_inventory(job: Job, known: Known) -> Known:
    live = sorted(eid for eid, e in known.src_snap.experiments.items() if not e.deleted)
    known.src_snap.parts["inventory"] = reading(
        job.src, "source inventory", lambda: scan_inventory(job.src, live)
    )
    seen = visibility(job.src)
    known.src_snap.parts["inventory"] += [seen] if seen else []
    if job.state is not None and not job.state.read_only and job.src.caps.acl_me_path:
        job.state.set_cursor(VISIBILITY, (seen.why or "") if seen else "")
    return known


def _plan_inventory(job: Job, known: Known, out: Emitter) -> Planned:
    names = {eid: e.name for eid, e in known.src_snap.experiments.items()}
    return Planned(plan_inventory(known.src_snap.parts.get("inventory", []), names), known)


INVENTORY = Kind(
    "inventory",
    tuple(KindInfo(k.name, k.plural, inventoried=True) for k in INVENTORY_KINDS),
    _scan_inventory,
    _plan_inventory,
    after=("experiment",),
    beside_apply=True,
)
