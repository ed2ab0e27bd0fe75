"""Read experiment and registered-model permissions into plain `PermSnap`s, resources named as the planner
matches them: experiments by their destination name, models by their destination name.

MLflow's authentication app (syncer.backends.auth_app): grants held through roles other than a user's own
are counted in one `!` row, not copied. Databricks (syncer.backends.dbx_permissions): each experiment's
direct grants through the Permissions API; it lists no principals here, so none is checked against it.
"""

from __future__ import annotations

from collections.abc import Mapping

from syncer.backends import auth_app, dbx_permissions, uc_grants
from syncer.backends.endpoint import Endpoint
from syncer.core.permissions import Grant, PermSnap


def _read(endpoint: Endpoint, experiments: Mapping[str, str], models: Mapping[str, str]
          ) -> tuple[PermSnap, int]:
    """Direct grants on the given experiments (id -> name planned on) and models (name -> name planned
    on), and how many role grants on them were left out."""
    users = auth_app.list_users(endpoint)
    names = {"experiment": experiments, "registered_model": models}
    grants, roles = [], 0
    for username, user_id in sorted(users.items()):
        for row in auth_app.user_rows(endpoint, username, user_id):
            resource = names[row.resource_type].get(row.resource_id)
            if resource is None:
                continue
            if row.direct:
                grants.append(Grant(row.resource_type, resource, username, row.permission))
            else:
                roles += 1
    read = frozenset((t, name) for t, by_id in names.items() for name in by_id.values())
    return PermSnap(grants=grants, users=frozenset(users), resources=read), roles


def scan_permissions(endpoint: Endpoint, experiments: Mapping[str, str], models: Mapping[str, str]
                     ) -> tuple[PermSnap, int]:
    """One end's permissions on the resources of the pass, or an empty snapshot where the end keeps none
    this tool reads (`Capabilities.permissions`); with the count of role grants left out."""
    if endpoint.caps.permissions == "databricks":
        return _read_databricks(endpoint, experiments, models), 0
    if endpoint.caps.permissions != "basic-auth":
        return PermSnap(), 0
    return _read(endpoint, experiments, models)


def _read_databricks(endpoint: Endpoint, experiments: Mapping[str, str], models: Mapping[str, str]
                     ) -> PermSnap:
    """Direct grants on each experiment and each model: a workspace-registry model's through the
    Permissions API, a Unity Catalog model's (`catalog.schema.name`) through its UC grants."""
    grants = [Grant("experiment", name, who, level) for eid, name in sorted(experiments.items())
              for who, level in dbx_permissions.experiment_grants(endpoint, eid)]
    for src, name in sorted(models.items()):
        read = uc_grants.model_grants if src.count(".") >= 2 else dbx_permissions.model_grants
        grants += [Grant("registered_model", name, who, level)
                   for who, level in read(endpoint, src)]
    done = {("experiment", n) for n in experiments.values()} | {("registered_model", n)
                                                                 for n in models.values()}
    return PermSnap(grants=grants, resources=frozenset(done))
