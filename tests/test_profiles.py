"""Capability profiles, the default experiment-name mapping, rate-limit classes and the fitting
policy."""

from __future__ import annotations

import pytest

from syncer.backends.http_meter import request_class
from syncer.backends.ratelimit import paced
from syncer.config import NameRule, dest_name, load_settings, name_rules
from syncer.core.capabilities import (
    AZURE_ML,
    DATABRICKS,
    FILE_STORE,
    PLAIN_MLFLOW,
    SQLITE_STORE,
    RateLimits,
    absent_kinds,
    absent_note,
    as_source_of,
    resolve,
    supports,
)
from syncer.core.errors import FatalError
from syncer.core.fitting import fit_run
from syncer.core.kinds import plural
from syncer.engine.sync import endpoints
from syncer.kinds.registry import KINDS


def test_databricks_default_name_mapping_and_user_rules_override():
    rules = name_rules([], DATABRICKS)
    assert dest_name("/Users/alice@corp.com/churn/exp1", rules) == "churn/exp1"
    assert dest_name("/Shared/team/exp", rules) == "Shared/team/exp"
    assert dest_name("/Repos/bob@corp.com/proj/exp", rules) == "Repos/bob@corp.com/proj/exp"
    own = [NameRule(match=r"^/Users/([^@]+)@[^/]+/", replace=r"\1/")]
    assert (
        dest_name("/Users/alice@corp.com/churn/exp1", name_rules(own, DATABRICKS))
        == "alice/churn/exp1"
    )
    assert dest_name("/plain/name", name_rules([], PLAIN_MLFLOW)) == "/plain/name"


def test_profiles_by_uri_and_by_name_with_rate_overrides():
    assert resolve("databricks").rate_limits == RateLimits(
        search=7.0, experiments=7.0, log_batch=47.0, other=127.0
    )
    assert resolve("databricks://prod").kind == "databricks"
    assert resolve("azureml://x.api.azureml.ms/mlflow/v1.0/s").auth == "azure"
    emulated = resolve("http://127.0.0.1:5000", "azureml")
    assert (
        emulated.tags_per_run == 50 and emulated.auth is None
    )  # limits of the service, auth of the URI
    tuned = resolve("databricks", rate_limits={"search": 2.0, "log_batch": None, "other": 0})
    # a search limit alone holds experiment management too, as one budget did before the split
    assert tuned.rate_limits == RateLimits(search=2.0, experiments=2.0, log_batch=47.0, other=0)
    apart = resolve("databricks", rate_limits={"search": 2.0, "experiments": 5.0})
    assert apart.rate_limits == RateLimits(search=2.0, experiments=5.0, log_batch=47.0, other=127.0)


def test_rate_limit_classes_follow_databricks_documentation():
    paths = [
        "/api/2.0/mlflow/runs/search",
        "/api/2.0/mlflow/experiments/search?max_results=1",
        "/api/2.0/mlflow/experiments/delete",
        "/api/2.0/mlflow/experiments/set-experiment-tag",
        "/api/2.0/mlflow/experiments/get-by-name?experiment_name=x",
        "/api/2.0/mlflow/runs/log-batch",
        "/api/2.0/mlflow/runs/create",
        "/api/2.0/mlflow/artifacts/list?run_id=1",
        "/api/2.0/mlflow/unity-catalog/registered-models/search",
        "/api/3.0/mlflow/traces/search",
        "/api/2.0/mlflow-artifacts/artifacts/1/a/mlflow/search",
        "/.well-known/databricks-config",
    ]
    assert [request_class(p) for p in paths] == [
        "search",
        "experiments",
        "experiments",
        "experiments",
        "experiments",
        "log_batch",
        "other",
        "other",
        "other",  # other kinds' searches: "all other APIs" (127/s), not search runs
        "other",
        "other",
        None,
    ]


def test_rate_limits_keep_the_service_rate_and_hold_back_a_quarter_second_of_burst():
    assert [paced(r) for r in (127.0, 7.0, 2.0)] == [(127.0, 95.25), (7.0, 5.25), (2.0, 1.5)]
    assert paced(1.0) == (0.8, 1.0)  # a burst of one is all there is: 1 s + 0.25 s between requests


def test_fit_run_is_identity_when_everything_fits():
    fitted = fit_run({"p": "1"}, {"t": "x" * 1000, "mlflow.source.name": "a.py"}, ["m"], AZURE_ML)
    assert (fitted.params, fitted.tags, fitted.metrics, fitted.notes, fitted.artifacts) == (
        {"p": "1"},
        {"t": "x" * 1000, "mlflow.source.name": "a.py"},
        ["m"],
        [],
        {},
    )


