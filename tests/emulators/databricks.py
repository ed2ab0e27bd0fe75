"""Databricks-like rules: bearer-token auth, the API only under /api/2.0/mlflow/ (`apis`: a gateway
serving the v3 trace routes or the managed-evals dataset listing adds their prefixes, see
dbx_traces.py and managed_evals.py; anything else answers 404 ENDPOINT_NOT_FOUND, as for the v4
trace API), per-class rate limits answered with HTTP 429 + Retry-After (Databricks' four
documented groups, each a budget of its own: 7/s experiment management (list, update, delete,
restore: class `experiments`), 7/s search runs (`search`), 47/s log batch, 127/s all other APIs;
https://docs.azure.cn/zh-cn/databricks/dev-tools/api/latest/mlflow "Rate limits").

Permissions (`admin`, `hidden_experiments`): a non-admin caller's experiment search silently leaves
out the experiments it may not view, and a direct access to one (get, get-by-name, runs/search
naming it) answers HTTP 403 `{"error_code": "PERMISSION_DENIED", "message": ...}`, Databricks' error
shape (https://docs.databricks.com/api/account/errors; the message as in the Databricks knowledge
base,
https://docs.azure.cn/zh-cn/databricks/kb/machine-learning/mlflow-artifacts-permission-denied). `GET
/api/2.0/preview/scim/v2/Me` answers the caller with its groups (SCIM API,
https://docs.databricks.com/dev-tools/api/latest/scim.html); workspace admins, the `admins` group,
hold CAN MANAGE on every object (https://docs.databricks.com/user-guide/secrets/secret-acl.html).
`runs_refused`: experiments that are listed but whose runs/search answers that 403 (a permission
revoked between the listing and the run scan), for admins too.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections import defaultdict
from urllib.parse import parse_qs

from tests.emulators.gateway import Bucket, Gateway, Reply, Request, Rules, error

API = "/api/2.0/mlflow/"
ME = "/api/2.0/preview/scim/v2/Me"
EXPERIMENT_PATHS = (
    "experiments/search",
    "experiments/list",
    "experiments/update",
    "experiments/delete",
    "experiments/restore",
    "experiments/get-by-name",
)


RATES = {"experiments": 7.0, "search": 7.0, "log_batch": 47.0, "other": 127.0}


def basic_auth(header: str) -> tuple[str, str]:
    try:
        user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    except ValueError:
        return "", ""
    return user, password


def rate_class(path: str) -> str:
    rest = path.removeprefix(API)
    if rest.startswith("runs/search"):
        return "search"
    if rest.startswith(EXPERIMENT_PATHS):
        return "experiments"
    return "log_batch" if rest.startswith("runs/log-batch") else "other"


class DatabricksRules(Rules):
    """Answer like a Databricks workspace in front of the real server."""

    def __init__(
        self, token: str, rates: dict[str, float] | None = None, retry_after: int = 1
    ) -> None:
        self.token = token
        self.service_principals: dict[str, str] = {}  # OAuth M2M: client id -> secret
        self.issued: dict[str, float] = {}  # OAuth token -> monotonic time it stops being accepted
        self.token_lifetime: tuple[int, float] = (
            3600,
            float("inf"),
        )  # (expires_in announced, accepted for s)
        self.retry_after = retry_after
        self.set_rates(rates or dict(RATES))
        self.always_429: set[str] = set()
        self.apis: tuple[str, ...] = (
            API,
        )  # path prefixes served; more with the trace routes (dbx_traces)
        # the caller is in the `admins` group (SCIM Me); else listings are filtered
        self.admin = True
        self.hidden_experiments: set[str] = set()  # experiment ids a non-admin caller may not view
        self.runs_refused: set[str] = (
            set()
        )  # experiments listed, whose runs/search answers 403 (revoked since)

    def set_rates(self, rates: dict[str, float]) -> None:
        """Limit each class to `rates[class]` per second (bursts of that many); arrivals are
        recorded anew."""
        self.buckets = {name: Bucket(rate) for name, rate in rates.items()}
        self.arrivals: defaultdict[str, list[float]] = defaultdict(
            list
        )  # class -> monotonic arrival times

    def busiest_second(self) -> dict[str, int]:
        """Per class, the most requests that arrived within any one second since the rates were
        set."""
        return {cls: most_within(times, 1.0) for cls, times in self.arrivals.items()}

    def check(self, req: Request, gateway: Gateway) -> Reply | None:
        if req.path == "/.well-known/databricks-config":  # the SDK's unauthenticated host discovery
            return Reply(
                200, {"oidc_endpoint": f"{gateway.url}/oidc", "workspace_id": "1234567890123456"}
            )
        if req.path.startswith("/oidc/"):
            return self.oauth(req, gateway)
        bearer = req.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer != self.token and self.issued.get(bearer, 0.0) < time.monotonic():
            gateway.count("401 expired" if bearer in self.issued else "401 unknown")
            return error(401, "UNAUTHENTICATED", "Invalid access token.")
        denied = self.denied(req, gateway)
        if denied is not None:
            gateway.count("403 denied")
            return denied
        if not req.path.startswith(self.apis) and req.path != ME:
            return error(404, "ENDPOINT_NOT_FOUND", f"No API found for '{req.method} {req.path}'")
        cls = rate_class(req.path)
        gateway.count(f"class {cls}")
        self.arrivals[cls].append(time.monotonic())
        wait = self.buckets[cls].take() if cls in self.buckets else 0.0
        if cls in self.always_429 or wait > 0:
            gateway.count(f"429 {cls}")
            return error(
                429,
                "REQUEST_LIMIT_EXCEEDED",
                f"Too many requests ({cls}). Please retry later.",
                **{"Retry-After": str(self.retry_after)},
            )
        if req.path == ME:
            groups = [{"display": "admins" if self.admin else "users", "value": "1"}]
            return Reply(200, {"userName": "syncer@example.com", "active": True, "groups": groups})
        return None

    def hidden(self) -> set[str]:
        return set() if self.admin else self.hidden_experiments

    def denied(self, req: Request, gateway: Gateway) -> Reply | None:
        """HTTP 403 PERMISSION_DENIED for a direct access to an experiment the caller may not
        view."""
        hidden = self.hidden()
        if req.path == f"{API}runs/search" and self.runs_refused & set(
            req.json().get("experiment_ids", [])
        ):
            hidden = hidden | self.runs_refused
        if not hidden or not req.path.startswith(API):
            return None
        rest, params = req.path.removeprefix(API), {k: v[0] for k, v in parse_qs(req.query).items()}
        wanted: set[str] = set()
        if rest == "experiments/get":
            wanted = {params.get("experiment_id", "")}
        elif rest == "experiments/get-by-name":
            found = gateway.upstream_json("GET", req.path, params=params).get("experiment", {})
            wanted = {found.get("experiment_id", "")}
        elif rest == "runs/search":
            wanted = set(req.json().get("experiment_ids", []))
        refused = sorted(wanted & hidden)
        if not refused:
            return None
        return error(
            403,
            "PERMISSION_DENIED",
            f"User syncer@example.com does not have permission to 'View' experiment with id "
            f"{refused[0]}",
        )

    def rewrite(self, req: Request, content: bytes) -> bytes:
        """A non-admin's experiment search leaves out, silently, the experiments it may not view."""
        hidden = self.hidden()
        if not hidden or req.path.removeprefix(API) not in (
            "experiments/search",
            "experiments/list",
        ):
            return content
        try:
            body = json.loads(content)
        except ValueError:
            return content
        body["experiments"] = [
            e for e in body.get("experiments", []) if e.get("experiment_id") not in hidden
        ]
        return json.dumps(body).encode()

    def oauth(self, req: Request, gateway: Gateway) -> Reply:
        """The workspace's OAuth server: discovery, and client-credentials tokens for service
        principals."""
        if req.path == "/oidc/.well-known/oauth-authorization-server":
            return Reply(
                200,
                {
                    "authorization_endpoint": f"{gateway.url}/oidc/v1/authorize",
                    "token_endpoint": f"{gateway.url}/oidc/v1/token",
                },
            )
        if req.path != "/oidc/v1/token" or req.method != "POST":
            return error(404, "ENDPOINT_NOT_FOUND", f"No API found for '{req.method} {req.path}'")
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        client_id, secret = basic_auth(req.headers.get("Authorization", ""))
        client_id, secret = (
            client_id or form.get("client_id", ""),
            secret or form.get("client_secret", ""),
        )
        if (
            form.get("grant_type") != "client_credentials"
            or self.service_principals.get(client_id) != secret
            or not client_id
        ):
            return Reply(
                401,
                {"error": "invalid_client", "error_description": "Client authentication failed"},
            )
        token = f"oauth-{secrets.token_hex(16)}"
        expires_in, accepted_for = self.token_lifetime
        self.issued[token] = time.monotonic() + accepted_for
        return Reply(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": expires_in,
                "scope": form.get("scope", "all-apis"),
            },
        )


def most_within(times: list[float], window: float) -> int:
    """The most of `times` that fall within any interval of `window` seconds (both ends
    included)."""
    ordered, most, first = sorted(times), 0, 0
    for last, t in enumerate(ordered):
        while t - ordered[first] > window:
            first += 1
        most = max(most, last - first + 1)
    return most
