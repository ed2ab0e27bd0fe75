"""`unsupported: archive` and `mlflow-syncer restore`: objects a destination cannot hold, kept as
JSON and loaded back into one that has the API (syncer.core.archive describes the format;
docs/MLFLOW3.md the mapping).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

# Each kind's archiver registers when the registry imports the kind (`Kind.archiver`). Kinds with
# their own layout (`Archiver.archive_all`) count and restore it themselves (`count`,
# `restore_all`).
from syncer.apply.archive import ArchiveWriter, archive_experiment, dest_experiment
from syncer.backends.calls import call
from syncer.backends.classify import describe
from syncer.backends.endpoint import Endpoint
from syncer.core.actions import Op, Plan
from syncer.core.archive import (
    ARCHIVE_EXPERIMENT,
    ARCHIVERS,
    FILES_KEY,
    ArchivedFiles,
    file_path,
    files_path,
)
from syncer.core.capabilities import supports
from syncer.core.errors import FatalError
from syncer.core.snapshot import Snapshot
from syncer.kinds.registry import INFO
from syncer.scan.archive import Holder, archived, holders, read

log = structlog.get_logger("syncer.engine.archive")


def _selected(snap: Snapshot, kind: str) -> set[str] | None:
    """The selected source objects of a kind, from its snapshot part (archived: those, not every one
    listed); None for a kind whose part is not keyed by source id (every object of it is
    archived)."""
    part = snap.parts.get(kind)
    return set(part) if isinstance(part, dict) else None


def archive_uncopied(src: Endpoint, dst: Endpoint, plan: Plan, src_snap: Snapshot) -> int:
    """Archive the objects of every uncopied action whose kind has an archiver; returns the objects
    archived.

    Each action's details gain `archived` (objects now in the archive) or `archive_error`; the
    action stays `!`: the objects are kept, not copied as objects of the destination.
    """
    writer = ArchiveWriter(dst, src.identity)
    total = 0
    for a in plan.actions:
        if a.op is not Op.UNCOPIED or a.kind not in ARCHIVERS or not a.details.get("count"):
            continue
        exp = src_snap.experiments.get(a.experiment) if a.experiment else None
        try:
            written, kept = archive_experiment(
                src,
                writer,
                a.kind,
                a.experiment,
                exp.name if exp else None,
                _selected(src_snap, a.kind),
            )
        except FatalError:
            raise
        except Exception as exc:
            a.details["archive_error"] = describe(exc)
            log.warning(
                "archive failed",
                kind=a.kind,
                group=a.details.get("group"),
                error=a.details["archive_error"],
            )
            continue
        a.details["archived"] = written + kept
        a.details["reason"] += f"; archived in {ARCHIVE_EXPERIMENT}"
        total += written + kept
    return total


def _archived_count(dst: Endpoint, run_id: str, kind: str) -> int:
    count = ARCHIVERS[kind].count
    if count is not None:
        return count(dst, run_id)
    return sum(1 for k, _ in archived(dst, run_id) if k == kind)


def count_archived(src: Endpoint, dst: Endpoint, plan: Plan) -> None:
    """Dry runs (`diff`) with `unsupported: archive`: mark each uncopied row with what the archive
    already holds (`archived` in its details, the reason as a pass would leave it); reads only."""
    writer = ArchiveWriter(dst, src.identity)
    for a in plan.actions:
        if a.op is not Op.UNCOPIED or a.kind not in ARCHIVERS or not a.details.get("count"):
            continue
        try:
            run_id = writer.existing_holder(a.experiment)
            held = _archived_count(dst, run_id, a.kind) if run_id is not None else 0
        except FatalError:
            raise
        except Exception as exc:
            a.details["archive_error"] = describe(exc)
            continue
        a.details["archived"] = held
        if held:
            some = "" if held >= a.details["count"] else f"{held} "
            a.details["reason"] += f"; {some}archived in {ARCHIVE_EXPERIMENT}"


@dataclass
class Restored:
    """What `restore` did: objects restored, and those it could not restore with why."""

    restored: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> objects
    # kind -> objects whose copy was already there (kinds restored in batches): nothing read or
    # written
    kept: dict[str, int] = field(default_factory=dict)

    @property
    def unchanged(self) -> int:
        """The objects whose copy was already there, of every kind."""
        return sum(self.kept.values())

    def skip(self, reason: str, objects: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + objects


def _document(
    archive: Endpoint, holder: Holder, kind: str, source_id: str, roots: dict[str, str]
) -> dict:
    """The archived object's document, with where its files are when its kind has files."""
    doc = read(archive, holder.run_id, file_path(kind, source_id))["object"]
    if ARCHIVERS[kind].files is not None:
        if holder.run_id not in roots:
            roots[holder.run_id] = call(
                archive, "get_run", lambda: archive.client.get_run(holder.run_id)
            ).info.artifact_uri.rstrip("/")
        doc[FILES_KEY] = ArchivedFiles(
            archive, f"{roots[holder.run_id]}/{files_path(kind, source_id)}"
        )
    return doc


def restore(archive: Endpoint, dst: Endpoint) -> Restored:
    """Load every archived object of `archive` into `dst` where its kind has an archiver and `dst`
    the API.

    Objects go into the destination experiment named like their source experiment (created if
    missing); each kind's `restore` finds a copy made before by its provenance tag, so a second
    restore creates nothing.
    """
    done, experiments, roots = Restored(), {}, {}
    for holder in holders(archive):
        for kind, source_id in archived(archive, holder.run_id):
            archiver, info = ARCHIVERS.get(kind), INFO.get(kind)
            if archiver is None or archiver.restore is None:
                done.skip(f"no archiver for kind {kind}")
                continue
            if info is not None and info.capability and not supports(dst.caps, info.capability):
                done.skip(f"destination has no {kind.replace('_', ' ')} API: {dst.caps.kind}")
                continue
            doc = _document(archive, holder, kind, source_id, roots)
            exp = dest_experiment(dst, holder.experiment_name, experiments)
            call(dst, f"restore {kind}", lambda a=archiver, d=doc, e=exp: a.restore(dst, d, e))
            done.restored += 1
        for batched in (a for a in ARCHIVERS.values() if a.restore_all is not None):
            written, kept = batched.restore_all(
                archive,
                dst,
                holder,
                lambda h=holder: dest_experiment(dst, h.experiment_name, experiments),
                done.skip,
            )
            done.restored += written
            done.kept[batched.kind] = done.kept.get(batched.kind, 0) + kept
    return done
