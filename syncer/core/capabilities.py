"""What each kind of endpoint can take: limits, unsupported features, rate limits.

The engine reads these records instead of branching on the backend's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from urllib.parse import urlparse


@dataclass(frozen=True)
class RateLimits:
    """Client-side request budgets per endpoint class, in requests per second (None: unlimited)."""

    search: float | None = None
    log_batch: float | None = None
    other: float | None = None


@dataclass(frozen=True)
class Capabilities:
    """Limits and features of one MLflow endpoint."""

    kind: str
    batch_metrics: int = 1000
    batch_params: int = 100
    batch_tags: int = 100
    batch_total: int = 1000
    param_value_len: int = 6000
    run_tag_value_len: int = 8000
    experiment_tag_value_len: int = 20000
    experiment_tag_key_len: int = 250
    key_len: int = 250
    tags_per_run: int | None = None
    params_per_run: int | None = None
    experiment_tags: int | None = (
        None  # tags per experiment, mlflow-syncer's two provenance tags included
    )
    metric_keys_per_run: int | None = None
    experiment_name_len: int | None = None
    search_page_size: int = 1000
    artifact_sizes: bool = True
    # A second write to an artifact path is refused (Azure ML: 409 Resource Conflict): settled by
    # size (syncer.backends.write_once); --verify plans files of other bytes as conflicts, not
    # repairs.
    artifacts_write_once: bool = False
    stages: bool = True
    logged_models: bool = True
    traces: bool = True
    # Whole traces (spans) read in batches (`batch_get_traces`); else one trace at a time (MLflow's
    # `get_trace`).
    trace_batch_read: bool = True
    prompts: bool = (
        True  # as a destination: prompts can be written (and, as a source, read from its registry)
    )
    # As a source, where prompts are read instead of this end's own registry (None: its registry): a
    # registry URI scheme such as "databricks-uc" (Unity Catalog prompts, searched per
    # catalog.schema).
    prompt_registry: str | None = None
    datasets: bool = True  # MLflow 3 evaluation datasets (need a SQL tracking store)
    # As a source: evaluation datasets are Unity Catalog tables (Databricks), counted per experiment
    # through MLflow's dataset search and listed as not copied (syncer.kinds.inventory.listing
    # `uc_dataset`).
    uc_datasets: bool = False
    # As a source: listings leave out what the caller may not see unless it is an admin, asked at
    # this path (Databricks: SCIM `Me`, workspace admins are the `admins` group); a non-admin gets a
    # warning row.
    acl_me_path: str | None = None
    experiment_rename: bool = True
    # Its registered-model search takes tag filters (Azure ML: none, azure-sdk-for-python#42155).
    registry_tag_filters: bool = True
    # Whether its log_batch writes a batch's tags after its params and metrics (MLflow's own
    # stores), so the fingerprint tag can ride in a run's last batch and still be its last write
    # (syncer.apply.runs).
    batch_tags_last: bool = False
    unsettable_tags: frozenset[str] = frozenset()
    tags_set_after_create: tuple[str, ...] = ()
    rate_limits: RateLimits = field(default_factory=RateLimits)
    max_workers: int | None = None
    client_env: tuple[tuple[str, str], ...] = ()
    # How to check credentials at start-up (syncer/auth.py): None, "databricks" or "azure".
    auth: str | None = None
    # Registry URI schemes of which the user must choose one explicitly (empty: the default is
    # fine).
    registry_choices: tuple[str, ...] = ()
    # Default experiment-name rules (regex, replacement) when this end is the source and the user
    # gave none.
    source_name_rules: tuple[tuple[str, str], ...] = ()
    # Tags each run needs for itself in this end (server-set and mlflow-syncer's provenance tags):
    # subtracted from tags_per_run to get the budget for copied tags.
    reserved_run_tags: int = 0
    history_bulk: bool = (
        False  # answers /ajax-api/2.0/mlflow/metrics/get-history-bulk (syncer/history.py)
    )
    # search_runs orders by and filters on `attributes.start_time` (>=, <, AND) and create_run keeps
    # the start_time given: an experiment above the run step's chunk size is read in start-time
    # windows (syncer.scan.runs.iter_windows), on both ends only when both can; else it is read
    # whole.
    run_windows: bool = True
    # As a source: kinds this end cannot hold (its MLflow version or store kind predates them),
    # never asked for; the plan says so in one note (`line`: what the end is, e.g. "MLflow 2.22.5
    # server"). Keeps one of several exact duplicate metric points (same key, step, timestamp,
    # value): MLflow's SQL stores, whose primary key is the point. A file store keeps them all
    # (syncer.core.metric_points).
    collapses_duplicate_points: bool = False
    absent_kinds: frozenset[str] = frozenset()
    line: str | None = None
    # Who may see and change what (syncer.core.permissions): "basic-auth" (MLflow's authentication
    # app: per-experiment and per-model grants, read and written), "databricks" (the Permissions
    # API, read), "workspace-roles" (Azure roles at workspace scope only: each grant is listed with
    # the role that would cover it), None (no permissions: a file or SQL store).
    permissions: str | None = None
    # As a destination: `mlflow.user` values rewritten through the principal map's explicit entries
    # (source user, destination user), set from the config when permissions are copied
    # (syncer.core.fitting).
    user_map: tuple[tuple[str, str], ...] = ()

    def with_overrides(self, **changes: object) -> Capabilities:
        """Return a copy with some fields replaced (for user overrides from the config)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class RegistryCaps:
    """What one model registry supports (an end may read several: Databricks' workspace registry and
    Unity Catalog)."""

    kind: str
    stages: bool = True
    # Searches answer with every field (tags, aliases); else each model and version is read once
    # more.
    search_details: bool = True
    # Where a version's files are read: "download_uri" (MLflow's artifact repository for the
    # version's download URI) or "temporary_credentials" (short-lived storage credentials,
    # syncer/ucfiles.py).
    files: str = "download_uri"


