"""The models step of scan_and_plan: scan both registries for the selected models, then plan them (pure)."""

from __future__ import annotations

from syncer.backends.classify import describe
from syncer.backends.endpoint import Endpoint
from syncer.config import Settings, dest_name
from syncer.core.actions import Action, Op, Plan
from syncer.core.errors import FatalError
from syncer.core.model_snapshot import ModelOptions
from syncer.core.snapshot import Snapshot
from syncer.plan.models import plan_models
from syncer.scan.models import scan_dest_models, scan_source_models


def model_options(settings: Settings, quarantined: frozenset[tuple[str, str]] = frozenset()) -> ModelOptions:
    """The model-copying options of the settings."""
    return ModelOptions(stages=settings.model_stages, files_experiment=settings.model_files_experiment,
                        quarantined=quarantined)


def plan_models_step(settings: Settings, src: Endpoint, dst: Endpoint, src_snap: Snapshot, dst_snap: Snapshot,
                     plan: Plan, quarantined: frozenset[tuple[str, str]]) -> list[Action]:
    """Fill `models` of both snapshots and return the model actions to append to `plan`."""
    if not settings.copy_models:
        return []
    try:
        src_snap.models = scan_source_models(src, src_snap, settings.models)
    except FatalError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise FatalError(f"cannot read the source registry ({src.identity}): {describe(exc)}") from None
    names = {name: dest_name(name, settings.model_names) for name in src_snap.models}
    try:
        dst_snap.models = scan_dest_models(dst, names.values()) if names else {}
    except FatalError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise FatalError(f"cannot read the destination registry ({dst.identity}): {describe(exc)}") from None
    copied = {a.source_id for a in plan.actions if a.kind == "run" and a.source_id
              and a.op in (Op.CREATE, Op.UPDATE, Op.SAME)}
    return plan_models(src_snap, dst_snap.models, names, copied, dst.caps,
                       model_options(settings, quarantined))
