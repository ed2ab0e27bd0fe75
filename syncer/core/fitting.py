"""Fit source values to what the destination accepts, following a documented policy.

The policy (docs/DATABRICKS_AZUREML.md), applied identically by the planner (so a copy
compares equal to its fitted source) and by the executor; nothing here aborts a run half-copied:

* a tag the destination cannot set (Azure ML: `mlflow.user`) is dropped; elsewhere `mlflow.user` is
  rewritten through the principal map's explicit entries (`Capabilities.user_map`,
  docs/PERMISSIONS.md);
* a tag or param whose value is too long is truncated (`...[truncated]` marks the cut) and its full
  value saved as a run artifact `mlflow_syncer/truncated_tags/<key>.txt` (params:
  `truncated_params/`);
* a tag or param whose key is too long is not logged; key and value go to
  `mlflow_syncer/dropped_tags.json` / `dropped_params.json`;
* params beyond the destination's params-per-run limit (Azure ML: 200) are not logged, kept by key;
  they go to `mlflow_syncer/overflow_params.json`;
* tags beyond the destination's tags-per-run budget (its limit minus the tags the server and
  mlflow-syncer need) are not logged, `mlflow.*` tags first kept, then by key; they go to
  `mlflow_syncer/overflow_tags.json`;
* metrics beyond the metric-names-per-run limit (kept in key order) or with too long keys are not
  logged; their full histories go to `mlflow_syncer/dropped_metrics/<key>.csv`.

Experiment tags follow the same rules with the experiment limits (`fit_experiment_tags`): a value
too long is truncated (an MLflow UI saved view, `mlflow.sharedViewState.*`, is not set at all: a cut
view does not load), a key too long or a tag beyond the per-experiment count is not set; the full
values of every such tag go to a file of the experiment's holder run in the destination's archive
experiment (syncer.apply.experiment_tags).

Every decision is a one-line note shown in the plan and the reports (Action.details["policy"]).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from syncer.core.capabilities import Capabilities
from syncer.core.model_snapshot import NO_STAGE, TAG_SOURCE_STAGE, ModelOptions, VersionSnap
from syncer.core.snapshot import user_tags

TRUNCATION_SUFFIX = "...[truncated]"
# rewritten through the principal map where the destination has one (user_map)
USER_TAG = "mlflow.user"
POLICY_DIR = "mlflow_syncer"


def fit_value(value: str, limit: int) -> str:
    """Truncate a value to `limit` characters, marking that it was cut."""
    if len(value) <= limit:
        return value
    return value[: max(0, limit - len(TRUNCATION_SUFFIX))] + TRUNCATION_SUFFIX


@dataclass
class Fitted:
    """A run's params, tags and metric names as the destination will hold them, and why."""

    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)
    dropped_metrics: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)  # run artifact path -> text


def _short(key: str) -> str:
    return key if len(key) <= 60 else key[:57] + "..."


def _fit_values(
    kind: str, values: dict[str, str], caps: Capabilities, value_len: int, out: Fitted
) -> dict:
    kept: dict[str, str] = {}
    dropped: dict[str, str] = {}
    for k, v in sorted(values.items()):
        if kind == "tag" and k in caps.unsettable_tags:
            out.notes.append(f"tag {k} dropped: not settable on {caps.kind}")
        elif len(k) > caps.key_len:
            dropped[k] = v
            out.notes.append(
                f"{kind} {_short(k)} not logged: key longer than {caps.key_len} characters; "
                f"saved in {POLICY_DIR}/dropped_{kind}s.json"
            )
        elif len(v) > value_len:
            kept[k] = fit_value(v, value_len)
            path = f"{POLICY_DIR}/truncated_{kind}s/{k}.txt"
            out.artifacts[path] = v
            out.notes.append(
                f"{kind} {_short(k)} truncated to {value_len} characters; full value in {path}"
            )
        else:
            kept[k] = v
    if dropped:
        out.artifacts[f"{POLICY_DIR}/dropped_{kind}s.json"] = json.dumps(
            dropped, indent=1, sort_keys=True
        )
    return kept


def _tag_budget(tags: dict[str, str], caps: Capabilities, out: Fitted) -> dict[str, str]:
    if caps.tags_per_run is None:
        return tags
    budget = max(0, caps.tags_per_run - caps.reserved_run_tags)
    if len(tags) <= budget:
        return tags
    order = sorted(tags, key=lambda k: (not k.startswith("mlflow."), k))
    keep, over = order[:budget], order[budget:]
    out.artifacts[f"{POLICY_DIR}/overflow_tags.json"] = json.dumps(
        {k: tags[k] for k in over}, indent=1, sort_keys=True
    )
    out.notes.append(
        f"{len(over)} tags not logged: {caps.kind} takes {caps.tags_per_run} tags per run "
        f"({budget} left for copied tags); saved in {POLICY_DIR}/overflow_tags.json"
    )
    return {k: tags[k] for k in keep}


def _param_budget(params: dict[str, str], caps: Capabilities, out: Fitted) -> dict[str, str]:
    limit = caps.params_per_run
    if limit is None or len(params) <= limit:
        return params
    keys = sorted(params)
    path = f"{POLICY_DIR}/overflow_params.json"
    out.artifacts[path] = json.dumps({k: params[k] for k in keys[limit:]}, indent=1, sort_keys=True)
    out.notes.append(
        f"{len(keys) - limit} params not logged: {caps.kind} takes {limit} params per run; "
        f"saved in {path}"
    )
    return {k: params[k] for k in keys[:limit]}