DEFAULT_REGISTRY = RegistryCaps(kind="mlflow")
UNITY_CATALOG = RegistryCaps(
    kind="databricks-uc", stages=False, search_details=False, files="temporary_credentials"
)
REGISTRIES = {"databricks": RegistryCaps(kind="databricks"), "databricks-uc": UNITY_CATALOG}


def registry_caps(registry_uri: str | None) -> RegistryCaps:
    """The capabilities of a registry by its URI scheme (`databricks-uc://profile` is Unity
    Catalog)."""
    scheme = urlparse(registry_uri or "").scheme or (registry_uri or "")
    return REGISTRIES.get(scheme.lower(), DEFAULT_REGISTRY)


PLAIN_MLFLOW = Capabilities(
    kind="mlflow",
    history_bulk=True,
    batch_tags_last=True,
    collapses_duplicate_points=True,
    permissions="basic-auth",
)

# Kinds that came with MLflow 3 (logged models 3.0, evaluation datasets, webhooks, the AI gateway,
# MCP servers, scorers, label schemas, review queues, issues: later 3.x releases): an MLflow 2.x
# server holds none of them. Traces (2.14) and prompts (2.21, tagged registered models) are older:
# MLflow 3's client reads them from a 2.x server (its trace search falls back to the v2 API), so
# they are asked for.
MLFLOW3_KINDS = frozenset(
    {
        "logged_model",
        "dataset",
        "webhook",
        "gateway_secret",
        "gateway_endpoint",
        "mcp_server",
        "scorer",
        "label_schema",
        "review_queue",
        "issue",
    }
)
# MLflow's legacy file store implements none of these (MlflowNotImplementedException), whatever
# wrote it.
FILE_STORE_ABSENT = frozenset(
    {
        "dataset",
        "webhook",
        "gateway_secret",
        "gateway_endpoint",
        "mcp_server",
        "scorer",
        "label_schema",
        "review_queue",
        "issue",
    }
)

# A local ./mlruns folder: MLflow 3 only opens the legacy file store when asked to.
FILE_STORE = Capabilities(
    kind="file-store",
    datasets=False,
    batch_tags_last=True,
    client_env=(("MLFLOW_ALLOW_FILE_STORE", "true"),),
    absent_kinds=FILE_STORE_ABSENT,
    line="MLflow file store (mlruns/)",
)

# A direct SQLite store serialises writers: more threads only add lock contention.
SQLITE_STORE = Capabilities(
    kind="sqlite-store", max_workers=1, batch_tags_last=True, collapses_duplicate_points=True
)

DATABRICKS = Capabilities(
    kind="databricks",
    search_page_size=1000,
    tags_per_run=1600,
    rate_limits=RateLimits(search=7.0, log_batch=47.0, other=127.0),
    auth="databricks",
    registry_choices=("databricks", "databricks-uc"),
    # /Users/alice@corp.com/churn/exp1 -> churn/exp1; /Shared/x -> Shared/x
    source_name_rules=((r"^/Users/[^/]+/", ""), (r"^/", "")),
    reserved_run_tags=8,
    # Prompts live in Unity Catalog (`catalog.schema.name`; MLflow's `databricks-uc` store,
    # UnityCatalogPromptService): read as a source (syncer.kinds.prompts.uc_scan), not written as a
    # destination (listed `!`).
    prompts=False,
    prompt_registry="databricks-uc",
    # Experiment traces keep their spans in a trace data file (`mlflow.artifactLocation`, read
    # through /api/2.0/mlflow/traces/<id>/credentials-for-data-download); MLflow's Databricks store
    # has no batch read for them (batch_get_trace_infos: not implemented; batchGet is the v4 API of
    # Unity Catalog trace tables).
    trace_batch_read=False,
    # Evaluation datasets are Unity Catalog tables: MLflow's Databricks store lists them one
    # experiment at a time (GET /api/2.0/managed-evals/datasets) but reads neither their records nor
    # their tags: counted, not copied.
    datasets=False,
    uc_datasets=True,
    acl_me_path="/api/2.0/preview/scim/v2/Me",
    permissions="databricks",
)

