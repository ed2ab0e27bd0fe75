"""The logged-model archiver: one MLflow 3 logged model, for `unsupported: archive` and `restore`.

Document: name, model type, status, params, user tags, metric points and the source run (run ids as
source ids), and the source artifact location. Files are copied, not referenced: the writer copies
them into the holder run, `<kind>/<model id>.files/`, next to the JSON (a restore must not depend on
the source being reachable). Restore finds the copy by `mlflow_syncer.source_model_id` (the tag a
migration sets too) in the destination experiment, or creates it (PENDING) -> files -> params, tags,
metric points (through the destination copy of the run that logged each; points of runs not copied
there are left out, as a migration does) -> finalized with the source's status, last: a second
restore creates nothing.
"""

from __future__ import annotations

from dataclasses import asdict

from syncer.backends import artifacts as art
from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint
from syncer.core.archive import FILES_KEY, ArchivedFiles, Archiver, register
from syncer.core.snapshot import TAG_SOURCE, TAG_SOURCE_RUN_ID, user_tags
from syncer.kinds.logged_models.api import (
    log_model_metrics,
    read_logged_model,
    search_logged_models,
)
from syncer.kinds.logged_models.snapshot import TAG_SOURCE_MODEL_ID, LoggedMetric, LoggedModelSnap

KIND = "logged_model"
PENDING = "PENDING"


def logged_model_ids(src: Endpoint, experiment_id: str | None) -> list[str]:
    """The logged models of one source experiment (logged models always belong to one)."""
    return (
        [lm.model_id for lm in search_logged_models(src, [experiment_id])] if experiment_id else []
    )


def export_logged_model(src: Endpoint, model_id: str) -> dict:
    """One logged model as plain data (see the module docstring)."""
    lm = read_logged_model(src, model_id)
    return {**asdict(lm), "tags": user_tags(lm.tags), "source": src.identity}


def files_of(doc: dict) -> str | None:
    """The source artifact location of an exported logged model (its files)."""
    return doc.get("artifact_location") or None


def _dest_run(
    dst: Endpoint, experiment_id: str, source_run: str | None, cache: dict[str, str | None]
) -> str | None:
    if source_run is None:
        return None
    if source_run not in cache:
        found = call(
            dst,
            "search_runs",
            lambda: dst.client.search_runs(
                [experiment_id], f"tags.{TAG_SOURCE_RUN_ID} = '{source_run}'", max_results=1
            ),
        )
        cache[source_run] = found[0].info.run_id if found else None
    return cache[source_run]


def _find_or_create(
    dst: Endpoint, lm: LoggedModelSnap, source: str, experiment_id: str, run: str | None
) -> LoggedModelSnap:
    found = list(
        search_logged_models(dst, [experiment_id], f"tags.{TAG_SOURCE_MODEL_ID} = '{lm.model_id}'")
    )
    if found:
        return found[0]
    created = call(
        dst,
        "create_logged_model",
        lambda: dst.client.create_logged_model(
            experiment_id,
            name=lm.name,
            source_run_id=run,
            model_type=lm.model_type,
            tags={**lm.tags, TAG_SOURCE_MODEL_ID: lm.model_id, TAG_SOURCE: source},
            params=lm.params or None,
        ),
    )
    return read_logged_model(dst, created.model_id)


def _complete(
    dst: Endpoint, lm: LoggedModelSnap, copy: LoggedModelSnap, runs: dict[str, str | None]
) -> None:
    """Params, tags and the metric points the copy lacks (a point's run mapped to its destination
    copy)."""
    client = dst.client
    params = {k: v for k, v in lm.params.items() if copy.params.get(k) != v}
    if params:
        call(dst, "log_model_params", lambda: client.log_model_params(copy.model_id, params))
    tags = {k: v for k, v in lm.tags.items() if copy.tags.get(k) != v}
    if tags:
        call(
            dst, "set_logged_model_tags", lambda: client.set_logged_model_tags(copy.model_id, tags)
        )
    have = {m.point for m in copy.metrics}
    points = [
        (runs[m.run_id], m) for m in lm.metrics if m.point not in have and runs.get(m.run_id or "")
    ]
    log_model_metrics(dst, copy.model_id, points)


def restore_logged_model(dst: Endpoint, doc: dict, experiment_id: str | None) -> str:
    """Find or create the copy in `experiment_id`, complete it and finalize it (see the module
    docstring)."""
    if experiment_id is None:
        raise ValueError("a logged model is restored into an experiment")
    fields = {k: v for k, v in doc.items() if k in LoggedModelSnap.__dataclass_fields__}
    lm = LoggedModelSnap(**{**fields, "metrics": tuple(LoggedMetric(**m) for m in doc["metrics"])})
    runs: dict[str, str | None] = {}
    for source_run in {lm.source_run_id, *(m.run_id for m in lm.metrics)} - {None}:
        _dest_run(dst, experiment_id, source_run, runs)
    copy = _find_or_create(dst, lm, doc["source"], experiment_id, runs.get(lm.source_run_id or ""))
    files: ArchivedFiles | None = doc.get(FILES_KEY)
    if copy.status == PENDING and files is not None:
        dst_repo = dst.artifact_repo(copy.artifact_location)
        existing = art.listing(dst, dst_repo) if dst.caps.artifact_sizes else {}
        art.copy_tree(
            files.endpoint, files.endpoint.artifact_repo(files.uri), dst, dst_repo, existing
        )
    _complete(dst, lm, copy, runs)
    status = "FAILED" if lm.status == "FAILED" else "READY"
    if copy.status != status:
        call(
            dst,
            "finalize_logged_model",
            lambda: dst.client.finalize_logged_model(copy.model_id, status),
        )
    return copy.model_id


ARCHIVER = Archiver(
    KIND,
    list_ids=logged_model_ids,
    export=export_logged_model,
    restore=restore_logged_model,
    files=files_of,
)
register(ARCHIVER)
