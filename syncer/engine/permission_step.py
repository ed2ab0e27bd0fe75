"""The permission step: both ends' grants on the pass's experiments and models (syncer.scan.permissions),
planned through the principal map (syncer.plan.permissions). Runs only with `permissions.enabled`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from syncer.config import Settings, dest_name
from syncer.core.actions import Action
from syncer.core.errors import FatalError
from syncer.core.permissions import PermSnap, PrincipalMap, read_csv_map
from syncer.plan.permissions import KIND, PermOptions, plan_permissions
from syncer.scan.permissions import scan_permissions
from syncer.state.store import DONE

# syncer.engine.kinds.Job, which is not imported here: engine.kinds imports this module.
Job = Any
Reading = Callable[..., object]


def principal_map(settings: Settings) -> PrincipalMap:
    """The principal map of the settings: `principals.map`, then the CSV `principals.file` over it."""
    p = settings.principals
    mapping = dict(p.map)
    if p.file:
        from_file, problems = read_csv_map(p.file)
        if problems:
            raise FatalError("; ".join(problems))
        mapping.update(from_file)
    return PrincipalMap(mapping=mapping, unmapped=p.unmapped, default=p.default)


def _resources(job: Job) -> tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, str]]:
    """(source experiment id -> planned name, source model -> planned name, and the same for the
    destination's ids): resources are planned on under their destination names."""
    src_exps = {eid: job.dest_names[eid] for eid, e in job.src_snap.experiments.items()
                if not e.deleted and eid in job.dest_names}
    src_models = {name: dest_name(name, job.settings.model_names) for name in job.src_snap.models}
    dst_exps = {eid: e.name for eid, e in job.dst_snap.experiments.items() if not e.deleted}
    dst_models = {name: name for name in job.dst_snap.models}
    return src_exps, src_models, dst_exps, dst_models


def scan_permission_step(job: Job, reading: Reading) -> None:
    """Read both ends' grants (only when permissions are copied)."""
    if not job.settings.permissions.enabled:
        return
    src_exps, src_models, dst_exps, dst_models = _resources(job)
    job.perms = (reading(job.src, "source permissions",
                         lambda: scan_permissions(job.src, src_exps, src_models)),
                 reading(job.dst, "destination permissions",
                         lambda: scan_permissions(job.dst, dst_exps, dst_models)))


def _made(job: Job) -> dict[str, tuple[str, str]]:
    if job.state is None:
        return {}
    return {r.source_id: (r.dest_id, r.fingerprint) for r in job.state.all_records(KIND)
            if r.status == DONE and r.dest_id and r.fingerprint}


def plan_permission_step(job: Job) -> list[Action]:
    """The permission actions (none unless permissions are copied)."""
    if job.perms is None:
        return []
    (src, roles), (dst, _) = job.perms
    opts = PermOptions(pmap=principal_map(job.settings), dest_kind=job.dst.caps.permissions,
                       replace=job.settings.permissions.replace, made=_made(job), role_grants=roles)
    return plan_permissions(src, dst if isinstance(dst, PermSnap) else PermSnap(), opts)
