"""Put a model version's files in the destination and say where to register it from.

Never returns a location on the source: a version inside a copied run registers from the copied run;
any other version first has its files copied (into a destination logged model, or into a holder run
of the model-files experiment) and registers from that copy. Each copy is found again by a
provenance tag, so an interrupted copy is completed on the next pass instead of being made twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow.entities import RunStatus

from syncer.apply.context import Context
from syncer.backends import unity_catalog_files as ucfiles
from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint
from syncer.backends.registry_files import is_registry_files, registry_files
from syncer.core.errors import SyncError
from syncer.core.model_snapshot import (
    TAG_SOURCE_MODEL,
    TAG_SOURCE_VERSION,
    ModelSnap,
    VersionSnap,
    run_relative_path,
    version_key,
)
from syncer.core.snapshot import TAG_SOURCE, TAG_SOURCE_RUN_ID
from syncer.kinds.logged_models.api import read_logged_model
from syncer.kinds.logged_models.apply import (
    copy_files,
    dest_experiment,
    dest_run,
    ensure_logged_model,
)
from syncer.kinds.logged_models.snapshot import source_model_id

TAG_HOLDS_VERSION = "mlflow_syncer.holds_model_version"
HOLDER_PATH = "model"


@dataclass
class Registration:
    """What `create_model_version` is given: the destination source, run and logged model."""

    source: str
    run_id: str | None = None
    model_id: str | None = None
    files: int = 0
    bytes: int = 0


def _from_run(ctx: Context, v: VersionSnap) -> Registration:
    run_id = dest_run(ctx, v.run_id)
    rel = run_relative_path(v, ctx.src_snap)
    if run_id is None or rel is None:
        raise SyncError(f"run {v.run_id} of the version was not copied")
    if v.source.startswith("runs:/"):
        return Registration(source=f"runs:/{run_id}/{rel}", run_id=run_id)
    root = ctx.dest_id("run_artifact_uri", run_id)
    if root is None:
        root = call(
            ctx.dst, "get_run", lambda: ctx.dst.client.get_run(run_id)
        ).info.artifact_uri.rstrip("/")
        ctx.map_id("run_artifact_uri", run_id, root)
    return Registration(source=f"{root}/{rel}", run_id=run_id)


def _to_logged_model(ctx: Context, model_id: str) -> Registration:
    """Register from the destination copy of the version's logged model (made by
    `ensure_logged_model`)."""
    lm = ctx.src_snap.part("logged_model").get(model_id) or read_logged_model(ctx.src, model_id)
    dest, stats = ensure_logged_model(ctx, lm)
    # The logged model's own location, not models:/<id>: a registry on a direct store would resolve
    # that id through MLflow's process-wide default tracking URI instead of this destination.
    return Registration(
        source=dest.artifact_location,
        run_id=dest_run(ctx, lm.source_run_id),
        model_id=dest.model_id,
        files=stats.artifact_files,
        bytes=stats.artifact_bytes,
    )


def _download_uri_files(src: Endpoint, model: ModelSnap, v: VersionSnap):
    """The version's files where the registry's download URI (or its logged model) says they are."""
    where = (
        read_logged_model(src, source_model_id(v.source)).artifact_location
        if source_model_id(v.source)
        else call(
            src,
            "get_model_version_download_uri",
            lambda: src.client.get_model_version_download_uri(model.name, v.version),
        )
    )
    if where.startswith("models:/"):  # MLflow would resolve it through the process-wide registry
        raise SyncError(f"version source {where} points at another registered model: not supported")
    if is_registry_files(where):  # Databricks: readable only through the model-versions API
        return registry_files(src, model.name, v.version)
    return src.artifact_repo(where)


# How a version's files are read, by `RegistryCaps.files` of the registry holding it.
FILE_READERS = {"download_uri": _download_uri_files, "temporary_credentials": ucfiles.version_files}


def _to_holder_run(ctx: Context, model: ModelSnap, v: VersionSnap) -> Registration:
    client = ctx.dst.client
    exp_id = dest_experiment(ctx, None)
    key = version_key(model.name, v.version)
    found = call(
        ctx.dst,
        "search_runs",
        lambda: client.search_runs(
            [exp_id], filter_string=f"tags.{TAG_HOLDS_VERSION} = '{key}'", max_results=10
        ),
    )
    run = found[0] if found else None
    if run is None:
        ctx.guard()
        run = call(
            ctx.dst,
            "create_run",
            lambda: client.create_run(
                exp_id,
                run_name=f"{model.name} v{v.version}",
                tags={TAG_HOLDS_VERSION: key, TAG_SOURCE: ctx.src.identity},
            ),
        )
    dest_uri = f"{run.info.artifact_uri.rstrip('/')}/{HOLDER_PATH}"
    reg = Registration(source=dest_uri, run_id=dest_run(ctx, v.run_id))
    if run.info.status != RunStatus.to_string(RunStatus.FINISHED):
        src = ctx.src.for_registry(model.registry)
        src_repo = FILE_READERS[src.registry.files](src, model, v)
        stats = copy_files(ctx, src_repo, dest_uri, dest_exists=bool(found))
        reg.files, reg.bytes = stats.files, stats.bytes
        ctx.guard()
        call(ctx.dst, "set_terminated", lambda: client.set_terminated(run.info.run_id, "FINISHED"))
    return reg


def registration(ctx: Context, model: ModelSnap, v: VersionSnap, mode: str) -> Registration:
    """Make sure the version's files are in the destination; return what to register it from."""
    if mode == "run":
        return _from_run(ctx, v)
    if mode == "logged_model" and source_model_id(v.source):
        return _to_logged_model(ctx, source_model_id(v.source))
    return _to_holder_run(ctx, model, v)


def provenance(ctx: Context, model: ModelSnap, v: VersionSnap) -> dict[str, str]:
    """The tags that identify a destination version as the copy of one source version."""
    tags = {
        TAG_SOURCE_MODEL: model.name,
        TAG_SOURCE_VERSION: v.version,
        TAG_SOURCE: ctx.src.identity,
    }
    if v.run_id and ctx.dest_id("run", v.run_id) is None:
        tags[TAG_SOURCE_RUN_ID] = v.run_id
    return tags
