"""Apply the model actions of a plan: per model, its versions in source order, then its own fields.

Order of writes for a version: files (see modelfiles) -> `create_model_version` carrying the
provenance tags, the user tags and the description -> wait until READY -> stage -> fingerprint tag
(last). The model's description, tags and aliases are written after its versions, since aliases
point at them.
"""

from __future__ import annotations

import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from itertools import groupby

from mlflow.exceptions import MlflowException

from syncer.apply.context import Context
from syncer.apply.runs import RunStats
from syncer.apply.units import Outcome, Units, versions_then_parent
from syncer.backends.calls import call
from syncer.core.actions import Action, Op
from syncer.core.errors import SyncError
from syncer.core.fitting import expected_version
from syncer.core.model_snapshot import (
    NO_STAGE,
    TAG_SOURCE_MODEL,
    ModelOptions,
    ModelSnap,
    VersionSnap,
    model_of,
    version_key,
)
from syncer.core.snapshot import TAG_FINGERPRINT, TAG_SOURCE, user_tags
from syncer.kinds.models.files import provenance, registration
from syncer.state.store import DONE, IN_PROGRESS

READY_TIMEOUT = 600.0


def _dest_model(ctx: Context, action: Action) -> str:
    return action.label.rsplit("/v", 1)[0] if action.kind == "model_version" else action.label


def ensure_model(ctx: Context, model: ModelSnap, dest_name: str) -> None:
    """Create the destination model (with description and tags) unless it exists."""
    if ctx.dest_id("model", model.name):
        return
    ctx.guard()
    tags = {**user_tags(model.tags), TAG_SOURCE_MODEL: model.name, TAG_SOURCE: ctx.src.identity}
    try:
        call(
            ctx.dst,
            "create_registered_model",
            lambda: ctx.dst.client.create_registered_model(
                dest_name, tags=tags, description=model.description or None
            ),
        )
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    ctx.map_id("model", model.name, dest_name)


def wait_ready(ctx: Context, name: str, version: str) -> None:
    """Poll a destination version until its registration finished; fail clearly if it failed."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        mv = call(
            ctx.dst, "get_model_version", lambda: ctx.dst.client.get_model_version(name, version)
        )
        if mv.status == "READY":
            return
        if mv.status == "FAILED_REGISTRATION":
            raise SyncError(
                f"destination version {name}/{version} failed to register: {mv.status_message}"
            )
        if time.monotonic() > deadline:
            raise SyncError(
                f"destination version {name}/{version} not READY after {READY_TIMEOUT:.0f} s"
            )
        time.sleep(0.5)


def _create_version(
    ctx: Context, model: ModelSnap, v: VersionSnap, dest_name: str, action: Action, stats: RunStats
) -> str:
    reg = registration(ctx, model, v, action.details.get("files", "holder"))
    stats.artifact_files += reg.files
    stats.artifact_bytes += reg.bytes
    tags = {**user_tags(v.tags), **provenance(ctx, model, v)}
    ctx.guard()
    mv = call(
        ctx.dst,
        "create_model_version",
        lambda: ctx.dst.client.create_model_version(
            dest_name,
            reg.source,
            run_id=reg.run_id,
            tags=tags,
            description=v.description or None,
            await_creation_for=0,
            model_id=reg.model_id,
        ),
    )
    ctx.state.record(
        "model_version",
        action.source_id,
        f"{dest_name}/{mv.version}",
        IN_PROGRESS,
        name=action.label,
    )
    return str(mv.version)


def _complete_version(
    ctx: Context, v: VersionSnap, dest_name: str, number: str, action: Action, options: ModelOptions
) -> None:
    client = ctx.dst.client
    have = ctx.dst_snap.part("model").get(dest_name)
    have_v = have.versions.get(number) if have and action.op is not Op.CREATE else None
    want = expected_version(v, ctx.dst.caps, options)
    wait_ready(ctx, dest_name, number)
    ctx.guard()
    if have_v is not None and have_v.description != want["description"]:
        call(
            ctx.dst,
            "update_model_version",
            lambda: client.update_model_version(dest_name, number, description=want["description"]),
        )
    have_tags = have_v.tags if have_v else user_tags(v.tags)
    for key, value in want["tags"].items():
        if have_tags.get(key) != value:
            call(
                ctx.dst,
                "set_model_version_tag",
                lambda k=key, val=value: client.set_model_version_tag(dest_name, number, k, val),
            )
    for key in action.details.get("tags_removed", []):
        call(
            ctx.dst,
            "delete_model_version_tag",
            lambda k=key: client.delete_model_version_tag(dest_name, number, k),
        )
    if want["stage"] != (have_v.stage if have_v else NO_STAGE):
        with (
            warnings.catch_warnings()
        ):  # stages are deprecated in MLflow 3 but still served and used
            warnings.simplefilter("ignore", FutureWarning)
            call(
                ctx.dst,
                "transition_model_version_stage",
                lambda: client.transition_model_version_stage(
                    dest_name, number, want["stage"], archive_existing_versions=False
                ),
            )
    call(
        ctx.dst,
        "set_model_version_tag",
        lambda: client.set_model_version_tag(
            dest_name, number, TAG_FINGERPRINT, action.fingerprint or ""
        ),
    )


def copy_version(ctx: Context, action: Action) -> tuple[str, RunStats]:
    """Create or complete the destination copy of one source version. Returns 'name/number'."""
    model_name, version = action.source_id.rsplit("/", 1)
    model = ctx.src_snap.part("model")[model_name]
    v = model.versions[version]
    dest_name = _dest_model(ctx, action)
    stats = RunStats()
    if action.op is Op.CREATE:
        ensure_model(ctx, model, dest_name)
        number = _create_version(ctx, model, v, dest_name, action, stats)
    else:
        number = action.dest_id or ""
    ctx.map_id("model_version", action.source_id, number)
    _complete_version(ctx, v, dest_name, number, action, ctx.model_options)
    return f"{dest_name}/{number}", stats


def update_model(ctx: Context, action: Action) -> tuple[str, RunStats]:
    """Bring a destination model's description, tags and aliases in line with the source."""
    model = ctx.src_snap.part("model")[action.source_id]
    dest_name = action.label
    client = ctx.dst.client
    if action.op is Op.CREATE:
        ensure_model(ctx, model, dest_name)
    have = ctx.dst_snap.part("model").get(dest_name)
    ctx.guard()
    if have is not None and have.description != model.description:
        call(
            ctx.dst,
            "update_registered_model",
            lambda: client.update_registered_model(dest_name, description=model.description),
        )
    for key in action.details.get("tags", []):
        call(
            ctx.dst,
            "set_registered_model_tag",
            lambda k=key: client.set_registered_model_tag(dest_name, k, model.tags[k]),
        )
    for alias, source_version in sorted(model.aliases.items()):
        number = ctx.dest_id("model_version", version_key(model.name, source_version))
        if number is None:
            raise SyncError(f"alias {alias}: version {source_version} was not copied")
        if have is None or have.aliases.get(alias) != number:
            call(
                ctx.dst,
                "set_registered_model_alias",
                lambda a=alias, n=number: client.set_registered_model_alias(dest_name, a, n),
            )
    for alias in action.details.get("aliases_removed", []):
        call(
            ctx.dst,
            "delete_registered_model_alias",
            lambda a=alias: client.delete_registered_model_alias(dest_name, a),
        )
    return dest_name, RunStats()


