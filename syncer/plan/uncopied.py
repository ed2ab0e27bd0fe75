"""Objects a sync does not copy, listed and counted with the reason (never dropped quietly).

One `!` action (`Op.UNCOPIED`) stands for `count` source objects of one kind in one group (an
experiment, or the whole workspace): `details` holds `count`, `reason` and `group`. A count of None
means the source cannot list that kind at all (`unlisted`): the report says so, but it is no
difference by itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from syncer.core.actions import Action, Op
from syncer.core.capabilities import Capabilities
from syncer.core.kinds import plural

UNLISTED = "cannot be listed here"


def uncopied(
    kind: str,
    count: int | None,
    reason: str,
    group: str | None = None,
    experiment: str | None = None,
) -> Action:
    """One `!` action standing for `count` source objects of `kind` (in `group`, e.g. an experiment)
    not copied."""
    where = f"{group}/" if group else ""
    return Action(
        kind=kind,
        op=Op.UNCOPIED,
        label=f"{where}{plural(kind)}",
        source_id=f"uncopied:{where}{kind}",
        experiment=experiment,
        details={"count": count, "reason": reason, "group": group},
    )


def unlisted(
    kind: str, why: str, group: str | None = None, experiment: str | None = None
) -> Action:
    """The source cannot list `kind` (no such API, not implemented): reported, counted as
    unknown."""
    return uncopied(kind, None, f"{UNLISTED}: {why}", group, experiment)


def missing_api(kind: str, caps: Capabilities, api: str | None = None) -> str:
    """Why the destination cannot hold objects of `kind`, from its capability record. `api` names
    the API in words where the kind's plain name reads as something else (default: the kind's
    name)."""
    return f"destination has no {api or kind.replace('_', ' ')} API: {caps.kind}"


def entry(action: Action) -> dict:
    """What reports list of one uncopied action: kind, count (None: cannot be listed), reason,
    group."""
    d = action.details
    return {
        "kind": action.kind,
        "count": d.get("count"),
        "reason": d.get("reason", ""),
        "group": d.get("group"),
    }


def entries(actions: Iterable[Action]) -> list[dict]:
    """Every uncopied action of a plan as a report entry, in plan order."""
    return [entry(a) for a in actions if a.op is Op.UNCOPIED]


def uncopied_total(actions: Iterable[Action]) -> int:
    """How many source objects a plan leaves uncopied (kinds that cannot be listed count 0)."""
    return sum(a.details.get("count") or 0 for a in actions if a.op is Op.UNCOPIED)


def by_kind_and_reason(actions: Iterable[Action]) -> list[tuple[str, int, str]]:
    """(kind, objects, reason) over every group, for end-of-run summaries; unlistable kinds left
    out."""
    totals: dict[tuple[str, str], int] = {}
    for a in actions:
        if a.op is Op.UNCOPIED and a.details.get("count"):
            key = (a.kind, a.details.get("reason", ""))
            totals[key] = totals.get(key, 0) + a.details["count"]
    return [(kind, n, reason) for (kind, reason), n in totals.items()]


def is_unlisted(action: Action) -> bool:
    """An uncopied row of a kind the source cannot list: reported, but nothing a sync could do."""
    return action.unlisted
