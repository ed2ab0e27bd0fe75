"""Grants of MLflow's authentication app, through the principal map.

This module is the kind's `Kind` record and its step functions; syncer.kinds.registry lists it.
"""

from __future__ import annotations

from collections.abc import Mapping

from syncer.config import Settings
from syncer.core.kinds import KindInfo
from syncer.kinds.base import Kind
from syncer.kinds.permissions.apply import apply_permissions
from syncer.kinds.permissions.id_rows import permission_rows
from syncer.kinds.permissions.step import (
    plan_permission_step,
    principal_map,
    principal_problems,
    scan_permission_step,
)


def _principals(settings: Settings) -> Mapping[str, str]:
    """The principal map's explicit entries, only when permissions are copied."""
    return principal_map(settings).mapping if settings.permissions.enabled else {}


PERMISSIONS = Kind(
    "permission",
    (KindInfo("permission", "permissions"),),
    scan_permission_step,
    plan_permission_step,
    apply_permissions,
    after=("experiment", "model"),
    principals=_principals,
    checks=principal_problems,
    id_rows=permission_rows,
)