def _fit_metrics(keys: list[str], caps: Capabilities, out: Fitted) -> None:
    ok = [k for k in sorted(keys) if len(k) <= caps.key_len]
    limit = caps.metric_keys_per_run
    out.metrics = ok if limit is None else ok[:limit]
    out.dropped_metrics = sorted(set(keys) - set(out.metrics))
    for k in out.dropped_metrics:
        why = (
            f"key longer than {caps.key_len} characters"
            if len(k) > caps.key_len
            else f"{caps.kind} takes {limit} metric names per run"
        )
        out.notes.append(f"metric {_short(k)} not logged: {why}; history in {metric_artifact(k)}")


def metric_artifact(key: str) -> str:
    """Where the history of a metric that the destination cannot take is saved."""
    return f"{POLICY_DIR}/dropped_metrics/{key}.csv"


def fit_run(
    params: dict[str, str], tags: dict[str, str], metric_keys: list[str], caps: Capabilities
) -> Fitted:
    """Apply the policy to one run's user params, user tags and metric names."""
    out = Fitted()
    out.params = _param_budget(
        _fit_values("param", params, caps, caps.param_value_len, out), caps, out
    )
    out.tags = _tag_budget(_fit_values("tag", tags, caps, caps.run_tag_value_len, out), caps, out)
    if caps.user_map and out.tags.get(USER_TAG) in dict(caps.user_map):
        out.tags[USER_TAG] = dict(caps.user_map)[out.tags[USER_TAG]]
    _fit_metrics(list(metric_keys), caps, out)
    return out


def expected_tags(tags: dict[str, str], caps: Capabilities) -> dict[str, str]:
    """The user tags of a source run as they will look in the destination."""
    return fit_run({}, tags, [], caps).tags


UI_VIEW_PREFIX = "mlflow.sharedViewState."
EXPERIMENT_OWN_TAGS = 2  # mlflow-syncer's provenance tags on every experiment copy


@dataclass
class FittedExperiment:
    """An experiment's user tags as the destination will hold them, the notes, and the full values
    of the tags not held whole (key -> value)."""

    tags: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    full: dict[str, str] = field(default_factory=dict)


def _fit_experiment_tag(k: str, v: str, caps: Capabilities, out: FittedExperiment) -> None:
    if len(k) > caps.experiment_tag_key_len:
        out.full[k] = v
        out.notes.append(
            f"experiment tag {_short(k)} not set: key longer than {caps.experiment_tag_key_len} "
            "characters"
        )
    elif len(v) > caps.experiment_tag_value_len:
        out.full[k] = v
        if k.startswith(UI_VIEW_PREFIX):
            out.notes.append(
                f"experiment tag {_short(k)} not set: an MLflow UI view of {len(v)} characters "
                f"(limit {caps.experiment_tag_value_len})"
            )
        else:
            out.tags[k] = fit_value(v, caps.experiment_tag_value_len)
            out.notes.append(
                f"experiment tag {_short(k)} truncated to {caps.experiment_tag_value_len} "
                f"characters"
            )
    else:
        out.tags[k] = v


def fit_experiment_tags(tags: dict[str, str], caps: Capabilities) -> FittedExperiment:
    """Apply the policy to one experiment's user tags (the full values of those cut or left out in
    `full`)."""
    out = FittedExperiment()
    for k, v in sorted(tags.items()):
        _fit_experiment_tag(k, v, caps, out)
    if caps.experiment_tags is not None:
        budget = max(0, caps.experiment_tags - EXPERIMENT_OWN_TAGS)
        order = sorted(out.tags, key=lambda k: (not k.startswith("mlflow."), k))
        for k in order[budget:]:
            out.full[k] = tags[k]
            del out.tags[k]
        if len(order) > budget:
            out.notes.append(
                f"{len(order) - budget} experiment tags not set: {caps.kind} takes "
                f"{caps.experiment_tags} tags per experiment ({budget} left for copied tags)"
            )
    if out.full:
        out.notes.append(
            f"full values of {len(out.full)} experiment tags in {experiment_tags_file(out.full)} "
            "of the experiment's holder run in the destination's archive experiment"
        )
    return out


def experiment_tags_file(full: dict[str, str]) -> str:
    """The holder-run file keeping the full values of an experiment's tags not held whole: named by
    a hash of its content, so a changed value goes to a new file (artifacts may be write-once)."""
    digest = hashlib.sha256(json.dumps(full, sort_keys=True).encode()).hexdigest()[:12]
    return f"experiment_tags.{digest}.json"


def experiment_name_problem(name: str, caps: Capabilities) -> str | None:
    """Why a destination experiment name cannot be used there (None: it can)."""
    if caps.experiment_name_len is not None and len(name) > caps.experiment_name_len:
        return (
            f"name longer than {caps.experiment_name_len} characters on {caps.kind}: "
            "add an experiment_names rule"
        )
    if not name.strip():
        return "empty experiment name: add an experiment_names rule"
    return None


_VALID_KEY = re.compile(r"^[/\w.\- :]*$")


def key_violations(keys: list[str]) -> list[str]:
    """Keys no MLflow server accepts (older or hand-written stores can hold them): the run cannot be
    copied."""
    return [
        f"key {k[:60]!r} holds characters MLflow refuses (allowed: letters, digits, _ - . space : "
        f"/)"
        for k in sorted(set(keys))
        if not _VALID_KEY.match(k)
    ]


def expected_version(v: VersionSnap, caps: Capabilities, options: ModelOptions) -> dict:
    """A version's copied content as it should look in the destination (tags include the stage
    tag)."""
    tags = dict(sorted(user_tags(v.tags).items()))
    stage = NO_STAGE
    if v.stage != NO_STAGE and options.stages != "skip":
        if caps.stages and options.stages == "copy":
            stage = v.stage
        else:
            tags[TAG_SOURCE_STAGE] = v.stage
    return {"description": v.description, "tags": tags, "stage": stage}
