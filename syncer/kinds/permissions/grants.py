"""Who may see and change what, as plain data: grants, the principal map and its policy for the
unmapped.

A `Grant` is one principal's permission on one experiment or registered model. Levels are MLflow's
authentication app's (mlflow.server.auth.permissions), ordered from narrowest to widest; the planner
(syncer.kinds.permissions.plan) never widens a grant the destination already holds.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

import yaml

# MLflow's levels, narrowest first (mlflow.server.auth.permissions.PERMISSION_PRIORITY).
LEVELS = ("NO_PERMISSIONS", "READ", "USE", "EDIT", "MANAGE")
RANK = {level: i for i, level in enumerate(LEVELS)}
RESOURCE_TYPES = ("experiment", "registered_model")
ROLE = "role:"  # a role of MLflow's authentication app as a principal: `role:<name>`
MEMBER = "MEMBER"  # the level of a role membership: Grant("role", <role name>, <user>, MEMBER)
# Unity Catalog containers of models: one grant per privilege (the privilege is its level and part
# of its key), so a privilege is added or revoked alone, never widening or narrowing another.
PRIVILEGE_TYPES = ("catalog", "schema")
# Privileges that only open the way to what a container holds: nothing to carry where the
# destination has no containers (its per-model grants are the whole access).
PASSAGE = ("USE_CATALOG", "USE_SCHEMA")
UNMAPPED_POLICIES = ("skip", "default", "fail")
REVOKED = "revoked"  # the fingerprint of a grant this tool made and later revoked


@dataclass(frozen=True)
class Grant:
    """One principal's `level` on one resource (`resource`: an experiment or registered model, by
    the name the planner matches on: the destination experiment name, the destination model
    name)."""

    resource_type: str
    resource: str
    principal: str
    level: str

    @property
    def key(self) -> str:
        """The grant's identity without its level (with it: a Unity Catalog container's
        privilege)."""
        own = f"|{self.level}" if self.resource_type in PRIVILEGE_TYPES else ""
        return f"{self.resource_type}|{self.resource}|{self.principal}{own}"


def split_key(key: str) -> tuple[str, str, str, str | None]:
    """(resource type, resource, principal, privilege or None) of a `Grant.key` (a resource name may
    hold `|`, a principal or a privilege not)."""
    rtype, rest = key.split("|", 1)
    privilege = None
    if rtype in PRIVILEGE_TYPES:
        rest, privilege = rest.rsplit("|", 1)
    resource, principal = rest.rsplit("|", 1)
    return rtype, resource, principal, privilege


def rank(level: str) -> int:
    """A level's place from narrowest to widest (a membership or a privilege: one level only)."""
    return RANK.get(level, 0)


@dataclass
class PermSnap:
    """The grants one end holds on the resources of the pass, and the principals it lists (None: it
    lists none, so no principal can be checked there)."""

    grants: list[Grant] = field(default_factory=list)
    users: frozenset[str] | None = None
    # The (resource type, resource) pairs whose grants were read (None: every one the planner
    # meets): a grant this tool made is revoked only where its source resource was read and holds it
    # no more.
    resources: frozenset[tuple[str, str]] | None = None
    roles: bool = False  # the end's authentication app has roles (MLflow 3's RBAC)


@dataclass(frozen=True)
class PrincipalMap:
    """Source principal -> destination principal, and what happens to a source principal not in
    `mapping`: `skip` (reported, not copied), `default` (mapped to `default`) or `fail` (the pass
    stops before any write)."""

    mapping: dict[str, str] = field(default_factory=dict)
    unmapped: str = "skip"
    default: str | None = None

    def resolve(self, principal: str) -> str | None:
        """The destination principal of a source principal (None: unmapped and skipped or
        failing); a role keeps its name unless the map names it (`role:<name>`)."""
        if principal.startswith(ROLE):
            return self.mapping.get(principal, principal)
        if principal in self.mapping:
            return self.mapping[principal]
        return self.default if self.unmapped == "default" else None


def read_csv_map(path: str) -> tuple[dict[str, str], list[str]]:
    """A `source,destination` CSV file (a header row naming `source` is skipped): the map and its
    problems (a source principal named twice, a row without two cells)."""
    mapping: dict[str, str] = {}
    problems: list[str] = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        return {}, [f"principal map {path}: {exc.strerror or exc}"]
    for n, row in enumerate(rows, 1):
        cells = [c.strip() for c in row]
        if not any(cells) or (n == 1 and cells[0].lower() == "source"):
            continue
        if len(cells) != 2 or not all(cells):
            problems.append(f"principal map {path} line {n}: want two cells, source,destination")
        elif cells[0] in mapping:
            problems.append(
                f"principal map {path} line {n}: source principal {cells[0]!r} mapped twice"
            )
        else:
            mapping[cells[0]] = cells[1]
    return mapping, problems


def yaml_map_duplicates(text: str) -> list[str]:
    """Source principals written twice under `principals: map:` of a config file's `text` (YAML
    keeps the last one silently)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    node = _child(_child(root, "principals"), "map")
    if not isinstance(node, yaml.MappingNode):
        return []
    seen: set[str] = set()
    dupes = []
    for key, _value in node.value:
        if key.value in seen:
            dupes.append(
                f"principals.map line {key.start_mark.line + 1}: source principal "
                f"{key.value!r} mapped twice"
            )
        seen.add(key.value)
    return dupes


def _child(node: yaml.Node | None, name: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if getattr(k, "value", None) == name), None)


def unknown_principals(pmap: PrincipalMap, users: frozenset[str] | None) -> list[str]:
    """Destination principals of the map the destination does not list (none when it lists none)."""
    if users is None:
        return []
    wanted = set(pmap.mapping.values()) | ({pmap.default} if pmap.default else set())
    return sorted(p for p in wanted if p not in users and not p.startswith(ROLE))


# Azure ML has no per-experiment or per-model ACL, only Azure roles at workspace scope (Azure ML
# docs, "Manage access to an Azure Machine Learning workspace": built-in roles Reader, AzureML Data
# Scientist, Contributor, Owner). The narrowest built-in role that covers each level; MANAGE's right
# to grant others has no role short of Owner / User Access Administrator, so it is named with that
# caveat.
AZURE_ROLES = {
    "READ": "Reader",
    "USE": "Reader",
    "EDIT": "AzureML Data Scientist",
    "MANAGE": "AzureML Data Scientist (granting others: Owner)",
}


def azure_role(level: str) -> str | None:
    """The Azure role at workspace scope that would cover a grant of `level` (None: NO_PERMISSIONS,
    nothing to grant)."""
    return AZURE_ROLES.get(level)
