"""Write permission actions to a destination running MLflow's authentication app (grants for users
who exist there, never a user, never a password) or to a Databricks workspace (its Permissions API).
The app has no update of a user's own grant: a change is a revoke, then the new grant. Each grant
made is recorded in the state store with its level, so a later pass knows which grants are this
tool's (a change on the source follows them; a revocation revokes them).
"""

from __future__ import annotations

from mlflow.exceptions import MlflowException

from syncer.apply.context import Context
from syncer.apply.runs import RunStats
from syncer.apply.units import Units
from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint
from syncer.core.actions import Action, Op
from syncer.kinds.permissions import auth_app, auth_roles, dbx_permissions, uc_grants
from syncer.kinds.permissions.capabilities import scheme
from syncer.kinds.permissions.grants import PRIVILEGE_TYPES, ROLE


def _resource_id(ctx: Context, resource_type: str, resource: str) -> str:
    """The destination's id of a resource the plan names: an experiment's id by its name, a model's
    name."""
    if resource_type != "experiment":
        return resource
    found = call(
        ctx.dst, "get_experiment_by_name", lambda: ctx.dst.client.get_experiment_by_name(resource)
    )
    if found is None:
        raise LookupError(f"destination experiment {resource!r} does not exist")
    return found.experiment_id


def apply_databricks(dst: Endpoint, action: Action, resource_id: str) -> None:
    """One permission action on a Databricks destination (`resource_id`: the experiment's id, the
    model's name): a new grant merged in (PATCH), a change or revocation as the object's direct ACL
    set whole (PUT) with that one entry changed or left out; a Unity Catalog model's privileges
    changed by one PATCH."""
    rtype, who, level = (action.details[k] for k in ("resource_type", "dest_principal", "level"))
    if rtype in PRIVILEGE_TYPES:  # one privilege on a Unity Catalog schema or catalog
        uc_grants.change_privilege(dst, rtype, resource_id, who, level, add=action.op != Op.DELETE)
    elif rtype == "registered_model" and resource_id.count(".") >= 2:  # a Unity Catalog model
        uc_grants.change(dst, resource_id, who, None if action.op == Op.DELETE else level)
    elif action.op == Op.CREATE:
        dbx_permissions.grant(dst, rtype, resource_id, who, level)
    else:
        dbx_permissions.replace(
            dst, rtype, resource_id, who, None if action.op == Op.DELETE else level
        )


def _apply_one(ctx: Context, action: Action) -> tuple[str | None, RunStats]:
    d = action.details
    rtype, who = d["resource_type"], d["dest_principal"]
    rid = _resource_id(ctx, rtype, d["resource"])
    ctx.guard()
    if scheme(ctx.dst.caps) == "databricks":
        apply_databricks(ctx.dst, action, rid)
        return action.dest_id, RunStats()
    if rtype == "role" or who.startswith(ROLE):
        apply_role(ctx.dst, action, rid)
        return action.dest_id, RunStats()
    if action.op in (Op.UPDATE, Op.DELETE):
        auth_app.revoke(ctx.dst, who, rtype, rid)
    if action.op in (Op.CREATE, Op.UPDATE):
        try:
            auth_app.grant(ctx.dst, who, rtype, rid, d["level"])
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS" or not _holds(
                ctx, who, rtype, rid, d["level"]
            ):
                raise
    return action.dest_id, RunStats()


def apply_role(dst: Endpoint, action: Action, resource_id: str) -> None:
    """One role action on an authentication app with roles (`resource_id`: the experiment's id,
    the model's or the role's name): a membership assigned or unassigned, or the role's permission
    on one resource added, changed or removed; the role is created the first time it is needed."""
    d, keep = action.details, action.op != Op.DELETE
    if d["resource_type"] == "role":
        role = auth_roles.find_or_create(dst, resource_id)
        who = d["dest_principal"]
        auth_roles.set_member(dst, role, who, auth_app.list_users(dst)[who], keep)
        return
    role = auth_roles.find_or_create(dst, d["dest_principal"].removeprefix(ROLE))
    level = d["level"] if keep else None
    auth_roles.set_permission(dst, role, d["resource_type"], resource_id, level)


def _holds(ctx: Context, username: str, resource_type: str, resource_id: str, level: str) -> bool:
    """Whether the user already holds exactly `level` (a creator's own grant on what this pass
    created, or a grant whose answer was lost)."""
    users = auth_app.list_users(ctx.dst)
    return any(
        r.direct
        and r.resource_type == resource_type
        and r.resource_id == resource_id
        and r.permission == level
        for r in auth_app.user_rows(ctx.dst, username, users[username])
    )


def apply_permissions(ctx: Context, actions: list[Action], units: Units) -> None:
    """Apply the grants, changes and revocations of the plan, one unit each."""
    for a in actions:
        if a.mutates:
            units.run_and_record(a, lambda a=a: _apply_one(ctx, a))
