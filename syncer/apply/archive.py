"""Write objects the destination cannot hold as JSON into holder runs of its `mlflow-syncer-archive`
experiment.

Idempotent without the state store: the experiment is found by name, a holder run by its provenance
tags (source and source experiment), and an object whose file `<kind>/<source id>.json` is already
listed is not written again. The layout and the kind registry are in syncer.core.archive;
docs/MLFLOW3.md describes both.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field

from syncer.backends import artifacts as art
from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint
from syncer.backends.run_files import list_run_files
from syncer.backends.write_once import write_once
from syncer.core.archive import (
    ARCHIVE_EXPERIMENT,
    ARCHIVERS,
    TAG_ARCHIVE_EXPERIMENT,
    TAG_ARCHIVE_EXPERIMENT_NAME,
    TAG_ARCHIVE_SOURCE,
    Archiver,
    envelope,
    file_path,
    files_path,
)


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


@dataclass
class ArchiveWriter:
    """Writes archived objects of one source into one destination (holder runs found once, then
    cached)."""

    dst: Endpoint
    source: str  # the source's secret-free identity
    _experiment: str | None = None
    _holders: dict[str, str] = field(default_factory=dict)
    _present: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def _archive_experiment(self, create: bool) -> str | None:
        if self._experiment is None:
            exp = call(
                self.dst,
                "get_experiment_by_name",
                lambda: self.dst.client.get_experiment_by_name(ARCHIVE_EXPERIMENT),
            )
            if exp is not None:
                self._experiment = exp.experiment_id
            elif create:
                self._experiment = call(
                    self.dst,
                    "create_experiment",
                    lambda: self.dst.client.create_experiment(ARCHIVE_EXPERIMENT),
                )
        return self._experiment

    def experiment_id(self) -> str:
        """The archive experiment, created on first use."""
        return self._archive_experiment(create=True) or ""

    def existing_holder(self, experiment_id: str | None) -> str | None:
        """The holder run of the source's experiment if the archive has one (nothing is created: dry
        runs)."""
        key = experiment_id or ""
        if key not in self._holders:
            exp = self._archive_experiment(create=False)
            if exp is None:
                return None
            flt = (
                f"tags.{TAG_ARCHIVE_SOURCE} = '{_quoted(self.source)}' and "
                f"tags.{TAG_ARCHIVE_EXPERIMENT} = '{_quoted(key)}'"
            )
            found = call(
                self.dst,
                "search_runs",
                lambda: self.dst.client.search_runs([exp], flt, max_results=1),
            )
            if not found:
                return None
            self._holders[key] = found[0].info.run_id
        return self._holders[key]

    def holder(self, experiment_id: str | None, experiment_name: str | None = None) -> str:
        """The holder run of the source's experiment (`None`: workspace-wide objects), found by tags
        or created."""
        key = experiment_id or ""
        if self.existing_holder(experiment_id) is None:
            tags = {
                TAG_ARCHIVE_SOURCE: self.source,
                TAG_ARCHIVE_EXPERIMENT: key,
                TAG_ARCHIVE_EXPERIMENT_NAME: experiment_name or "(workspace)",
            }
            run = call(
                self.dst,
                "create_run",
                lambda: self.dst.client.create_run(
                    self.experiment_id(),
                    tags=tags,
                    run_name=f"archive of {experiment_name or 'the workspace'}",
                ),
            )
            self._holders[key] = run.info.run_id
        return self._holders[key]

    def present(self, run_id: str, kind: str) -> set[str]:
        """The files already archived for `kind` in a holder run."""
        if (run_id, kind) not in self._present:
            listed = list_run_files(self.dst, run_id, kind)
            self._present[(run_id, kind)] = {f.path for f in listed if not f.is_dir}
        return self._present[(run_id, kind)]

    def write(self, run_id: str, kind: str, source_id: str, document: dict) -> bool:
        """Archive one object unless its file exists; True when written."""
        path = file_path(kind, source_id)
        present = self.present(run_id, kind)
        if path in present:
            return False
        text = json.dumps(
            envelope(kind, source_id, self.source, document), indent=1, sort_keys=True, default=str
        )
        self.put_text(run_id, path, text)
        present.add(path)
        return True

    def put_text(self, run_id: str, path: str, text: str) -> None:
        """Write one text file into a holder run; a write-once refusal of the same text settles
        it."""
        size = len(text.encode("utf-8"))
        folder = posixpath.dirname(path) or None

        def listed() -> int | None:
            return next(
                (f.file_size for f in list_run_files(self.dst, run_id, folder) if f.path == path),
                None,
            )

        write_once(
            self.dst,
            None,
            path,
            size,
            lambda: (
                call(self.dst, "log_text", lambda: self.dst.client.log_text(run_id, text, path))
                or size
            ),
            listed,
        )

    def copy_files(self, src: Endpoint, run_id: str, kind: str, source_id: str, uri: str) -> int:
        """Copy an object's files from `uri` on the source next to its JSON (files already there
        kept)."""
        root = call(self.dst, "get_run", lambda: self.dst.client.get_run(run_id)).info.artifact_uri
        dst_repo = self.dst.artifact_repo(f"{root.rstrip('/')}/{files_path(kind, source_id)}")
        existing = art.listing(self.dst, dst_repo) if self.dst.caps.artifact_sizes else {}
        return art.copy_tree(src, src.artifact_repo(uri), self.dst, dst_repo, existing).files


def _export(
    src: Endpoint, writer: ArchiveWriter, archiver: Archiver, run_id: str, source_id: str
) -> bool:
    """Export one object (its files first: the JSON, written last, marks it complete); True when
    written."""
    document = call(src, f"export {archiver.kind}", lambda: archiver.export(src, source_id))
    uri = archiver.files(document) if archiver.files is not None else None
    if uri:
        writer.copy_files(src, run_id, archiver.kind, source_id, uri)
    return writer.write(run_id, archiver.kind, source_id, document)


def dest_experiment(dst: Endpoint, name: str | None, cache: dict[str, str | None]) -> str | None:
    """The id of the destination experiment named `name`, created if missing (None for None),
    cached."""
    if name is None:
        return None
    if name not in cache:
        exp = call(dst, "get_experiment_by_name", lambda: dst.client.get_experiment_by_name(name))
        cache[name] = (
            exp.experiment_id
            if exp is not None
            else call(dst, "create_experiment", lambda: dst.client.create_experiment(name))
        )
    return cache[name]


def archive_experiment(
    src: Endpoint,
    writer: ArchiveWriter,
    kind: str,
    experiment_id: str | None,
    experiment_name: str | None = None,
    only: set[str] | None = None,
) -> tuple[int, int]:
    """Archive every object of `kind` in one source experiment (those in `only`, when given):
    (written, already archived)."""
    archiver = ARCHIVERS[kind]
    run_id = writer.holder(experiment_id, experiment_name)
    if archiver.archive_all is not None:
        return archiver.archive_all(src, writer, run_id, experiment_id, only)
    written = kept = 0
    for source_id in call(src, f"list {kind}", lambda: list(archiver.list_ids(src, experiment_id))):
        if only is not None and source_id not in only:
            continue
        if file_path(kind, source_id) in writer.present(run_id, kind):
            kept += 1
            continue
        written += _export(src, writer, archiver, run_id, source_id)
    return written, kept
