"""Plan experiment and registered-model permissions: source grants through the principal map against
the destination's grants. Pure.

`+` a grant the destination lacks; `*` a change: a grant this tool made whose source level changed,
or a destination grant wider than the source's (narrowing never widens); `!` a conflict: the
destination already grants the principal less than the source (widening it needs
`permissions.replace: true`), or a grant with no place (unmapped principal, a principal the
destination does not list, a destination without per-object permissions: Azure ML's workspace roles
are named instead); `-` a revocation: a grant this tool made whose source grant is gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from syncer.core.actions import Action, Op
from syncer.core.errors import FatalError
from syncer.kinds.permissions.grants import (
    PASSAGE,
    PRIVILEGE_TYPES,
    REVOKED,
    ROLE,
    Grant,
    PermSnap,
    PrincipalMap,
    azure_role,
    rank,
    split_key,
)
from syncer.plan.uncopied import uncopied

KIND = "permission"
WRITABLE = (
    "basic-auth",
    "databricks",
)  # Capabilities.permissions of destinations grants are written to
# A level a destination holds as another, never wider (Databricks has no USE: CAN_READ, read back as
# READ).
HELD_AS = {("databricks", "USE"): "READ"}


@dataclass(frozen=True)
class PermOptions:
    """What the permission planner needs besides both snapshots."""

    pmap: PrincipalMap
    dest_kind: str | None  # Capabilities.permissions of the destination
    replace: bool = False
    made: dict[str, tuple[str, str]] = field(
        default_factory=dict
    )  # source key -> (dest key, level)
    role_grants: int = 0  # source grants held through roles other than a user's own: not copied


def _label(g: Grant, dest_principal: str | None) -> str:
    who = (
        g.principal
        if dest_principal in (None, g.principal)
        else f"{g.principal} -> {dest_principal}"
    )
    return f"{g.resource_type} {g.resource!r}: {who} {g.level}"


def _row(g: Grant, op: Op, dest: Grant | None, **details: object) -> Action:
    return Action(
        kind=KIND,
        op=op,
        label=_label(g, dest.principal if dest else None),
        source_id=g.key,
        dest_id=dest.key if dest else None,
        fingerprint=dest.level if dest else None,
        details={
            "resource_type": g.resource_type,
            "resource": g.resource,
            "principal": g.principal,
            "level": g.level,
            "dest_principal": dest.principal if dest else None,
            **details,
        },
    )


def _uncopied(g: Grant, reason: str, **details: object) -> Action:
    return _row(g, Op.UNCOPIED, None, count=1, reason=reason, group=None, **details)


def _no_place(g: Grant, dest_principal: str, opts: PermOptions) -> Action:
    if opts.dest_kind == "workspace-roles":
        return _uncopied(
            g,
            "no per-object permissions on the destination: an Azure role at workspace "
            "scope would cover it",
            dest_principal=dest_principal,
            azure_role=azure_role(g.level),
            scope="workspace",
        )
    reason = (
        f"permissions are not written to a {opts.dest_kind} destination"
        if opts.dest_kind
        else "the destination holds no permissions"
    )
    return _uncopied(g, reason, dest_principal=dest_principal)


def _unwritable(g: Grant, dst: PermSnap, opts: PermOptions) -> str | None:
    """Why a grant has no place on the destination (None: it has one, or none is held there)."""
    if g.resource_type == "role" or g.principal.startswith(ROLE):
        if opts.dest_kind != "basic-auth" or not dst.roles:
            return "roles are written only to an MLflow authentication app with roles"
    elif g.resource_type in PRIVILEGE_TYPES:
        if opts.dest_kind != "databricks":
            return f"the destination has no Unity Catalog {g.resource_type} to grant on"
    elif opts.dest_kind == "databricks" and g.level == "NO_PERMISSIONS":
        return "Databricks has no NO_PERMISSIONS level (no grant is narrower)"
    return None


def _unlisted(dp: str, dst: PermSnap) -> bool:
    """Whether the destination lists its users and not this one (roles are created, users not)."""
    return dst.users is not None and dp not in dst.users and not dp.startswith(ROLE)


def _check_unmapped(src: PermSnap, pmap: PrincipalMap) -> None:
    if pmap.unmapped != "fail":
        return
    missing = sorted({g.principal for g in src.grants if pmap.resolve(g.principal) is None})
    if missing:
        raise FatalError(
            f"principals not in the map (principals.unmapped: fail): {', '.join(missing)}"
        )


def _mapped(
    src: PermSnap, dst: PermSnap, opts: PermOptions
) -> tuple[list[Action], dict[str, Grant]]:
    """The `!` rows of grants with no place, and the rest by destination key (narrowest level
    kept)."""
    rows, wanted = [], {}
    for g in src.grants:
        dp = opts.pmap.resolve(g.principal)
        if dp is None:
            rows.append(_uncopied(g, "principal not in the map"))
        elif (why := _unwritable(g, dst, opts)) is not None:
            rows.append(_uncopied(g, why, dest_principal=dp))
        elif opts.dest_kind not in WRITABLE:
            rows.append(_no_place(g, dp, opts))
        elif _unlisted(dp, dst):
            rows.append(
                _uncopied(
                    g,
                    f"no user {dp!r} on the destination (users are not created)",
                    dest_principal=dp,
                )
            )
        else:
            level = HELD_AS.get((opts.dest_kind, g.level), g.level)
            target = Grant(g.resource_type, g.resource, dp, level)
            kept = wanted.get(target.key)
            if kept is not None and rank(kept[0].level) <= rank(g.level):
                rows.append(
                    _uncopied(
                        g,
                        f"{dp!r} also stands for {kept[0].principal!r}, whose narrower "
                        "grant is kept",
                        dest_principal=dp,
                    )
                )
                continue
            if kept is not None:
                rows.append(
                    _uncopied(
                        kept[0],
                        f"{dp!r} also stands for {g.principal!r}, whose narrower grant is kept",
                        dest_principal=dp,
                    )
                )
            wanted[target.key] = (g, target)
    return rows, wanted


def _compare(g: Grant, target: Grant, held: Grant | None, opts: PermOptions) -> Action:
    if held is None:
        return _row(g, Op.CREATE, target)
    if held.level == target.level:
        return _row(g, Op.SAME, target)
    ours = opts.made.get(g.key) == (target.key, held.level)
    if ours or opts.replace or rank(held.level) > rank(target.level):
        return _row(g, Op.UPDATE, target, dest_level=held.level)
    return _row(
        g,
        Op.CONFLICT,
        target,
        dest_level=held.level,
        reason=f"the destination grants {held.level}, narrower than {target.level}: not widened "
        "(permissions.replace: true overwrites)",
    )


def _revocations(src: PermSnap, held: dict[str, Grant], opts: PermOptions) -> list[Action]:
    """Grants this tool made whose source grant is gone and which the destination still holds
    unchanged."""
    current = {g.key for g in src.grants}
    out = []
    for skey, (dkey, level) in sorted(opts.made.items()):
        grant = held.get(dkey)
        rtype, resource, principal, privilege = split_key(skey)
        unread = src.resources is not None and (rtype, resource) not in src.resources
        if skey in current or level == REVOKED or grant is None or grant.level != level or unread:
            continue
        gone = Grant(rtype, resource, principal, privilege or level)
        out.append(
            Action(
                kind=KIND,
                op=Op.DELETE,
                label=f"{_label(gone, grant.principal)} (revoked)",
                source_id=skey,
                dest_id=dkey,
                fingerprint=REVOKED,
                details={
                    "resource_type": rtype,
                    "resource": resource,
                    "principal": principal,
                    "dest_principal": grant.principal,
                    "level": level,
                },
            )
        )
    return out


def plan_permissions(src: PermSnap, dst: PermSnap, opts: PermOptions) -> list[Action]:
    """The permission actions of one pass; raises FatalError (before any write) for unmapped
    principals under `unmapped: fail`."""
    if opts.dest_kind != "databricks":  # no container to open on the destination: nothing is lost
        src = replace(
            src,
            grants=[
                g
                for g in src.grants
                if g.level not in PASSAGE or g.resource_type not in PRIVILEGE_TYPES
            ],
        )
    _check_unmapped(src, opts.pmap)
    rows, wanted = _mapped(src, dst, opts)
    held = {g.key: g for g in dst.grants}
    rows += [_compare(g, target, held.get(key), opts) for key, (g, target) in wanted.items()]
    roles = [
        uncopied(
            KIND,
            opts.role_grants,
            "held through a role on every experiment or model "
            "(pattern '*', or the workspace): not copied, it would reach the "
            "destination's other objects",
        )
    ]
    return rows + _revocations(src, held, opts) + (roles if opts.role_grants else [])
