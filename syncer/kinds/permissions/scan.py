"""Read experiment and registered-model permissions into plain `PermSnap`s, resources named as the
planner matches them: experiments by their destination name, models by their destination name.

MLflow's authentication app (syncer.kinds.permissions.auth_app): each user's own grants; its roles
(syncer.kinds.permissions.auth_roles) as principals `role:<name>` with their permissions on the
pass's resources, and each membership as a grant on the role (`Grant("role", name, user, MEMBER)`);
a role's permission on every resource (`*`, or the workspace) is counted, not copied. Databricks
(syncer.kinds.permissions.dbx_permissions): each experiment's direct grants through the Permissions
API, and a Unity Catalog model's grants with the privileges on its schema and catalog that reach
models (syncer.kinds.permissions.uc_grants), one grant per privilege; it lists no principals here,
so none is checked against it.
"""

from __future__ import annotations

from collections.abc import Mapping

from syncer.backends.endpoint import Endpoint
from syncer.kinds.permissions import auth_app, auth_roles, dbx_permissions, uc_grants
from syncer.kinds.permissions.capabilities import scheme
from syncer.kinds.permissions.grants import MEMBER, RESOURCE_TYPES, ROLE, Grant, PermSnap


def _read(
    endpoint: Endpoint, experiments: Mapping[str, str], models: Mapping[str, str]
) -> tuple[PermSnap, int]:
    """Direct grants on the given experiments (id -> name planned on) and models (name -> name
    planned on), and how many role grants on them were left out."""
    users = auth_app.list_users(endpoint)
    names = {"experiment": experiments, "registered_model": models}
    grants = []
    for username, user_id in sorted(users.items()):
        for row in auth_app.user_rows(endpoint, username, user_id):
            resource = names[row.resource_type].get(row.resource_id)
            if resource is not None and row.direct:
                grants.append(Grant(row.resource_type, resource, username, row.permission))
    roles = auth_roles.list_roles(endpoint)
    role_grants, wide = _role_grants(roles or [], {i: u for u, i in users.items()}, names)
    read = {(t, name) for t, by_id in names.items() for name in by_id.values()}
    read |= {
        ("role", g.principal.removeprefix(ROLE))
        for g in role_grants
        if g.principal.startswith(ROLE)
    }
    return PermSnap(
        grants=grants + role_grants,
        users=frozenset(users),
        resources=frozenset(read),
        roles=roles is not None,
    ), wide


def _role_grants(
    roles: list[auth_roles.Role],
    usernames: Mapping[int, str],
    names: Mapping[str, Mapping[str, str]],
) -> tuple[list[Grant], int]:
    """Each role's permissions on the resources named (by the names planned on) and the memberships
    of the roles holding one; with how many of the roles' permissions reach every resource (not
    copied)."""
    grants, wide = [], 0
    for role in sorted(roles, key=lambda r: r.name):
        held = []
        for g in role.grants:
            everywhere = g.resource_type in RESOURCE_TYPES and g.pattern == "*"
            if g.resource_type == "workspace" or everywhere:
                wide += 1
            elif (resource := names.get(g.resource_type, {}).get(g.pattern)) is not None:
                held.append(Grant(g.resource_type, resource, ROLE + role.name, g.permission))
        grants += held + [
            Grant("role", role.name, usernames[m], MEMBER)
            for m in sorted(role.members)
            if m in usernames and held
        ]
    return grants, wide


def scan_permissions(
    endpoint: Endpoint, experiments: Mapping[str, str], models: Mapping[str, str]
) -> tuple[PermSnap, int]:
    """One end's permissions on the resources of the pass, or an empty snapshot where the end keeps
    none this tool reads (`Capabilities.permissions`); with the count of role grants left out."""
    if scheme(endpoint.caps) == "databricks":
        return _read_databricks(endpoint, experiments, models), 0
    if scheme(endpoint.caps) != "basic-auth":
        return PermSnap(), 0
    return _read(endpoint, experiments, models)


def _read_databricks(
    endpoint: Endpoint, experiments: Mapping[str, str], models: Mapping[str, str]
) -> PermSnap:
    """Direct grants on each experiment and each model: a workspace-registry model's through the
    Permissions API, a Unity Catalog model's (`catalog.schema.name`) through its UC grants."""
    grants = [
        Grant("experiment", name, who, level)
        for eid, name in sorted(experiments.items())
        for who, level in dbx_permissions.experiment_grants(endpoint, eid)
    ]
    for src, name in sorted(models.items()):
        read = uc_grants.model_grants if src.count(".") >= 2 else dbx_permissions.model_grants
        grants += [
            Grant("registered_model", name, who, level) for who, level in read(endpoint, src)
        ]
    containers = _containers(models)
    for (securable, src), name in sorted(containers.items()):
        grants += [
            Grant(securable, name, who, privilege)
            for who, privilege in uc_grants.container_grants(endpoint, securable, src)
        ]
    done = {("experiment", n) for n in experiments.values()} | {
        ("registered_model", n) for n in models.values()
    }
    done |= {(securable, name) for (securable, _), name in containers.items()}
    return PermSnap(grants=grants, resources=frozenset(done))


def _containers(models: Mapping[str, str]) -> dict[tuple[str, str], str]:
    """(securable, name) -> name planned on, of the catalog and schema of each Unity Catalog model
    (`catalog.schema.name`) whose planned name is one too."""
    out = {}
    for src, name in models.items():
        if src.count(".") >= 2 and name.count(".") >= 2:
            (cat, sch, _), (dcat, dsch, _) = src.split(".", 2), name.split(".", 2)
            out[("catalog", cat)], out[("schema", f"{cat}.{sch}")] = dcat, f"{dcat}.{dsch}"
    return out
