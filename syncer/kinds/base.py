"""What a kind is to the engine: a frozen `Kind` record naming its objects, its dependencies and its
steps.

A step is a named function: `scan(job)` fills the kind's part of both snapshots, `plan(job)` returns
its actions from the kind's pure planner, `apply(ctx, actions, units)` applies them (each action one
`Units.run`), `finish` runs after every kind was applied (experiment deletions wait for their runs);
`archiver` writes the kind's objects a destination cannot hold into the archive and restores them.
`after` names the kinds whose steps must run first; the registry orders kinds by it.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from syncer.apply.context import Context
from syncer.apply.units import Units
from syncer.backends.classify import describe
from syncer.backends.endpoint import Endpoint
from syncer.config import Settings
from syncer.core.actions import Action
from syncer.core.archive import Archiver
from syncer.core.errors import FatalError
from syncer.core.kinds import KindInfo
from syncer.core.snapshot import Snapshot
from syncer.plan.runs import Options
from syncer.state.store import StateStore

if TYPE_CHECKING:
    from syncer.kinds.runs.stream import Emit, RunStream

WORKSPACE = "workspace"  # planned by full passes only
# also by a scale-out unit restricted to some experiments (syncer.engine.ray_units)
EXPERIMENT = "experiment"
RANGE = "range"  # also by a range unit: one experiment's runs within a start-time range


@dataclass
class Job:
    """What one pass knows while it scans and plans: both ends, the options and what was planned so
    far."""

    settings: Settings
    src: Endpoint
    dst: Endpoint
    state: StateStore | None
    options: Options
    src_snap: Snapshot
    dst_snap: Snapshot
    dest_names: dict[str, str] = field(default_factory=dict)
    plannable: set[str | None] = field(default_factory=set)  # source experiments not in error
    copied_runs: Container[str] = field(default_factory=set)  # source runs that have or get a copy
    # Where planned actions go, with what they were planned from: (actions, chunk experiments, src,
    # dst).
    emit: Emit = lambda actions, experiments, src, dst, window=None: None
    runs: RunStream | None = None  # the run step's stream: facts and runs kept for later steps
    extra_groups: dict[str, str] = field(default_factory=dict)  # destination-only run -> experiment
    unmatched: list[str] = field(default_factory=list)  # filters that matched nothing
    perms: tuple | None = None  # both ends' permissions, (PermSnap, role grants) each


Applier = Callable[[Context, list[Action], Units], None]
Scan = Callable[[Job], None]
PlanStep = Callable[[Job], list[Action]]


def apply_nothing(ctx: Context, actions: list[Action], units: Units) -> None:
    """Kinds that are counted and reported, never copied."""


@dataclass(frozen=True)
class Kind:
    """One kind (or one family of kinds read by the same searches, such as models and their
    versions).

    `objects` are the `Action.kind` values its planner emits, with their report plurals, provenance
    tags and capability fields; `name` names the kind in `after` and in plan segments.
    """

    name: str
    objects: tuple[KindInfo, ...]
    scan: Scan
    plan: PlanStep
    apply: Applier = apply_nothing
    finish: Applier | None = None
    after: tuple[str, ...] = ()
    scope: str = WORKSPACE
    archiver: Archiver | None = None  # `unsupported: archive` and `restore` (syncer.engine.archive)
    # The source runs whose copies the kind's applier looks up by id (kept in the id map while
    # applying).
    linked_runs: Callable[[Snapshot], Iterable[str]] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The `Action.kind` values of this kind."""
        return tuple(o.name for o in self.objects)


def reading(endpoint: Endpoint, what: str, read: Callable[[], object]) -> object:
    """Run a scan read; any failure but a fatal one becomes fatal, naming the side that was read."""
    try:
        return read()
    except FatalError:
        raise
    except Exception as exc:
        raise FatalError(f"cannot read the {what} ({endpoint.identity}): {describe(exc)}") from None


def unmatched(job: Job, flag: str, patterns: list[str], names: list[str]) -> None:
    """Note each of the user's patterns (a bare `*` aside) that matches none of the source's
    `names`."""
    job.unmatched += [
        f"--{flag} {p!r} matches no {flag[:-1]} in the source ({job.src.identity})"
        for p in patterns
        if p != "*" and not any(fnmatchcase(n, p) for n in names)
    ]
