"""The permission step: both ends' grants on the pass's experiments and models
(syncer.kinds.permissions.scan), planned through the principal map (syncer.kinds.permissions.plan).
Runs only with `permissions.enabled`."""

from __future__ import annotations

from syncer.backends.classify import describe
from syncer.backends.endpoint import Endpoint
from syncer.config import Settings, dest_name
from syncer.core import config_text
from syncer.core.errors import FatalError
from syncer.kinds.base import Emitter, Job, Known, Planned, reading
from syncer.kinds.permissions.capabilities import scheme
from syncer.kinds.permissions.grants import (
    PermSnap,
    PrincipalMap,
    read_csv_map,
    unknown_principals,
    yaml_map_duplicates,
)
from syncer.kinds.permissions.plan import KIND, PermOptions, plan_permissions
from syncer.kinds.permissions.scan import scan_permissions
from syncer.state.store import DONE


def _read_map(settings: Settings) -> tuple[PrincipalMap, list[str]]:
    p = settings.principals
    from_file, problems = read_csv_map(p.file) if p.file else ({}, [])
    return PrincipalMap(
        mapping={**p.map, **from_file}, unmapped=p.unmapped, default=p.default
    ), problems


def principal_map(settings: Settings) -> PrincipalMap:
    """The principal map of the settings: `principals.map`, then the CSV `principals.file` over
    it."""
    pmap, problems = _read_map(settings)
    if problems:
        raise FatalError("; ".join(problems))
    return pmap


def _resources(
    job: Job, known: Known
) -> tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, str]]:
    """(source experiment id -> planned name, source model -> planned name, and the same for the
    destination's ids): resources are planned on under their destination names."""
    src_exps = {
        eid: known.dest_names[eid]
        for eid, e in known.src_snap.experiments.items()
        if not e.deleted and eid in known.dest_names
    }
    src_models = {
        name: dest_name(name, job.settings.model_names) for name in known.src_snap.part("model")
    }
    dst_exps = {eid: e.name for eid, e in known.dst_snap.experiments.items() if not e.deleted}
    dst_models = {name: name for name in known.dst_snap.part("model")}
    return src_exps, src_models, dst_exps, dst_models


def scan_permission_step(job: Job, known: Known) -> Known:
    """Read both ends' grants into the snapshots' permission parts, each (PermSnap, role grants)
    (only when permissions are copied)."""
    if not job.settings.permissions.enabled:
        return known
    src_exps, src_models, dst_exps, dst_models = _resources(job, known)
    known.src_snap.parts[KIND] = reading(
        job.src, "source permissions", lambda: scan_permissions(job.src, src_exps, src_models)
    )
    known.dst_snap.parts[KIND] = reading(
        job.dst,
        "destination permissions",
        lambda: scan_permissions(job.dst, dst_exps, dst_models),
    )
    return known


def _made(job: Job) -> dict[str, tuple[str, str]]:
    if job.state is None:
        return {}
    return {
        r.source_id: (r.dest_id, r.fingerprint)
        for r in job.state.all_records(KIND)
        if r.status == DONE and r.dest_id and r.fingerprint
    }


def plan_permission_step(job: Job, known: Known, out: Emitter) -> Planned:
    """The permission actions (none unless permissions are copied)."""
    if KIND not in known.src_snap.parts:
        return Planned([], known)
    (src, roles), (dst, _) = known.src_snap.parts[KIND], known.dst_snap.parts[KIND]
    opts = PermOptions(
        pmap=principal_map(job.settings),
        dest_kind=scheme(job.dst.caps),
        replace=job.settings.permissions.replace,
        made=_made(job),
        role_grants=roles,
    )
    return Planned(
        plan_permissions(src, dst if isinstance(dst, PermSnap) else PermSnap(), opts), known
    )


def principal_problems(
    settings: Settings, config_path: str | None, dst: Endpoint | None
) -> list[str]:
    """What is wrong with the principal map: source principals mapped twice (in the file's
    `principals.map` or its CSV file), and (given the destination, where it lists its users)
    destination principals it does not have."""
    pmap, problems = _read_map(settings)
    for path in config_path.split(":") if config_path else []:  # several files: a.yaml:b.yaml
        problems = yaml_map_duplicates(config_text.read_text(path)) + problems
    if dst is None or not settings.permissions.enabled:
        return problems
    try:
        users = scan_permissions(dst, {}, {})[0].users
    except Exception as exc:
        return [
            *problems,
            f"cannot list the users of the destination ({dst.identity}): {describe(exc)}",
        ]
    unknown = unknown_principals(pmap, users)
    return problems + (
        [
            f"principal map: no user {', '.join(map(repr, unknown))} on the destination "
            f"({dst.identity})"
        ]
        if unknown
        else []
    )
