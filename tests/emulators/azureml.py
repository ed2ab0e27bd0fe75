"""Azure-ML-like rules: the limits of the Azure ML MLflow endpoint, enforced for real in front of a
real server, so that mlflow-syncer's policies are exercised against rejections rather than assumed.

Rejected (400 INVALID_PARAMETER_VALUE): tag keys over 100 or values over 1,000 characters, more than
250 metric rows in one batch, more than 50 tags or 50 metric names per run, setting `mlflow.user`,
renaming experiments or registered models, experiment names over 256 characters; experiment tags:
more than 50, keys over 250 or values over 1,000 characters (all:
learn.microsoft.com/azure/machine-learning/ resource-limits-capacity); more than 200 params per run,
"A field of the entity is over the size limit. FieldName=Parameters, Limit=200, Size=210."
(Azure/azure-sdk-for-python#35685). Traces: 403. Logged models: 404 with an empty body. 429 +
Retry-After on `log-batch` above a rate (`set_log_batch_rate`). Search filters outside Azure ML's
support matrix: 400. Write-once artifacts: tests/emulators/azureml_blobs.py. Quietly dropped like
the service does: `mlflow.source.*` and `mlflow.user` tags passed to create_run.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from tests.emulators.gateway import Bucket, Gateway, Reply, Request, Rules, error

API = "/api/2.0/mlflow/"
LOGGED_MODELS = ("/api/2.0/mlflow/logged-models", "/api/3.0/mlflow/logged-models")
NOT_FOUND = (
    "/api/2.0/mlflow/experiments/update",
    "/api/2.0/mlflow/registered-models/rename",
    "/api/2.0/mlflow/webhooks",
    *(
        f"/api/3.0/mlflow/{api}"
        for api in (
            "datasets",
            "scorers",
            "issues",
            "label-schemas",
            "review-queues",
            "mcp-servers",
            "gateway",
        )
    ),
)
FORBIDDEN = ("/api/2.0/mlflow/traces", "/api/3.0/mlflow/traces")


def invalid(message: str) -> Reply:
    return error(400, "INVALID_PARAMETER_VALUE", message)


def unsupported(flt: str) -> Reply:
    """Azure ML's answer to a search filter it does not take (azure-sdk-for-python#42155)."""
    return error(
        400,
        "INVALID_PARAMETER_VALUE",
        "Currently unsupported filter string format (we currently do not "
        f"support OR). Provided filter string: {flt}",
    )


# Azure ML's run-search support matrix (azure-sdk-for-python#41453;
# learn.microsoft.com/azure/machine-learning/ how-to-track-experiments-mlflow, "Support matrix"):
# AND only, no `!=` or LIKE on tags, no quoted keys, order_by on attributes only.
_OR = re.compile(r"\bOR\b", re.IGNORECASE)
_TAG_OPS = re.compile(r"\btags?\.\S+\s*(!=|\bI?LIKE\b)", re.IGNORECASE)
_QUOTED_KEY = re.compile(r"\b(tags?|params?|metrics?)\.[`\"]")


