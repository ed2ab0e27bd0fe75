"""Object kinds a source may hold that mlflow-syncer never copies: counted by the scan, listed by
the plan.

Each kind says where it lives (the whole workspace or one experiment) and why it is not copied. The
scan (syncer.kinds.inventory.scan) counts them page by page, keeping only `Listed` counts; the
planner (syncer.kinds.inventory.plan) turns each non-zero count, or each listing the source cannot
answer, into one `!` uncopied action. Labeling sessions are not here: their API needs Databricks
(databricks-agents).
"""

from __future__ import annotations

from dataclasses import dataclass

WORKSPACE = "workspace"
EXPERIMENT = "experiment"
SECRETS = "not copied: secrets cannot be read back"


@dataclass(frozen=True)
class InventoryKind:
    """A kind that is counted and reported but never copied."""

    name: str
    plural: str
    scope: str  # WORKSPACE or EXPERIMENT
    reason: str
    # Listed only by sources of this endpoint profile (Capabilities.kind); None: by any.
    only_on: str | None = None


INVENTORY_KINDS: tuple[InventoryKind, ...] = (
    InventoryKind("webhook", "webhooks", WORKSPACE, SECRETS),
    InventoryKind("gateway_secret", "gateway secrets", WORKSPACE, SECRETS),
    InventoryKind(
        "gateway_endpoint",
        "gateway endpoints",
        WORKSPACE,
        "not copied: AI gateway endpoints refer to this server's secrets and model definitions",
    ),
    InventoryKind(
        "mcp_server",
        "MCP servers",
        WORKSPACE,
        "not copied: MCP server registry entries are not copied",
    ),
    InventoryKind(
        "label_schema", "label schemas", EXPERIMENT, "not copied: label schemas are not copied"
    ),
    InventoryKind(
        "review_queue",
        "review queues",
        EXPERIMENT,
        "not copied: review queues name this server's users and items",
    ),
    InventoryKind("issue", "issues", EXPERIMENT, "not copied: issues are not copied"),
    # Elsewhere evaluation datasets are a kind of their own (copied): counted here only where the
    # source keeps them as Unity Catalog tables (Databricks: syncer.kinds.datasets.capabilities).
    InventoryKind(
        "uc_dataset",
        "evaluation datasets (Unity Catalog)",
        EXPERIMENT,
        "not copied: Databricks keeps evaluation datasets as Unity Catalog tables, whose records "
        "MLflow's client does not read",
        only_on="databricks",
    ),
)
INVENTORY = {k.name: k for k in INVENTORY_KINDS}


@dataclass(frozen=True)
class Listed:
    """What the scan found of one inventory kind in one place: a count, or why it cannot be
    listed."""

    kind: str
    count: int | None  # None: the source cannot list this kind (`why`)
    experiment: str | None = None  # source experiment id; None for workspace-wide kinds
    why: str | None = None
