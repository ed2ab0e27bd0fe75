"""Start-up checks of each end's credentials and registry choice, chosen by capability data.

Databricks: the Databricks SDK's unified auth (DATABRICKS_HOST + DATABRICKS_TOKEN, OAuth client id and
secret, `~/.databrickscfg` profiles) must resolve, and the registry must be chosen explicitly.
Azure: a service principal (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET), workload identity or
managed identity must hand out a token. The azureml-mlflow plugin walks DefaultAzureCredential and then
an interactive browser and a device-code prompt; DefaultAzureCredential tries exactly these three first,
so once this check passes the plugin uses the same credential and never prompts.
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

AZURE_SCOPE = "https://management.azure.com/.default"
AZURE_TIMEOUT = env_knobs.number("MLFLOW_SYNCER_AUTH_TIMEOUT")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return redact(text[0] if text else type(exc).__name__)[:300]


def check_databricks(endpoint: Endpoint) -> None:
    """Resolve Databricks unified auth for the endpoint's profile without any API call."""
    from databricks.sdk.core import Config

    profile = urlparse(endpoint.tracking_uri).netloc or os.environ.get("DATABRICKS_CONFIG_PROFILE") or None
    try:
        Config(profile=profile).authenticate()
    except Exception as exc:  # noqa: BLE001
        raise FatalError(f"{endpoint.role} {endpoint.tracking_uri}: no Databricks credentials "
                         f"(set DATABRICKS_HOST and DATABRICKS_TOKEN, or a profile): {_first_line(exc)}") from None


def azure_credential():  # noqa: ANN201
    """The non-interactive Azure credentials mlflow-syncer accepts, in DefaultAzureCredential's order."""
    from azure.identity import (
        ChainedTokenCredential,
        EnvironmentCredential,
        ManagedIdentityCredential,
        WorkloadIdentityCredential,
    )

    chain = [EnvironmentCredential()]
    if os.environ.get("AZURE_FEDERATED_TOKEN_FILE"):
        chain.append(WorkloadIdentityCredential())
    # A user-assigned identity is named by AZURE_CLIENT_ID, as DefaultAzureCredential (the plugin) names it.
    chain.append(ManagedIdentityCredential(client_id=os.environ.get("AZURE_CLIENT_ID") or None))
    return ChainedTokenCredential(*chain)


def check_azure(endpoint: Endpoint) -> None:
    """Get one token from a non-interactive credential, or fail with one clear line."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(lambda: azure_credential().get_token(AZURE_SCOPE))
    try:
        future.result(timeout=AZURE_TIMEOUT)
    except FutureTimeout:
        raise FatalError(f"{endpoint.role}: no Azure credential answered within {AZURE_TIMEOUT:.0f} s "
                         "(service principal env vars or managed identity)") from None
    except Exception as exc:  # noqa: BLE001
        raise FatalError(f"{endpoint.role} {urlparse(endpoint.tracking_uri).scheme}://...: no usable Azure "
                         "credential: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or run "
                         f"with a managed identity (interactive logins are never used): {_first_line(exc)}"
                         ) from None
    finally:
        pool.shutdown(wait=False)


def check_registry(endpoint: Endpoint) -> None:
    """Ends with several registries (Databricks: workspace or Unity Catalog) need an explicit choice; only
    such a source may read more than one."""
    uris = endpoint.registry_uris
    if len(uris) > 1 and (endpoint.role == "destination" or not endpoint.caps.registry_choices):
        raise FatalError(f"{endpoint.role}: registry_uri names {len(uris)} registries; only a Databricks "
                         "source may read several ([databricks, databricks-uc])")
    choices = endpoint.caps.registry_choices
    if not choices:
        return
    for uri in uris or [None]:
        scheme = urlparse(uri or "").scheme or (uri or "")
        if scheme not in choices:
            options = " or ".join(f"'{c}'" for c in choices)
            raise FatalError(f"{endpoint.role}: choose the model registry explicitly: registry_uri {options}"
                             f" or both (got {uri!r})")


CHECKS: dict[str, Callable[[Endpoint], None]] = {"databricks": check_databricks, "azure": check_azure}


def check(endpoint: Endpoint, online: bool = True) -> None:
    """Run the start-up checks that the endpoint's capabilities ask for; `online`: also get credentials and
    make the first contact (resolve and connect, `first_contact.probe`)."""
    check_registry(endpoint)
    if endpoint.caps.auth and (online or endpoint.caps.auth == "databricks"):
        CHECKS[endpoint.caps.auth](endpoint)
    if online:
        probe(endpoint)
