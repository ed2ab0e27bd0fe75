"""One end of a sync: an MLflow client, its capabilities and a secret-free identity."""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlparse

from mlflow import MlflowClient
from mlflow.entities.model_registry import RegisteredModel
from mlflow.prompt.constants import IS_PROMPT_TAG_KEY
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.store.artifact.databricks_artifact_repo import DatabricksArtifactRepository
from mlflow.store.entities.paged_list import PagedList
from mlflow.utils.uri import (
    add_databricks_profile_info_to_artifact_uri,
    is_databricks_acled_artifacts_uri,
)

from syncer.backends import azureml_runs, basic_creds, compact_json, databricks_creds, http_meter
from syncer.backends.mlflow_env import use_default
from syncer.backends.ratelimit import RateLimiter
from syncer.backends.store_identity import store_key
from syncer.core.capabilities import Capabilities, RegistryCaps, capabilities_for, registry_caps
from syncer.core.redact import safe_uri

_METER_LOCK = threading.Lock()
_ASKING = threading.Lock()  # one /server-info request at a time (_share_server_capabilities)


def with_databricks_profile(registry_uri: str | None, tracking_uri: str) -> str | None:
    """A bare `databricks` / `databricks-uc` registry URI means the tracking URI's workspace: with
    `tracking_uri: databricks://prod` MLflow alone would read the registry of the DEFAULT
    profile."""
    profile = urlparse(tracking_uri).netloc if tracking_uri.startswith("databricks://") else ""
    if profile and registry_uri in ("databricks", "databricks-uc"):
        return f"{registry_uri}://{profile}"
    return registry_uri


DIRECT_SCHEMES = frozenset({"", "file", "sqlite", "postgresql", "mysql", "mssql"})


