"""Grants of MLflow's authentication app, through the principal map.

This module is the kind's `Kind` record and its step functions; syncer.kinds.registry lists it.
"""

from __future__ import annotations

from syncer.core.kinds import KindInfo
from syncer.kinds.base import Kind, reading
from syncer.kinds.permissions.apply import apply_permissions
from syncer.kinds.permissions.step import plan_permission_step, scan_permission_step

PERMISSIONS = Kind(
    "permission",
    (KindInfo("permission", "permissions"),),
    lambda job: scan_permission_step(job, reading),
    plan_permission_step,
    apply_permissions,
    after=("experiment", "model"),
)