class AzureMLRules(Rules):
    """Answer like the Azure ML MLflow endpoint in front of the real server."""

    def __init__(
        self,
        tag_key_len: int = 100,
        tag_value_len: int = 1000,
        batch_metrics: int = 250,
        tags_per_run: int = 50,
        metric_names_per_run: int = 50,
        name_len: int = 256,
        params_per_run: int = 200,
    ) -> None:
        self.tag_key_len, self.tag_value_len = tag_key_len, tag_value_len
        self.batch_metrics, self.tags_per_run = batch_metrics, tags_per_run
        self.metric_names_per_run, self.name_len = metric_names_per_run, name_len
        self.params_per_run = params_per_run
        self.experiment_tags, self.experiment_tag_key_len, self.experiment_tag_value_len = (
            50,
            250,
            1000,
        )
        # set_log_batch_rate: 429 + Retry-After above that rate
        self.log_batch: Bucket | None = None

    def set_log_batch_rate(self, rate: float | None) -> None:
        """Answer `log-batch` above `rate` per second with 429 and Retry-After, as the service does
        at volume (mlflow/mlflow#11462: "Too many 429 error responses from Azure mlflow API"); None:
        never."""
        self.log_batch = Bucket(rate) if rate else None

    def _experiment_tags(
        self, gateway: Gateway, experiment_id: str | None, tags: list[dict]
    ) -> Reply | None:
        for t in tags:
            key, value = t.get("key", ""), t.get("value", "")
            if len(key) > self.experiment_tag_key_len:
                return invalid(
                    f"Experiment tag key exceeds {self.experiment_tag_key_len} characters"
                )
            if len(value) > self.experiment_tag_value_len:
                return invalid(
                    f"Experiment tag {key} exceeds the limit of {self.experiment_tag_value_len} "
                    "characters"
                )
        have: set[str] = set()
        if experiment_id:
            exp = gateway.upstream_json(
                "GET", API + "experiments/get", params={"experiment_id": experiment_id}
            )
            have = {t["key"] for t in exp.get("experiment", {}).get("tags", [])}
        if len(have | {t.get("key", "") for t in tags}) > self.experiment_tags:
            return invalid(f"An experiment can have at most {self.experiment_tags} tags")
        return None

    def _params(self, gateway: Gateway, run_id: str, params: list[dict]) -> Reply | None:
        if not params:
            return None
        run = gateway.upstream_json("GET", API + "runs/get", params={"run_id": run_id}).get(
            "run", {}
        )
        size = len(
            {p["key"] for p in run.get("data", {}).get("params", [])} | {p["key"] for p in params}
        )
        if size <= self.params_per_run:
            return None
        gateway.count("400 params per run")
        return invalid(
            f"A field of the entity is over the size limit. FieldName=Parameters, "
            f"Limit={self.params_per_run}, Size={size}. See "
            f"https://aka.ms/azure-machine-learning-limits "
            "for service limits documentation."
        )

    def _tags(self, tags: list[dict]) -> Reply | None:
        for t in tags:
            key, value = t.get("key", ""), t.get("value", "")
            if key == "mlflow.user":
                return invalid("Tag mlflow.user is reserved and cannot be set")
            if len(key) > self.tag_key_len:
                return invalid(f"Tag key exceeds {self.tag_key_len} characters")
            if len(value) > self.tag_value_len:
                return invalid(f"Tag value of {key} exceeds {self.tag_value_len} characters")
        return None

    def _per_run(
        self, gateway: Gateway, run_id: str, tags: list[dict], metrics: list[dict]
    ) -> Reply | None:
        run = gateway.upstream_json("GET", API + "runs/get", params={"run_id": run_id}).get(
            "run", {}
        )
        data = run.get("data", {})
        tag_keys = {t["key"] for t in data.get("tags", [])} | {t["key"] for t in tags}
        if len(tag_keys) > self.tags_per_run:
            return invalid(
                f"A run can have at most {self.tags_per_run} tags ({len(tag_keys)} requested)"
            )
        names = {m["key"] for m in data.get("metrics", [])} | {m["key"] for m in metrics}
        if len(names) > self.metric_names_per_run:
            return invalid(f"A run can have at most {self.metric_names_per_run} metric names")
        return None

    def _run_search(self, gateway: Gateway, flt: str, order_by: list[str]) -> Reply | None:
        if _OR.search(flt) or _TAG_OPS.search(flt) or _QUOTED_KEY.search(flt):
            gateway.count("400 runs/search filter")
            return unsupported(flt)
        for item in order_by:
            if item.split(".", 1)[0].lower() in (
                "metrics",
                "metric",
                "params",
                "param",
                "tags",
                "tag",
            ):
                gateway.count("400 runs/search order_by")
                return invalid(f"Ordering by {item} is not supported: order by attributes")
        return None

    def check(self, req: Request, gateway: Gateway) -> Reply | None:
        if req.path.startswith(FORBIDDEN):
            gateway.count(f"403 {req.path}")
            return error(
                403,
                "PERMISSION_DENIED",
                "MLflow tracing is not supported in Azure Machine Learning",
            )
        if req.path.startswith(
            LOGGED_MODELS
        ):  # 404 with an empty body (Azure/azure-sdk-for-python#44896)
            gateway.count(f"404 {req.path}")
            return Reply(404, b"")
        if req.path.startswith(NOT_FOUND):
            gateway.count(f"404 {req.path}")
            return error(
                404, "ENDPOINT_NOT_FOUND", f"{req.path} is not supported by Azure Machine Learning"
            )
        if req.path == API + "registered-models/search":
            flt = "".join(parse_qs(req.query).get("filter", []))
            if re.search(r"\btags?\.", flt):
                gateway.count("400 registered-models/search tag filter")
                return unsupported(flt)
        if not req.path.startswith(API) or req.method != "POST":
            return None
        body = req.json()
        op = req.path[len(API) :]
        if op == "runs/search":
            return self._run_search(gateway, body.get("filter") or "", body.get("order_by") or [])
        if op == "experiments/create" and len(body.get("name", "")) > self.name_len:
            return invalid(f"Experiment name exceeds {self.name_len} characters")
        if op == "experiments/create":
            return self._experiment_tags(gateway, None, body.get("tags", []))
        if op == "experiments/set-experiment-tag":
            return self._experiment_tags(gateway, body.get("experiment_id"), [body])
        if op == "runs/log-parameter":
            return self._params(gateway, body.get("run_id", ""), [body])
        if op == "runs/create":
            kept = [
                t
                for t in body.get("tags", [])
                if not t["key"].startswith("mlflow.source.") and t["key"] != "mlflow.user"
            ]
            gateway.count(f"dropped on create {len(body.get('tags', [])) - len(kept)}")
            body["tags"] = kept
            req.set_json(body)
            return self._tags(kept)
        if op == "runs/set-tag":
            tag = [{"key": body.get("key", ""), "value": body.get("value", "")}]
            return self._tags(tag) or self._per_run(gateway, body.get("run_id", ""), tag, [])
        if (
            op == "runs/log-batch"
            and self.log_batch is not None
            and (wait := self.log_batch.take()) > 0
        ):
            gateway.count("429 log-batch")
            return error(
                429,
                "REQUEST_LIMIT_EXCEEDED",
                "Too many requests",
                **{"Retry-After": str(int(wait) + 1)},
            )
        if op == "runs/log-batch":
            metrics, tags = body.get("metrics", []), body.get("tags", [])
            if len(metrics) > self.batch_metrics:
                return invalid(f"A batch can hold at most {self.batch_metrics} metric rows")
            return (
                self._tags(tags)
                or self._per_run(gateway, body.get("run_id", ""), tags, metrics)
                or self._params(gateway, body.get("run_id", ""), body.get("params", []))
            )
        return None


class AzureMLWorkspace(Rules):
    """The workspace addressing and auth of the real service, for the azureml-mlflow plugin: the API
    lives under
    `/mlflow/v2.0/subscriptions/<s>/resourceGroups/<g>/providers/Microsoft.MachineLearningServices/
    workspaces/<w>/api/2.0/mlflow/...` and every call carries a bearer token issued by Microsoft
    Entra ID (here: one of `tokens`, handed out by the managed-identity emulator,
    tests/emulators/identity.py)."""

    def __init__(self, scope: str, tokens: list[str]) -> None:
        self.scope, self.tokens = scope, tokens

    def check(self, req: Request, gateway: Gateway) -> Reply | None:
        prefix = f"/mlflow/v2.0{self.scope}"
        if not req.path.startswith(prefix + "/"):
            return error(404, "ENDPOINT_NOT_FOUND", f"No workspace at {req.path}")
        if req.headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            return error(401, "UNAUTHENTICATED", "The access token is missing or invalid.")
        gateway.count("workspace call")
        req.path = req.path[len(prefix) :]
        return None