@dataclass
class Endpoint:
    """A tracking (and registry) URI with the client and the limits that go with it.

    `registry_uri` may list several registries (a Databricks workspace's own and Unity Catalog):
    models are then read through `registries()`, one endpoint per registry sharing this one's rate
    limiter.
    """

    tracking_uri: str
    registry_uri: str | list[str] | None = None
    caps: Capabilities = field(default=None)  # type: ignore[assignment]
    artifact_root: str | None = None
    role: str = "endpoint"
    down: str | None = field(
        default=None, repr=False
    )  # set by errors.call once the endpoint is unreachable
    answered: bool = field(
        default=False, repr=False
    )  # set by calls.call after its first successful call
    _server_capabilities: dict = field(default_factory=dict, repr=False)
    distinct_from: str | None = field(default=None, repr=False)  # a source store_key proven another
    line_detected: bool = field(default=False, repr=False)  # set by source_line.detect
    # (when read, the first page of experiments): syncer.backends.first_page
    kept_experiments: tuple[float, PagedList] | None = field(default=None, repr=False)
    _metered: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        uris = (
            self.registry_uri
            if isinstance(self.registry_uri, list | tuple)
            else [self.registry_uri]
        )
        self.registry_uris: tuple[str, ...] = tuple(u for u in uris if u)
        self.registry_uri = self.registry_uris[0] if self.registry_uris else None
        if self.caps is None:
            self.caps = capabilities_for(self.tracking_uri)
        if len(self.registry_uris) == 1:
            self.caps = self.caps.with_overrides(stages=self.caps.stages and self.registry.stages)
        self.limiter = RateLimiter(self.caps.rate_limits)
        compact_json.install()
        for name, value in self.caps.client_env:
            use_default(name, value)
        if self.databricks:
            databricks_creds.install()

    @property
    def databricks(self) -> bool:
        """Does this end talk to a Databricks workspace (tracking or a registry)?"""
        return any(u.startswith("databricks") for u in (self.tracking_uri, *self.registry_uris))

    def meter(self) -> None:
        """Count every HTTP request to this end's API host against its limiter (`http_meter`), from
        its first API call on; once per endpoint. An end without limits registers too: its host's
        requests then pass freely, whatever an earlier endpoint of the same host (an earlier mirror
        cycle) had registered."""
        if self._metered:
            return
        with _METER_LOCK:  # no call of another thread goes out before the hosts are registered
            if self._metered:
                return
            try:
                hosts = self.api_hosts()
            except Exception:  # no credentials, bad URI: the call itself fails and says why
                hosts = []
            for base in hosts:
                http_meter.register(base, self.limiter)
            self._metered = True

    def api_hosts(self) -> list[str]:
        """The base URLs this end's REST clients send to (tracking store, HTTP registries); none for
        a database or file store. Resolving a Databricks host reads the SDK's unified auth (env or
        profile)."""
        hosts = [u for u in self.registry_uris if u.startswith(("http://", "https://"))]
        direct = urlparse(self.tracking_uri).scheme.split("+")[0] in DIRECT_SCHEMES
        if direct and not self.tracking_uri.startswith("databricks"):
            return hosts  # a database or file store: opening its client would create it
        store = self.client._tracking_client.store
        if hasattr(store, "get_host_creds"):
            hosts.insert(0, store.get_host_creds().host)
        return hosts

    def registered_models_page(
        self, token: str | None, size: int = 100
    ) -> PagedList[RegisteredModel]:
        """One page of registered models, prompts left out. MLflow 3's client leaves them out with a
        tag filter, which a registry without tag filters refuses (Azure ML:
        azure-sdk-for-python#42155): there the store is asked without a filter and prompts are
        dropped here."""
        if self.caps.registry_tag_filters:
            return self.client.search_registered_models(max_results=size, page_token=token)
        store = self.client._get_registry_client().store
        page = store.search_registered_models(None, size, None, token)
        return PagedList(
            [m for m in page if (m.tags or {}).get(IS_PROMPT_TAG_KEY) != "true"], page.token
        )

    @cached_property
    def client(self) -> MlflowClient:
        """The MLflow client of this end; a Databricks end's stores resolve host credentials once
        per workspace (`databricks_creds`), not once per request."""
        client = MlflowClient(
            tracking_uri=self.tracking_uri, registry_uri=self.resolved_registry_uri
        )
        basic_creds.adopt(client._tracking_client.store)
        if self.databricks:
            databricks_creds.adopt(client._tracking_client.store)
            with contextlib.suppress(Exception):  # no usable registry: its first call says why
                databricks_creds.adopt(client._get_registry_client().store)
        return client

    @property
    def resolved_registry_uri(self) -> str | None:
        """The registry URI, never taken from MLflow's process-wide default (`MLFLOW_REGISTRY_URI`,
        `mlflow.set_registry_uri`): without one, the tracking server is the registry. Databricks
        keeps MLflow's own choice (Unity Catalog)."""
        if self.registry_uri or self.tracking_uri.startswith("databricks"):
            return with_databricks_profile(self.registry_uri, self.tracking_uri)
        return self.tracking_uri

    @property
    def registry(self) -> RegistryCaps:
        """What this end's (single) model registry supports."""
        return registry_caps(self.resolved_registry_uri)

    @cached_property
    def _registries(self) -> dict[str, Endpoint]:
        subs = {}
        for uri in self.registry_uris:
            sub = Endpoint(
                self.tracking_uri,
                uri,
                caps=self.caps,
                artifact_root=self.artifact_root,
                role=self.role,
            )
            sub.limiter = self.limiter
            sub._server_capabilities = self._server_capabilities
            subs[uri] = sub
        return subs

    def registries(self) -> list[Endpoint]:
        """One endpoint per model registry of this end (itself when it has at most one)."""
        return list(self._registries.values()) if len(self.registry_uris) > 1 else [self]

    def on_registry(self, wanted: str | None) -> Endpoint:
        """The endpoint that reads this end's registry of kind `wanted` (a kind's capability, e.g.
        Databricks' Unity Catalog for prompts): itself (None, or its own registry), or one on that
        registry of the same workspace, sharing this one's rate limiter."""
        if wanted is None or self.registry.kind == wanted:
            return self
        sub = Endpoint(
            self.tracking_uri,
            with_databricks_profile(wanted, self.tracking_uri),
            caps=self.caps,
            artifact_root=self.artifact_root,
            role=self.role,
        )
        sub.limiter = self.limiter
        return sub

    def for_registry(self, registry_uri: str | None) -> Endpoint:
        """The endpoint that reads the given registry of this end (itself when it has at most
        one)."""
        if len(self.registry_uris) <= 1 or registry_uri is None:
            return self
        return self._registries[registry_uri]

    @property
    def identity(self) -> str:
        """Who this end is, without credentials: stored in provenance tags and the state store."""
        if self.tracking_uri.startswith("databricks"):
            host = os.environ.get("DATABRICKS_HOST", "")
            return f"databricks:{safe_uri(host) if host else self.tracking_uri}"
        return safe_uri(self.tracking_uri)

    @cached_property
    def store_key(self) -> str:
        """The store this end's tracking URI names, however spelled (`store_identity`): the state
        pair's key."""
        return store_key(self.tracking_uri)

    def store_uris(self) -> list[str]:
        """The URIs of the stores this end reads or writes: tracking store, each model registry."""
        registries = [with_databricks_profile(u, self.tracking_uri) for u in self.registry_uris]
        return list(dict.fromkeys([self.tracking_uri, *(u for u in registries if u)]))

    def store_keys(self) -> set[str]:
        """The stores this end reads or writes, each by its key (`store_identity.store_key`)."""
        return {store_key(u) for u in self.store_uris()}

    def artifact_repo(self, artifact_uri: str):
        """An artifact repository for an artifact URI, resolved against this end's tracking and
        registry URIs. Not for `models:/` URIs: MLflow resolves those through its process-wide
        registry URI.

        Databricks run and logged-model artifacts are read through the MLflow artifacts API
        (listings and batched signed read URLs, syncer/signed.py), not MLflow's default Files-API
        repository, which lists a directory it cannot see as empty instead of failing: that would
        skip files silently. Azure ML run artifacts (`azureml://`) go through the plugin's
        run-history client in this end's workspace (syncer/backends/azureml_runs.py)."""
        uri = add_databricks_profile_info_to_artifact_uri(artifact_uri, self.tracking_uri)
        if azureml_runs.is_run_artifacts(uri):
            store = self.client._tracking_client.store
            if hasattr(store, "service_context"):  # this end is the workspace (the plugin's store)
                return azureml_runs.run_repository(uri, store, self.tracking_uri)
        if uri.startswith("dbfs:") and is_databricks_acled_artifacts_uri(uri):
            # What MLflow's Databricks run and logged-model repositories fall back to; built
            # directly, since they would first build a Files-API client each (a WorkspaceClient:
            # credential chain, discovery).
            return DatabricksArtifactRepository(
                uri.rstrip("/"),
                tracking_uri=self.tracking_uri,
                registry_uri=self.resolved_registry_uri,
            )
        repo = get_artifact_repository(
            uri, tracking_uri=self.tracking_uri, registry_uri=self.resolved_registry_uri
        )
        self._share_server_capabilities(repo)
        return repo

    def _share_server_capabilities(self, repo) -> None:
        """A proxied-artifact repository asks its server's /server-info once per instance, so once
        per run: ask once per endpoint (one caller at a time asks) and hand the answer to every
        repository of the same server."""
        if not hasattr(repo, "_fetch_server_capabilities") or not hasattr(
            repo, "_server_capabilities"
        ):
            return
        server = repo.artifact_uri.partition("/api/2.0/mlflow-artifacts/artifacts")[0]
        with _ASKING:  # the first runs' repositories come together, one per worker
            known = self._server_capabilities.get(server)
            if known is None:
                known = self._server_capabilities[server] = repo._fetch_server_capabilities()
        repo._server_capabilities = known