def _apply_model(ctx: Context, group: list[Action], units: Units) -> list[Outcome]:
    """One model: its versions in source order, then its own fields. Returns the units' outcomes."""
    return versions_then_parent(
        units, group, "model", lambda a: copy_version(ctx, a), lambda a: update_model(ctx, a)
    )


def apply_models(ctx: Context, actions: list[Action], units: Units) -> None:
    """Apply the model and model-version actions: models in parallel, each model's versions one
    after another."""
    for a in actions:
        if a.dest_id and a.source_id and a.op is not Op.EXTRA:
            ctx.map_id(a.kind, a.source_id, a.dest_id)
    every = [list(g) for _m, g in groupby(actions, key=model_of)]
    groups = [g for g in every if any(a.mutates for a in g)]
    failed = set()
    with ThreadPoolExecutor(max_workers=max(1, units.workers), thread_name_prefix="models") as pool:
        for fut in as_completed([pool.submit(_apply_model, ctx, g, units) for g in groups]):
            for outcome in fut.result():
                units.record(outcome)
                if not outcome.ok:
                    failed.add(model_of(outcome.action))
    for group in every:
        _remember_in_sync(ctx, group, failed)


def _remember_in_sync(ctx: Context, group: list[Action], failed: set[str]) -> None:
    """Record the source model's digest once it and its versions are in line: change-only mirror
    cycles read it again only when its digest or timestamps move (syncer.kinds.models.kind)."""
    model = next((a for a in group if a.kind == "model"), None)
    if (
        model is None
        or model.source_id in failed
        or any(a.op in (Op.ERROR, Op.CONFLICT) for a in group)
    ):
        return
    snap = ctx.src_snap.part("model").get(model.source_id or "")
    if snap is None:
        return
    digest = snap.digest()
    record = ctx.state.get("model", snap.name)
    if record is None or record.fingerprint != digest:
        ctx.state.record(
            "model", snap.name, model.dest_id or model.label, DONE, digest, model.label
        )