def test_fit_run_policy_on_azure_ml():
    tags = {f"t{i:02d}": "v" for i in range(45)} | {
        "mlflow.note.content": "n" * 1500,
        "mlflow.user": "me",
    }
    fitted = fit_run({"k" * 101: "v"}, tags, [f"m{i:02d}" for i in range(52)], AZURE_ML)
    assert len(fitted.tags) == 43 and fitted.tags["mlflow.note.content"].endswith("...[truncated]")
    assert len(fitted.tags["mlflow.note.content"]) == 1000 and "mlflow.user" not in fitted.tags
    assert fitted.artifacts["mlflow_syncer/truncated_tags/mlflow.note.content.txt"] == "n" * 1500
    assert sorted(fitted.artifacts) == [
        "mlflow_syncer/dropped_params.json",
        "mlflow_syncer/overflow_tags.json",
        "mlflow_syncer/truncated_tags/mlflow.note.content.txt",
    ]
    assert fitted.params == {} and fitted.dropped_metrics == ["m50", "m51"]
    assert len(fitted.notes) == 6
    assert fit_run({}, tags, [], DATABRICKS).tags == tags  # Databricks takes all of it


def test_rate_limits_and_profile_come_from_the_config_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "source: {tracking_uri: databricks, registry_uri: databricks-uc,"
        " rate_limits: {search: 2, other: 50}}\n"
        "destination: {tracking_uri: 'http://127.0.0.1:1', profile: azureml}\n"
    )
    src, dst = endpoints(load_settings(str(path)))
    assert src.caps.rate_limits == RateLimits(
        search=2.0, experiments=2.0, log_batch=47.0, other=50.0
    )
    assert set(src.limiter.buckets) == {"search", "experiments", "log_batch", "other"}
    assert dst.caps.kind == "azureml" and dst.caps.batch_metrics == 250
    path.write_text("source: {tracking_uri: databricks, rate_limits: {serch: 2}}\n")
    typo = (
        r"line 1: unknown option 'source.rate_limits.serch' \(did you mean "
        r"'source.rate_limits.search'\?\)"
    )
    with pytest.raises(FatalError, match=typo):
        load_settings(str(path))


COPIED = ("trace", "prompt", "dataset", "logged_model")


def test_what_each_profile_does_with_each_kind_is_the_kinds_declaration() -> None:
    assert KINDS  # the registry imported: every kind's declaration registered
    held = {
        caps.kind: [k for k in COPIED if supports(caps, k)]
        for caps in (PLAIN_MLFLOW, DATABRICKS, AZURE_ML, FILE_STORE, SQLITE_STORE)
    }
    assert held == {
        "mlflow": list(COPIED),
        "databricks": ["trace", "logged_model"],
        "azureml": [],
        "file-store": ["trace", "prompt", "logged_model"],
        "sqlite-store": list(COPIED),
    }
    assert [supports(c, "trace", "batch_read") for c in (PLAIN_MLFLOW, DATABRICKS)] == [True, False]
    assert [supports(c, "prompt", "registry") for c in (PLAIN_MLFLOW, DATABRICKS)] == [
        None,
        "databricks-uc",
    ]
    schemes = [supports(c, "permission", "scheme") for c in (PLAIN_MLFLOW, DATABRICKS, AZURE_ML)]
    assert schemes == ["basic-auth", "databricks", "workspace-roles"]
    assert supports(SQLITE_STORE, "permission", "scheme") is None
    assert supports(PLAIN_MLFLOW.without("prompt"), "prompt") is False
    # the record holds no per-kind field: every caller asks `supports`
    assert not any(hasattr(AZURE_ML, f) for f in ("traces", "prompts", "prompt_registry"))


def test_an_mlflow2_source_and_a_file_store_hold_no_mlflow3_kind() -> None:
    old = as_source_of(PLAIN_MLFLOW, "2.22.5")
    assert absent_kinds(as_source_of(PLAIN_MLFLOW, "3.1.0")) == frozenset()
    assert not supports(old, "logged_model") and supports(old, "trace") and supports(old, "prompt")
    assert absent_note(old, plural) == (
        "MLflow 2.22.5 server source: holds no MCP servers, evaluation datasets, gateway "
        "endpoints, gateway secrets, issues, label schemas, logged models, review queues, "
        "scorers, webhooks (not asked for)"
    )
    assert absent_kinds(FILE_STORE) == absent_kinds(old) - {"logged_model"}