AZURE_ML = Capabilities(
    kind="azureml",
    batch_metrics=250,
    batch_total=250,
    run_tag_value_len=1000,
    key_len=100,
    tags_per_run=50,
    # Azure ML service limits (learn.microsoft.com/azure/machine-learning/resource-limits-capacity):
    # experiments take 50 tags, keys of 250 and values of 1,000 characters; runs 200 params
    # (azure-sdk-for-python#35685).
    experiment_tag_value_len=1000,
    experiment_tags=50,
    params_per_run=200,
    metric_keys_per_run=50,
    experiment_name_len=256,
    # mlflow.runName, mlflow.user, mlflow.parentRunId and mlflow-syncer's four provenance tags
    reserved_run_tags=7,
    artifact_sizes=False,
    artifacts_write_once=True,
    # MLflow 3 objects, as the service's MLflow endpoint answers (tests/emulators/azureml.py answers
    # the same): logged-models API 404 (Azure/azure-sdk-for-python#44896); traces 403, "not
    # supported in AML yet" (azure-sdk-for-python#40261); prompts are tagged registered models and
    # the registry search takes no tag filter (Azure ML docs, "Manage models registry with MLflow");
    # evaluation datasets (/api/3.0/mlflow/datasets) are documented nowhere and taken as absent.
    # Webhooks and the other kinds of syncer.kinds.inventory are never copied to any destination.
    logged_models=False,
    traces=False,
    prompts=False,
    datasets=False,
    experiment_rename=False,
    registry_tag_filters=False,
    # Filters with AND and order_by on attributes are documented, but not that create_run keeps
    # start_time: unproven, so its experiments are read whole.
    run_windows=False,
    unsettable_tags=frozenset({"mlflow.user"}),
    tags_set_after_create=("mlflow.source.",),
    auth="azure",
    # No per-experiment or per-model ACL: Azure roles at workspace scope (Azure ML docs, "Manage
    # access to an Azure Machine Learning workspace").
    permissions="workspace-roles",
)

PROFILES = {"mlflow": PLAIN_MLFLOW, "databricks": DATABRICKS, "azureml": AZURE_ML}


def capabilities_for(tracking_uri: str) -> Capabilities:
    """Pick the capability record that matches a tracking URI's scheme."""
    scheme = urlparse(tracking_uri).scheme.lower()
    if tracking_uri == "databricks" or scheme.startswith("databricks"):
        return DATABRICKS
    if scheme == "azureml":
        return AZURE_ML
    if scheme == "sqlite":
        return SQLITE_STORE
    if scheme in ("", "file"):
        return FILE_STORE
    return PLAIN_MLFLOW


def resolve(
    tracking_uri: str, profile: str = "auto", rate_limits: dict | None = None
) -> Capabilities:
    """The capabilities of one end: by URI scheme, or the named service profile, plus rate
    overrides.

    A named profile brings the service's limits; how to authenticate stays a property of the URI
    (a plain http URI in front of an Azure-ML-like service needs no Azure credential).
    """
    by_uri = capabilities_for(tracking_uri)
    caps = (
        by_uri
        if profile == "auto"
        else PROFILES[profile].with_overrides(
            auth=by_uri.auth, registry_choices=by_uri.registry_choices
        )
    )
    if rate_limits:
        merged = {
            **caps.rate_limits.__dict__,
            **{k: v for k, v in rate_limits.items() if v is not None},
        }
        caps = caps.with_overrides(rate_limits=RateLimits(**merged))
    return caps


# Capability fields that say whether an end holds a kind, by kind (the others are inventory kinds).
_KIND_FIELDS = {
    "logged_model": "logged_models",
    "dataset": "datasets",
    "trace": "traces",
    "prompt": "prompts",
}


def as_source_of(caps: Capabilities, version: str | None) -> Capabilities:
    """A source's record once its server said which MLflow it runs (`version`, e.g. "2.22.5"; None:
    not known, the record as it is): an MLflow 2.x server lacks every kind of `MLFLOW3_KINDS`."""
    if not version:
        return caps
    line = f"MLflow {version} server"
    if not version.split(".", 1)[0].isdigit() or int(version.split(".", 1)[0]) >= 3:
        return caps.with_overrides(line=line)
    absent = caps.absent_kinds | MLFLOW3_KINDS
    return caps.with_overrides(
        line=line, absent_kinds=absent, **{f: False for k, f in _KIND_FIELDS.items() if k in absent}
    )


def absent_note(caps: Capabilities, plural: Callable[[str], str]) -> str | None:
    """One sentence naming the kinds a source cannot hold (`plural`: a kind's report name), or
    None."""
    if not caps.absent_kinds:
        return None
    names = sorted(plural(k) for k in caps.absent_kinds)
    return f"{caps.line or caps.kind} source: holds no {', '.join(names)} (not asked for)"
