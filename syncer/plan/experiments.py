"""The pure experiment planner: one action per source experiment, matched by destination name."""

from __future__ import annotations

from collections import Counter
from collections.abc import Container

from syncer.core.actions import Action, Op
from syncer.core.capabilities import Capabilities
from syncer.core.fitting import experiment_name_problem, fit_experiment_tags
from syncer.core.snapshot import ExperimentSnap, Snapshot, user_tags


def plan_experiments(
    src: Snapshot,
    dst: Snapshot,
    dest_names: dict[str, str],
    caps: Capabilities,
    quarantined: Container[tuple[str, str]] = frozenset(),
) -> list[Action]:
    """One action per source experiment, by destination name, in name order (`quarantined`: the
    (kind, source id) pairs that failed too often)."""
    dst_by_name = {e.name: e for e in dst.experiments.values()}
    invalid = _invalid_names(dest_names, caps)
    return [
        _plan_experiment(
            exp,
            dest_names[exp.experiment_id],
            dst_by_name.get(dest_names[exp.experiment_id]),
            invalid,
            quarantined,
            caps,
        )
        for exp in sorted(src.experiments.values(), key=lambda e: e.name)
    ]


def plannable_experiments(actions: list[Action]) -> set[str | None]:
    """The source experiments whose runs can be planned: those whose own action is not an error."""
    return {a.source_id for a in actions if a.kind == "experiment" and a.op is not Op.ERROR}


def _invalid_names(dest_names: dict[str, str], caps: Capabilities) -> dict[str, str]:
    """Destination names that cannot be used, with the reason: collisions and the destination's
    rules."""
    invalid = {
        name: f"several source experiments map to '{name}'"
        for name, n in Counter(dest_names.values()).items()
        if n > 1
    }
    for name in set(dest_names.values()) - set(invalid):
        problem = experiment_name_problem(name, caps)
        if problem:
            invalid[name] = problem
    return invalid


def _plan_experiment(
    exp: ExperimentSnap,
    name: str,
    dest: ExperimentSnap | None,
    invalid: dict[str, str],
    quarantined: Container[tuple[str, str]],
    caps: Capabilities,
) -> Action:
    base = dict(
        kind="experiment", label=name, source_id=exp.experiment_id, experiment=exp.experiment_id
    )
    if name in invalid:
        return Action(op=Op.ERROR, details={"reason": invalid[name]}, **base)
    if ("experiment", exp.experiment_id) in quarantined:
        return Action(
            op=Op.ERROR, details={"reason": "quarantined after repeated failures"}, **base
        )
    fitted = fit_experiment_tags(user_tags(exp.tags), caps)
    policy = {"policy": fitted.notes} if fitted.notes else {}
    if dest is None:
        details = {
            "tags": sorted(fitted.tags),
            **({"delete": True} if exp.deleted else {}),
            **policy,
        }
        return Action(op=Op.CREATE, details=details, **base)
    base["dest_id"] = dest.experiment_id
    if dest.deleted and not exp.deleted:
        return Action(
            op=Op.CONFLICT,
            details={
                "reason": "a deleted experiment of that name exists in the destination; restore or "
                "purge it"
            },
            **base,
        )
    have = user_tags(dest.tags)
    changed = sorted(k for k, v in fitted.tags.items() if have.get(k) != v)
    details: dict = {}
    if changed:
        details["tags"] = changed
    if exp.deleted and not dest.deleted:
        details["delete"] = True
    op = Op.UPDATE if details else Op.SAME
    return Action(op=op, details={**details, **(policy if details else {})}, **base)
