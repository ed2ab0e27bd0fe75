"""Whether the source's listings show everything: a non-admin principal's listings leave out
silently what it may not see (Databricks: experiments without CAN_READ, models without permission),
so its counts and copies exclude those. Where the source says so (`Capabilities.acl_me_path`), the
principal's groups are asked once per full pass (Databricks SCIM `Me`: workspace admins are the
members of the `admins` group); a non-admin gets one `unlisted` experiment row in the plan and the
report, and the reason is kept in the state store for `status` (`VISIBILITY`).
"""

from __future__ import annotations

from mlflow.utils.rest_utils import http_request, verify_rest_response

from syncer.backends.calls import call
from syncer.backends.classify import describe
from syncer.backends.endpoint import Endpoint
from syncer.core.errors import FatalError
from syncer.kinds.inventory.listing import Listed

ADMINS = "admins"
# state store cursor: why the source's listings may be incomplete ("": complete)
VISIBILITY = "source:visibility"
NOT_ADMIN = (
    "the source principal is not a workspace admin: its listings leave out the experiments, runs "
    "and models it may not see, which are neither counted nor copied"
)


def _groups(endpoint: Endpoint, path: str) -> set[str]:
    store = endpoint.client._tracking_client.store
    response = http_request(store.get_host_creds(), path, "GET")
    me = verify_rest_response(response, path).json()
    return {str(g.get("display", "")) for g in me.get("groups", [])}


def visibility(endpoint: Endpoint) -> Listed | None:
    """An `unlisted` experiment row when the source's listings are filtered for a non-admin caller,
    else None."""
    path = endpoint.caps.acl_me_path
    if path is None:
        return None
    try:
        groups = call(endpoint, "who am I", lambda: _groups(endpoint, path))
    except FatalError:
        raise
    except Exception as exc:  # the warning stays, with why admin-ness is unknown
        return Listed(
            "experiment", None, why=f"{NOT_ADMIN} (admin or not is unknown: {describe(exc)})"
        )
    return None if ADMINS in groups else Listed("experiment", None, why=NOT_ADMIN)
