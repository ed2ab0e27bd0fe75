"""What each kind of endpoint can take: limits, unsupported features, rate limits.

The engine reads these records instead of branching on the backend's name. What an end does with
each object kind is declared by the kind's own package (`KindCaps`, keyed by the record's `kind`,
the endpoint profile) and looked up by kind name (`supports`, `absent_kinds`): the kinds register
their declarations here (`declare`), as they register their archivers in syncer.core.archive.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlparse


@dataclass(frozen=True)
class RateLimits:
    """Client-side request budgets per endpoint class, in requests per second (None: unlimited):
    `experiments` experiment management (list, get by name, update, delete, restore), `search` run
    searches, `log_batch`, and `other` every other request."""

    search: float | None = None
    experiments: float | None = None
    log_batch: float | None = None
    other: float | None = None


@dataclass(frozen=True)
class Capabilities:
    """Limits and features of one MLflow endpoint (what it does with each object kind: the kinds'
    declarations, `supports`)."""

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
    # Whether a marker left alone after the status is cheaper as a set_tag than as a batch (an
    # in-process SQL store: its log_batch opens a second session and reads the run twice).
    marker_alone_as_tag: bool = False
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
    # Keeps one of several exact duplicate metric points (same key, step, timestamp, value):
    # MLflow's SQL stores, whose primary key is the point. A file store keeps them all
    # (syncer.core.metric_points).
    collapses_duplicate_points: bool = False
    # As a source: what the end is (e.g. "MLflow 2.22.5 server"), for the note naming the kinds it
    # cannot hold (`absent_kinds`), and the major MLflow version its server runs (None: not known).
    line: str | None = None
    server_major: int | None = None
    # What this one record says about kinds besides their declarations, (kind, feature, value):
    # read first by `supports` (`without`: an end taken to lack some kinds' APIs).
    kind_features: tuple[tuple[str, str, object], ...] = ()
    # As a destination: `mlflow.user` values rewritten through the principal map's explicit entries
    # (source user, destination user), set from the config when permissions are copied
    # (syncer.core.fitting).
    user_map: tuple[tuple[str, str], ...] = ()

    def with_overrides(self, **changes: object) -> Capabilities:
        """Return a copy with some fields replaced (for user overrides from the config)."""
        return replace(self, **changes)

    def without(self, *kinds: str) -> Capabilities:
        """A copy that has no API for any of `kinds` (the destination cannot hold them)."""
        added = tuple((kind, API, False) for kind in kinds)
        return replace(self, kind_features=self.kind_features + added)


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
)

# A local ./mlruns folder: MLflow 3 only opens the legacy file store when asked to.
FILE_STORE = Capabilities(
    kind="file-store",
    batch_tags_last=True,
    client_env=(("MLFLOW_ALLOW_FILE_STORE", "true"),),
    line="MLflow file store (mlruns/)",
)

# A direct SQLite store serialises writers: more threads only add lock contention.
SQLITE_STORE = Capabilities(
    kind="sqlite-store",
    max_workers=1,
    batch_tags_last=True,
    marker_alone_as_tag=True,
    collapses_duplicate_points=True,
)

DATABRICKS = Capabilities(
    kind="databricks",
    search_page_size=1000,
    tags_per_run=1600,
    rate_limits=RateLimits(search=7.0, experiments=7.0, log_batch=47.0, other=127.0),
    auth="databricks",
    registry_choices=("databricks", "databricks-uc"),
    # /Users/alice@corp.com/churn/exp1 -> churn/exp1; /Shared/x -> Shared/x
    source_name_rules=((r"^/Users/[^/]+/", ""), (r"^/", "")),
    reserved_run_tags=8,
    acl_me_path="/api/2.0/preview/scim/v2/Me",
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
    experiment_rename=False,
    registry_tag_filters=False,
    # Filters with AND and order_by on attributes are documented, but not that create_run keeps
    # start_time: unproven, so its experiments are read whole.
    run_windows=False,
    unsettable_tags=frozenset({"mlflow.user"}),
    tags_set_after_create=("mlflow.source.",),
    auth="azure",
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
        given = {k: v for k, v in rate_limits.items() if v is not None}
        if "search" in given and "experiments" not in given:  # one limit for both, as before
            given["experiments"] = given["search"]
        merged = {**caps.rate_limits.__dict__, **given}
        caps = caps.with_overrides(rate_limits=RateLimits(**merged))
    return caps


def as_source_of(caps: Capabilities, version: str | None) -> Capabilities:
    """A source's record once its server said which MLflow it runs (`version`, e.g. "2.22.5"; None:
    not known, the record as it is): an MLflow 2.x server lacks every kind declared `since=3`."""
    if not version:
        return caps
    line, major = f"MLflow {version} server", version.split(".", 1)[0]
    if not major.isdigit() or int(major) >= 3:
        return caps.with_overrides(line=line)
    return caps.with_overrides(line=line, server_major=int(major))


def absent_note(caps: Capabilities, plural: Callable[[str], str]) -> str | None:
    """One sentence naming the kinds a source cannot hold (`plural`: a kind's report name), or
    None."""
    absent = absent_kinds(caps)
    if not absent:
        return None
    names = sorted(plural(k) for k in absent)
    return f"{caps.line or caps.kind} source: holds no {', '.join(names)} (not asked for)"


API = "api"  # the feature every kind has: whether the end has the kind's API (can hold it)


@dataclass(frozen=True)
class KindCaps:
    """What endpoints do with one object kind, declared by the kind's own package (`declare`).

    `profiles`: per endpoint profile (a record's `kind`: "mlflow", "databricks", "azureml",
    "file-store", "sqlite-store"), the features that differ from `defaults` (a feature named
    nowhere: `API` True, any other None). `since`: the MLflow major version that brought the kind
    (an older server holds none of it: never asked for); `absent_from`: profiles that cannot hold it
    at all (never asked for either).
    """

    kind: str
    profiles: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    defaults: Mapping[str, object] = field(default_factory=dict)
    since: int = 0
    absent_from: tuple[str, ...] = ()


KIND_CAPS: dict[str, KindCaps] = {}


def declare(declared: KindCaps) -> KindCaps:
    """Register a kind's declaration (each kind's package does this once, at import)."""
    KIND_CAPS[declared.kind] = declared
    return declared


def absent_kinds(caps: Capabilities) -> frozenset[str]:
    """The kinds an end cannot hold at all (its store, or its server's MLflow version, predates
    them): never asked for, named in one note (`absent_note`)."""
    major = caps.server_major
    return frozenset(
        name
        for name, d in KIND_CAPS.items()
        if caps.kind in d.absent_from or (major is not None and major < d.since)
    )


def supports(caps: Capabilities, kind: str, feature: str = API) -> Any:
    """What an end does with `kind` (`feature`; `API`: whether it has the kind's API at all): the
    record's own word (`kind_features`), else no API for a kind it cannot hold, else the kind's
    declaration for the end's profile, else the declaration's default."""
    for k, f, value in caps.kind_features:
        if (k, f) == (kind, feature):
            return value
    if feature == API and kind in absent_kinds(caps):
        return False
    declared = KIND_CAPS.get(kind) or KindCaps(kind)
    given = declared.profiles.get(caps.kind, {})
    if feature in given:
        return given[feature]
    return declared.defaults.get(feature, True if feature == API else None)
