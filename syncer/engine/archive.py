"""`unsupported: archive` and `mlflow-syncer restore`: objects a destination cannot hold, kept as JSON and
loaded back into one that has the API (syncer.core.archive describes the format; docs/MLFLOW3.md the mapping).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from syncer.apply.archive import ArchiveWriter, archive_experiment
from syncer.backends.calls import call
from syncer.backends.classify import describe
from syncer.backends.endpoint import Endpoint
from syncer.core.actions import Op, Plan
from syncer.core.archive import ARCHIVE_EXPERIMENT, ARCHIVERS, file_path
from syncer.core.errors import FatalError
from syncer.core.kinds import BY_NAME
from syncer.core.snapshot import Snapshot
from syncer.scan.archive import archived, holders, read

log = structlog.get_logger("syncer.engine.archive")


def archive_uncopied(src: Endpoint, dst: Endpoint, plan: Plan, src_snap: Snapshot) -> int:
    """Archive the objects of every uncopied action whose kind has an archiver; returns the objects archived.

    Each action's details gain `archived` (objects now in the archive) or `archive_error`; the action stays
    `!`: the objects are kept, not copied as objects of the destination.
    """
    writer = ArchiveWriter(dst, src.identity)
    total = 0
    for a in plan.actions:
        if a.op is not Op.UNCOPIED or a.kind not in ARCHIVERS or not a.details.get("count"):
            continue
        exp = src_snap.experiments.get(a.experiment) if a.experiment else None
        try:
            written, kept = archive_experiment(src, writer, a.kind, a.experiment, exp.name if exp else None)
        except FatalError:
            raise
        except Exception as exc:  # noqa: BLE001
            a.details["archive_error"] = describe(exc)
            log.warning("archive failed", kind=a.kind, group=a.details.get("group"), error=a.details["archive_error"])
            continue
        a.details["archived"] = written + kept
        a.details["reason"] += f"; archived in {ARCHIVE_EXPERIMENT}"
        total += written + kept
    return total


@dataclass
class Restored:
    """What `restore` did: objects restored, and those it could not restore with why."""

    restored: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> objects

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def _dest_experiment(dst: Endpoint, name: str | None, cache: dict[str, str | None]) -> str | None:
    if name is None:
        return None
    if name not in cache:
        exp = call(dst, "get_experiment_by_name", lambda: dst.client.get_experiment_by_name(name))
        cache[name] = exp.experiment_id if exp is not None else call(
            dst, "create_experiment", lambda: dst.client.create_experiment(name))
    return cache[name]


def restore(archive: Endpoint, dst: Endpoint) -> Restored:
    """Load every archived object of `archive` into `dst` where its kind has an archiver and `dst` the API.

    Objects go into the destination experiment named like their source experiment (created if missing);
    each kind's `restore` finds a copy made before by its provenance tag, so a second restore creates nothing.
    """
    done, experiments = Restored(), {}
    for holder in holders(archive):
        for kind, source_id in archived(archive, holder.run_id):
            archiver, info = ARCHIVERS.get(kind), BY_NAME.get(kind)
            if archiver is None:
                done.skip(f"no archiver for kind {kind}")
                continue
            if info is not None and info.capability and not getattr(dst.caps, info.capability):
                done.skip(f"destination has no {kind.replace('_', ' ')} API: {dst.caps.kind}")
                continue
            doc = read(archive, holder.run_id, file_path(kind, source_id))
            exp = _dest_experiment(dst, holder.experiment_name, experiments)
            call(dst, f"restore {kind}", lambda a=archiver, d=doc, e=exp: a.restore(dst, d["object"], e))
            done.restored += 1
    return done
