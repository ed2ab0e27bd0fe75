"""Plan the scorers (pure): each source scorer's latest version against the one of the same name in
the destination experiment of the same name. Scorers carry no tags, so a copy is matched by
experiment and name: `+` none there, `*` its latest version differs (a new version is registered),
`=` equal. Scorers only in the destination are left alone.
"""

from __future__ import annotations

from syncer.core.actions import Action, Op
from syncer.kinds.scorers.snapshot import KIND, Scorers
from syncer.plan.uncopied import uncopied


def plan_scorers(
    src: Scorers,
    dst: Scorers,
    dest_ids: dict[str, str | None],
    names: dict[str, str],
    why_not: str | None = None,
) -> list[Action]:
    """The scorer actions of the source experiments in `src`; `dest_ids` maps each to its
    destination experiment (None: not there yet), `names` to its name. With `why_not` (the
    destination cannot hold scorers), one `!` row per experiment holding some."""
    actions: list[Action] = []
    for eid, scorers in sorted(src.items()):
        if why_not is not None:
            if scorers:
                actions.append(uncopied(KIND, len(scorers), why_not, names[eid], eid))
            continue
        there = dst.get(dest_ids[eid] or "", {})
        for name, scorer in sorted(scorers.items()):
            copy = there.get(name)
            op = (
                Op.CREATE
                if copy is None
                else Op.SAME
                if copy.content() == scorer.content()
                else Op.UPDATE
            )
            actions.append(
                Action(
                    KIND,
                    op,
                    f"{names[eid]}/{name}",
                    source_id=f"{eid}/{name}",
                    dest_id=f"{copy.experiment_id}/{name}" if copy else None,
                    experiment=eid,
                    details={"version": scorer.version},
                )
            )
    return actions
