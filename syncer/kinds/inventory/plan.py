"""The pure inventory planner: counts of kinds mlflow-syncer never copies -> `!` uncopied actions.

Each non-zero count becomes one action (per experiment for experiment kinds) with the kind's reason
(syncer.kinds.inventory.listing); a kind the source cannot list becomes one `unlisted` action (count
unknown). A kind the source holds none of produces nothing.
"""

from __future__ import annotations

from syncer.core.actions import Action
from syncer.kinds.inventory.listing import INVENTORY, Listed
from syncer.plan.uncopied import uncopied, unlisted


def plan_inventory(listed: list[Listed], experiment_names: dict[str, str]) -> list[Action]:
    """One `!` action per kind and place holding objects that are never copied, or that cannot be
    listed.

    `experiment_names`: source experiment id -> name (the group of experiment-level kinds).
    """
    actions = []
    for item in listed:
        group = experiment_names.get(item.experiment, item.experiment) if item.experiment else None
        if item.count is None:
            actions.append(unlisted(item.kind, item.why or "no answer", group, item.experiment))
        elif item.count:
            actions.append(
                uncopied(item.kind, item.count, INVENTORY[item.kind].reason, group, item.experiment)
            )
    return actions
