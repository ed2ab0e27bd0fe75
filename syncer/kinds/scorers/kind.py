"""Scorers registered on an experiment: scanned on both ends, planned by name, registered again.

This module is the kind's `Kind` record and its step functions; syncer.kinds.registry lists it.
"""

from __future__ import annotations

from syncer.core.capabilities import absent_kinds
from syncer.core.kinds import KindInfo
from syncer.kinds.base import Emitter, Job, Kind, Known, Planned, reading
from syncer.kinds.scorers.apply import apply_scorers
from syncer.kinds.scorers.capabilities import KIND
from syncer.kinds.scorers.plan import plan_scorers
from syncer.kinds.scorers.scan import NoScorerApi, offers_scorers, scan_scorers
from syncer.kinds.scorers.snapshot import Scorers
from syncer.plan.uncopied import unlisted

_NO_API = "scorer:no_api"  # the destination's part when it cannot hold scorers: why
_UNLISTED = "scorer:unlisted"  # the source's part when it cannot list them: its answer


def _live(known: Known) -> list[str]:
    return sorted(
        eid
        for eid, e in known.src_snap.experiments.items()
        if eid in known.plannable and not e.deleted
    )


def _read(job: Job, side: str, experiments: list[str]) -> Scorers | str:
    """The scorers of `experiments` on one side, or why that side has no scorer API."""
    end = job.src if side == "source" else job.dst

    def read() -> Scorers | str:
        try:
            if not experiments and side == "destination":  # no copy yet: can it hold any?
                return (
                    {} if offers_scorers(end) else f"destination has no scorer API: {end.caps.kind}"
                )
            return scan_scorers(end, experiments)
        except NoScorerApi as exc:
            return f"{side} has no scorer API: {exc}"

    return reading(end, f"{side} scorers", read)


def _scan(job: Job, known: Known) -> Known:
    if KIND in absent_kinds(job.src.caps):
        return known
    src = _read(job, "source", _live(known))
    if isinstance(src, str):
        known.src_snap.parts[_UNLISTED] = src  # a standing note, no difference by itself
        return known
    known.src_snap.parts[KIND] = src
    if not any(src.values()):
        return known
    dest = {e.name: eid for eid, e in known.dst_snap.experiments.items() if not e.deleted}
    dst = _read(
        job,
        "destination",
        sorted({dest[n] for eid in src if (n := known.dest_names.get(eid)) in dest}),
    )
    known.dst_snap.parts[_NO_API if isinstance(dst, str) else KIND] = dst
    return known


def _plan(job: Job, known: Known, out: Emitter) -> Planned:
    if why := known.src_snap.parts.get(_UNLISTED):
        return Planned([unlisted(KIND, why)], known)
    src = known.src_snap.parts.get(KIND, {})
    dest = {e.name: eid for eid, e in known.dst_snap.experiments.items() if not e.deleted}
    dest_ids = {eid: dest.get(known.dest_names.get(eid, "")) for eid in src}
    names = {eid: known.src_snap.experiments[eid].name for eid in src}
    actions = plan_scorers(
        src, known.dst_snap.parts.get(KIND, {}), dest_ids, names, known.dst_snap.parts.get(_NO_API)
    )
    return Planned(actions, known)


SCORERS = Kind(
    "scorer", (KindInfo(KIND, "scorers"),), _scan, _plan, apply_scorers, after=("experiment",)
)
