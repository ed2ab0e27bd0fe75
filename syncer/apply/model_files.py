"""Put a model version's files in the destination and say where to register it from.

Never returns a location on the source: a version inside a copied run registers from the copied run;
any other version first has its files copied (into a destination logged model, or into a holder run of
the model-files experiment) and registers from that copy. Each copy is found again by a provenance tag,
so an interrupted copy is completed on the next pass instead of being made twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from uuid import uuid4

from mlflow.entities import LoggedModelStatus, RunStatus

from syncer.apply.context import Context
from syncer.backends import artifacts as art
from syncer.backends import unity_catalog_files as ucfiles
from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint
from syncer.core.errors import SyncError
from syncer.core.model_snapshot import (
    SERVER_LOGGED_MODEL_TAGS,
    TAG_SOURCE_MODEL,
    TAG_SOURCE_VERSION,
    LoggedModelSnap,
    ModelSnap,
    VersionSnap,
    run_relative_path,
    version_key,
)
from syncer.core.snapshot import TAG_SOURCE, TAG_SOURCE_RUN_ID

TAG_SOURCE_MODEL_ID = "mlflow_syncer.source_model_id"
TAG_HOLDS_VERSION = "mlflow_syncer.holds_model_version"
HOLDER_PATH = "model"
# Models are copied in parallel: finding-or-creating a shared destination object happens one at a time.
_FIND_OR_CREATE = threading.Lock()


@dataclass
class Registration:
    """What `create_model_version` is given: the destination source, run and logged model."""

    source: str
    run_id: str | None = None
    model_id: str | None = None
    files: int = 0
    bytes: int = 0


def _dest_run(ctx: Context, source_run_id: str | None) -> str | None:
    return ctx.dest_id("run", source_run_id)


def _from_run(ctx: Context, v: VersionSnap) -> Registration:
    dest_run = _dest_run(ctx, v.run_id)
    rel = run_relative_path(v, ctx.src_snap)
    if dest_run is None or rel is None:
        raise SyncError(f"run {v.run_id} of the version was not copied")
    if v.source.startswith("runs:/"):
        return Registration(source=f"runs:/{dest_run}/{rel}", run_id=dest_run)
    root = ctx.dest_id("run_artifact_uri", dest_run)
    if root is None:
        root = call(ctx.dst, "get_run", lambda: ctx.dst.client.get_run(dest_run)).info.artifact_uri.rstrip("/")
        ctx.map_id("run_artifact_uri", dest_run, root)
    return Registration(source=f"{root}/{rel}", run_id=dest_run)


def _copy_files(ctx: Context, src_repo, dest_uri: str, dest_exists: bool) -> art.CopyStats:  # noqa: ANN001
    dst_repo = ctx.dst.artifact_repo(dest_uri)
    existing = art.listing(ctx.dst, dst_repo) if dest_exists else {}
    if not ctx.dst.caps.artifact_sizes:
        existing = {}
    ctx.guard()
    return art.copy_tree(ctx.src, src_repo, ctx.dst, dst_repo, existing)


def _experiment(ctx: Context, source_experiment_id: str | None) -> str:
    """The destination experiment of a copied source experiment, else the model-files experiment."""
    mapped = ctx.dest_id("experiment", source_experiment_id) or ctx.dest_id("files_experiment", "")
    if mapped:
        return mapped
    with _FIND_OR_CREATE:
        exp_id = ctx.dest_id("files_experiment", "") or _files_experiment(ctx)
        ctx.map_id("files_experiment", "", exp_id)
    return exp_id


def _files_experiment(ctx: Context) -> str:
    name = ctx.model_options.files_experiment
    client = ctx.dst.client
    exp = call(ctx.dst, "get_experiment_by_name", lambda: client.get_experiment_by_name(name))
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            call(ctx.dst, "restore_experiment", lambda: client.restore_experiment(exp.experiment_id))
        return exp.experiment_id
    ctx.guard()
    location = f"{ctx.dst.artifact_root.rstrip('/')}/{uuid4().hex}" if ctx.dst.artifact_root else None
    return call(ctx.dst, "create_experiment", lambda: client.create_experiment(
        name, artifact_location=location, tags={TAG_SOURCE: ctx.src.identity}))


def _to_logged_model(ctx: Context, lm: LoggedModelSnap) -> Registration:
    client = ctx.dst.client
    exp_id = _experiment(ctx, lm.experiment_id)
    dest_run = _dest_run(ctx, lm.source_run_id)
    with _FIND_OR_CREATE:
        found = call(ctx.dst, "search_logged_models", lambda: client.search_logged_models(
            [exp_id], filter_string=f"tags.`{TAG_SOURCE_MODEL_ID}` = '{lm.model_id}'", max_results=10))
        dest = found[0] if found else None
        if dest is None:
            ctx.guard()
            dest = call(ctx.dst, "create_logged_model", lambda: client.create_logged_model(
                exp_id, name=lm.name, source_run_id=dest_run, model_type=lm.model_type,
                tags={**lm.tags, TAG_SOURCE_MODEL_ID: lm.model_id, TAG_SOURCE: ctx.src.identity},
                params=lm.params or None))
    # The logged model's own location, not models:/<id>: a registry on a direct store would resolve that
    # id through MLflow's process-wide default tracking URI instead of this destination.
    reg = Registration(source=dest.artifact_location, run_id=dest_run, model_id=dest.model_id)
    if dest.status != LoggedModelStatus.READY:
        stats = _copy_files(ctx, ctx.src.artifact_repo(lm.artifact_location), dest.artifact_location,
                            dest_exists=bool(found))
        reg.files, reg.bytes = stats.files, stats.bytes
        ctx.guard()
        call(ctx.dst, "finalize_logged_model", lambda: client.finalize_logged_model(dest.model_id, "READY"))
    return reg


def _download_uri_files(src: Endpoint, model: ModelSnap, v: VersionSnap):  # noqa: ANN201
    """The version's files where the registry's download URI (or its logged model) says they are."""
    where = logged_model(src, v.logged_model_id).artifact_location if v.logged_model_id else call(
        src, "get_model_version_download_uri",
        lambda: src.client.get_model_version_download_uri(model.name, v.version))
    if where.startswith("models:/"):  # MLflow would resolve it through the process-wide registry
        raise SyncError(f"version source {where} points at another registered model: not supported")
    return src.artifact_repo(where)


# How a version's files are read, by `RegistryCaps.files` of the registry holding it.
FILE_READERS = {"download_uri": _download_uri_files, "temporary_credentials": ucfiles.version_files}


def _to_holder_run(ctx: Context, model: ModelSnap, v: VersionSnap) -> Registration:
    client = ctx.dst.client
    exp_id = _experiment(ctx, None)
    key = version_key(model.name, v.version)
    found = call(ctx.dst, "search_runs", lambda: client.search_runs(
        [exp_id], filter_string=f"tags.`{TAG_HOLDS_VERSION}` = '{key}'", max_results=10))
    run = found[0] if found else None
    if run is None:
        ctx.guard()
        run = call(ctx.dst, "create_run", lambda: client.create_run(exp_id, run_name=f"{model.name} v{v.version}",
                                                                    tags={TAG_HOLDS_VERSION: key,
                                                                          TAG_SOURCE: ctx.src.identity}))
    dest_uri = f"{run.info.artifact_uri.rstrip('/')}/{HOLDER_PATH}"
    reg = Registration(source=dest_uri, run_id=_dest_run(ctx, v.run_id))
    if run.info.status != RunStatus.to_string(RunStatus.FINISHED):
        src = ctx.src.for_registry(model.registry)
        src_repo = FILE_READERS[src.registry.files](src, model, v)
        stats = _copy_files(ctx, src_repo, dest_uri, dest_exists=bool(found))
        reg.files, reg.bytes = stats.files, stats.bytes
        ctx.guard()
        call(ctx.dst, "set_terminated", lambda: client.set_terminated(run.info.run_id, "FINISHED"))
    return reg


def registration(ctx: Context, model: ModelSnap, v: VersionSnap, mode: str) -> Registration:
    """Make sure the version's files are in the destination; return what to register it from."""
    if mode == "run":
        return _from_run(ctx, v)
    if mode == "logged_model" and v.logged_model_id:
        return _to_logged_model(ctx, logged_model(ctx.src, v.logged_model_id))
    return _to_holder_run(ctx, model, v)


def provenance(ctx: Context, model: ModelSnap, v: VersionSnap) -> dict[str, str]:
    """The tags that identify a destination version as the copy of one source version."""
    tags = {TAG_SOURCE_MODEL: model.name, TAG_SOURCE_VERSION: v.version, TAG_SOURCE: ctx.src.identity}
    if v.run_id and ctx.dest_id("run", v.run_id) is None:
        tags[TAG_SOURCE_RUN_ID] = v.run_id
    return tags


def logged_model(endpoint: Endpoint, model_id: str) -> LoggedModelSnap:
    """Read one logged model (only when a version made from it is copied: never while planning)."""
    lm = call(endpoint, "get_logged_model", lambda: endpoint.client.get_logged_model(model_id))
    return LoggedModelSnap(
        model_id=lm.model_id, experiment_id=str(lm.experiment_id), name=lm.name,
        artifact_location=lm.artifact_location, source_run_id=lm.source_run_id or None,
        model_type=lm.model_type or None,
        tags={k: v for k, v in (lm.tags or {}).items() if k not in SERVER_LOGGED_MODEL_TAGS},
        params=dict(lm.params or {}))
