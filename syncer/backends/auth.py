"""Start-up checks of each end's credentials and registry choice, chosen by capability data.

Databricks: the Databricks SDK's unified auth (DATABRICKS_HOST + DATABRICKS_TOKEN, OAuth client id
and secret, `~/.databrickscfg` profiles) must resolve, and the registry must be chosen explicitly; a
secret-scope URI (`databricks://<scope>:<prefix>`) is resolved by MLflow itself (dbutils secrets
`<prefix>-host` and `<prefix>-token`, inside a Databricks runtime only).
Azure: the azureml-mlflow plugin authenticates with the job's own token inside an Azure ML job
(MLFLOW_TRACKING_TOKEN with the run's variables: nothing to check), else with DefaultAzureCredential
for its cloud (`AZUREML_CURRENT_CLOUD`: authority and management scope), then an interactive browser
and a device-code prompt. The check asks the same DefaultAzureCredential for a token (service
principal secret or certificate, workload identity, managed identity including Azure ML compute's,
Azure CLI / PowerShell / azd logins; never interactive), so once it passes the plugin uses the same
credential and never prompts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from syncer.backends.first_contact import probe
from syncer.core import env_knobs
from syncer.core.errors import FatalError
from syncer.core.redact import redact

if TYPE_CHECKING:
    from syncer.backends.endpoint import Endpoint

AZURE_TIMEOUT = env_knobs.number("MLFLOW_SYNCER_AUTH_TIMEOUT")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return redact(text[0] if text else type(exc).__name__)[:300]


def check_databricks(endpoint: Endpoint) -> None:
    """Resolve Databricks unified auth for the endpoint's profile without any API call."""
    from databricks.sdk.core import Config

    profile = (
        urlparse(endpoint.tracking_uri).netloc
        or os.environ.get("DATABRICKS_CONFIG_PROFILE")
        or None
    )
    if profile and ":" in profile:
        return _check_secret_scope(endpoint)
    try:
        Config(profile=profile).authenticate()
    except Exception as exc:
        raise FatalError(
            f"{endpoint.role} {endpoint.tracking_uri}: no Databricks credentials "
            f"(set DATABRICKS_HOST and DATABRICKS_TOKEN, or a profile): {_first_line(exc)}"
        ) from None


def _check_secret_scope(endpoint: Endpoint) -> None:
    """`databricks://<scope>:<prefix>`: MLflow reads the host and token from that secret scope
    (dbutils)."""
    from mlflow.utils.databricks_utils import TrackingURIConfigProvider

    try:
        config = TrackingURIConfigProvider(endpoint.tracking_uri).get_config()
    except Exception as exc:
        config, why = None, _first_line(exc)
    else:
        why = "no Databricks runtime (dbutils) to read the secret scope"
    if config is None or not config.host:
        raise FatalError(
            f"{endpoint.role} {endpoint.tracking_uri}: a secret-scope URI reads the workspace's "
            "host and token from secrets '<prefix>-host' and '<prefix>-token' inside a Databricks "
            f"runtime only; elsewhere use a profile or DATABRICKS_HOST and DATABRICKS_TOKEN ({why})"
        )


def azure_cloud() -> tuple[str, str]:
    """The plugin's cloud as (authority host, management scope): `AZUREML_CURRENT_CLOUD`, else
    AzureCloud (the plugin would look the cloud up on the internet; a sovereign cloud names
    itself)."""
    try:
        from azureml.mlflow._common._cloud.cloud import KNOWN_CLOUDS, _get_cloud_or_default
    except ImportError:  # no plugin (an Azure Blob store alone): the public cloud
        return "login.microsoftonline.com", "https://management.azure.com/.default"
    name = os.environ.get("AZUREML_CURRENT_CLOUD") or "AzureCloud"
    cloud = KNOWN_CLOUDS.get(name) or _get_cloud_or_default(name)
    return cloud._get_authority(), cloud._get_default_scope()


def in_azureml_job() -> bool:
    """Does the plugin authenticate with an Azure ML job's own token (its
    `_mlflow_env_vars_set`)?"""
    try:
        from azureml.mlflow._internal.service_context_loader import _mlflow_env_vars_set
    except ImportError:
        return False
    return _mlflow_env_vars_set()


def azure_credential():
    """The non-interactive part of the plugin's credential chain: DefaultAzureCredential for its
    cloud."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(authority=azure_cloud()[0])


def check_azure(endpoint: Endpoint) -> None:
    """Get one token from a non-interactive credential, or fail with one clear line."""
    if in_azureml_job():
        return
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(lambda: azure_credential().get_token(azure_cloud()[1]))
    try:
        future.result(timeout=AZURE_TIMEOUT)
    except FutureTimeout:
        raise FatalError(
            f"{endpoint.role}: no Azure credential answered within {AZURE_TIMEOUT:.0f} s "
            "(service principal env vars, workload or managed identity, az login)"
        ) from None
    except Exception as exc:
        raise FatalError(
            f"{endpoint.role} {urlparse(endpoint.tracking_uri).scheme}://...: no usable Azure "
            "credential: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or "
            "AZURE_CLIENT_CERTIFICATE_PATH), use a workload or managed identity, or `az login` "
            f"(interactive logins are never used): {_first_line(exc)}"
        ) from None
    finally:
        pool.shutdown(wait=False)


def check_registry(endpoint: Endpoint) -> None:
    """Ends with several registries (Databricks: workspace or Unity Catalog) need an explicit
    choice; only such a source may read more than one."""
    uris = endpoint.registry_uris
    if len(uris) > 1 and (endpoint.role == "destination" or not endpoint.caps.registry_choices):
        raise FatalError(
            f"{endpoint.role}: registry_uri names {len(uris)} registries; only a Databricks "
            "source may read several ([databricks, databricks-uc])"
        )
    choices = endpoint.caps.registry_choices
    if not choices:
        return
    for uri in uris or [None]:
        scheme = urlparse(uri or "").scheme or (uri or "")
        if scheme not in choices:
            options = " or ".join(f"'{c}'" for c in choices)
            raise FatalError(
                f"{endpoint.role}: choose the model registry explicitly: registry_uri {options}"
                f" or both (got {uri!r})"
            )


CHECKS: dict[str, Callable[[Endpoint], None]] = {
    "databricks": check_databricks,
    "azure": check_azure,
}


def check(endpoint: Endpoint, online: bool = True) -> None:
    """Run the start-up checks that the endpoint's capabilities ask for; `online`: also get
    credentials and make the first contact (resolve and connect, `first_contact.probe`)."""
    check_registry(endpoint)
    if endpoint.caps.auth and (online or endpoint.caps.auth == "databricks"):
        CHECKS[endpoint.caps.auth](endpoint)
    if online:
        probe(endpoint)
