"""The one list of kinds the engine, the reports and the CLI iterate, in the order of their
dependencies.

Each kind package is one line below; `ordered` sorts them so that every kind comes after the kinds
it names in `after` (ties keep the order of the list).
"""

from __future__ import annotations

from collections.abc import Iterable

from syncer.config import Settings
from syncer.core import kinds as names
from syncer.core.kinds import KindInfo
from syncer.kinds.base import EXPERIMENT, RANGE, Kind
from syncer.kinds.datasets.kind import DATASETS
from syncer.kinds.inventory.kind import INVENTORY
from syncer.kinds.logged_models.kind import LOGGED_MODELS
from syncer.kinds.models.kind import MODELS
from syncer.kinds.permissions.kind import PERMISSIONS
from syncer.kinds.prompts.kind import PROMPTS
from syncer.kinds.runs.kind import EXPERIMENTS, RUNS
from syncer.kinds.scorers.kind import SCORERS
from syncer.kinds.traces.kind import TRACES


def ordered(kinds: Iterable[Kind]) -> tuple[Kind, ...]:
    """The kinds, each after those it names in `after` (a stable topological sort).

    Raises ValueError on a dependency no kind provides, or a cycle."""
    pending = list(kinds)
    known = {k.name for k in pending}
    for k in pending:
        if missing := set(k.after) - known:
            raise ValueError(f"kind {k.name!r} comes after unknown kinds {sorted(missing)}")
    done: list[Kind] = []
    while pending:
        ready = next((k for k in pending if set(k.after) <= {d.name for d in done}), None)
        if ready is None:
            raise ValueError(f"kinds depend on one another in a cycle: {[k.name for k in pending]}")
        done.append(ready)
        pending.remove(ready)
    return tuple(done)


KINDS: tuple[Kind, ...] = ordered(
    (
        EXPERIMENTS,
        DATASETS,
        RUNS,
        LOGGED_MODELS,
        MODELS,
        TRACES,
        PROMPTS,
        PERMISSIONS,
        SCORERS,
        INVENTORY,  # last: planned while the others are applied (syncer.engine.beside)
    )
)
BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}
_COPYING = {o.name for k in KINDS for o in k.objects if not o.inventoried}
# A kind the inventory counts is taken over by the kind that copies it, once that kind is listed.
OBJECTS: tuple[KindInfo, ...] = tuple(
    o for k in KINDS for o in k.objects if not (o.inventoried and o.name in _COPYING)
)
INFO: dict[str, KindInfo] = {o.name: o for o in OBJECTS}
COPIED: tuple[KindInfo, ...] = tuple(o for o in OBJECTS if o.provenance_tag)  # never copied: no tag
names.known(OBJECTS)


def steps_for(experiment_ids: frozenset[str] | None, ranged: bool = False) -> tuple[Kind, ...]:
    """Every kind, those a pass restricted to `experiment_ids` plans (a scale-out unit), or a range
    unit's.

    Kinds linked to several experiments (models, prompts, datasets) and the inventory are left to
    the final full pass."""
    if experiment_ids is None:
        return KINDS
    return tuple(k for k in KINDS if k.scope == RANGE or (k.scope == EXPERIMENT and not ranged))


def user_map(settings: Settings) -> tuple[tuple[str, str], ...]:
    """The source -> destination principal names the kinds map (`Kind.principals`), sorted: the
    destination end writes `mlflow.user` through them."""
    mapped: dict[str, str] = {}
    for kind in KINDS:
        if kind.principals is not None:
            mapped.update(kind.principals(settings))
    return tuple(sorted(mapped.items()))


def config_problems(settings: Settings, config: str | None, dst: object | None) -> list[str]:
    """What is wrong with the kinds' own settings (`Kind.checks`), one line each."""
    return [line for k in KINDS if k.checks is not None for line in k.checks(settings, config, dst)]


def id_rows(settings: Settings, store: object | None) -> Iterable[tuple[str, ...]]:
    """The rows the kinds add to an exported id map (`Kind.id_rows`)."""
    for kind in KINDS:
        if kind.id_rows is not None:
            yield from kind.id_rows(settings, store)


def of_object(name: str) -> Kind:
    """The kind whose planner emits actions of `Action.kind` `name`."""
    return next(k for k in KINDS if name in k.names)
