"""The pure planner of destination-only runs: live destination runs no wanted source run explains,
decided once every source run was seen (`-`: extra, or deleted with `delete_extra`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from syncer.core.actions import Action, Op
from syncer.core.snapshot import Snapshot, retired

# a destination-only run's reason: its source run is deleted, or was not read
DELETED = "deleted in the source"
GONE = "no longer in the source"


@dataclass(frozen=True)
class ExtraCandidate:
    """A live destination run that no wanted source run of its chunk explains: its source id (if a
    copy)."""

    run_id: str
    label: str
    group: str
    source_id: str | None


def extra_candidates(
    dst: Snapshot, to_source: dict[str, str], wanted: set[str]
) -> list[ExtraCandidate]:
    """Destination runs that may be extra: not deleted, not a retired duplicate, no wanted source
    run."""
    dest_exp_names = {e.experiment_id: e.name for e in dst.experiments.values()}
    found = []
    for run in sorted(dst.runs.values(), key=lambda r: r.run_id):
        source_id = to_source.get(run.run_id)
        if source_id in wanted or run.deleted or retired(run.tags):
            continue
        group = dest_exp_names.get(run.experiment_id, "?")
        found.append(
            ExtraCandidate(run.run_id, f"{group}/{run.name or run.run_id}", group, source_id)
        )
    return found


def plan_extra_runs(
    candidates: list[ExtraCandidate],
    delete_extra: bool,
    source_deleted: Mapping[str, bool] | Callable[[str], bool | None],
) -> list[Action]:
    """`-` actions for destination-only runs. `source_deleted(id)` says whether the source still
    holds the run (None: it does not, False: live, True: deleted); a mapping of source ids to
    `deleted` works too."""
    lookup = source_deleted.get if isinstance(source_deleted, Mapping) else source_deleted
    actions = []
    for c in candidates:
        deleted = lookup(c.source_id) if c.source_id else None
        if deleted is False:
            # still in the source, in an experiment that is not planned (its error says why)
            continue
        if deleted:
            reason = DELETED
        elif c.source_id:
            reason = GONE
        else:
            reason = "not created by mlflow-syncer"
        op = Op.DELETE if delete_extra and c.source_id is not None else Op.EXTRA
        actions.append(
            Action(
                kind="run",
                op=op,
                label=c.label,
                source_id=c.source_id,
                dest_id=c.run_id,
                details={"reason": reason},
            )
        )
    return actions
