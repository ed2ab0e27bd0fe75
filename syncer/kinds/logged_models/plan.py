"""The pure planner for MLflow 3 logged models of the selected experiments (`logged_model` actions).

Every logged model of a selected experiment is planned here, whether or not a registered version
uses it: a version's logged model and a standalone one are made by the same applier and found again
by the same provenance tag (`mlflow_syncer.source_model_id`, set by `create_logged_model` itself),
so whichever comes first, the other finds the copy. A destination copy still PENDING is a half-made
copy (files or metrics missing): it is completed, never created again. Tags, params and metric
points are compared with what the destination search shows; a metric point needs the run that logged
it, so points of runs that are not copied are listed in the action (`metrics_not_copied`). Name,
model type and source run are set at creation.
"""

from __future__ import annotations

from collections import Counter

from syncer.core.actions import Action, Op
from syncer.core.capabilities import Capabilities, supports
from syncer.core.snapshot import Snapshot, user_tags
from syncer.kinds.logged_models.capabilities import KIND
from syncer.kinds.logged_models.snapshot import LoggedModelSnap
from syncer.plan.uncopied import missing_api, uncopied

PENDING = "PENDING"


def label(src: Snapshot, lm: LoggedModelSnap) -> str:
    """How reports name a source logged model: experiment, name and id (names are not unique)."""
    exp = src.experiments.get(lm.experiment_id)
    return f"{exp.name if exp else lm.experiment_id}/{lm.name} ({lm.model_id})"


def metric_points(lm: LoggedModelSnap, copied_runs: set[str]) -> tuple[Counter, int]:
    """The metric points a copy must hold (those of copied runs), and how many cannot be copied."""
    want = Counter(m.point for m in lm.metrics if m.run_id in copied_runs)
    return want, len(lm.metrics) - sum(want.values())


def _diff(lm: LoggedModelSnap, dest: LoggedModelSnap, want: Counter) -> dict:
    details: dict = {}
    if dest.status == PENDING:
        details["resume"] = True
    elif dest.status != lm.status:
        details["status"] = lm.status
    have_tags = user_tags(dest.tags)
    tags = sorted(k for k, v in user_tags(lm.tags).items() if have_tags.get(k) != v)
    removed = sorted(k for k in have_tags if k not in user_tags(lm.tags))
    params = sorted(k for k, v in lm.params.items() if dest.params.get(k) != v)
    missing = sum((want - Counter(m.point for m in dest.metrics)).values())
    for key, value in (
        ("tags", tags),
        ("tags_removed", removed),
        ("params", params),
        ("metrics", missing),
    ):
        if value:
            details[key] = value
    return details


def _plan_one(
    src: Snapshot,
    lm: LoggedModelSnap,
    copies: list[LoggedModelSnap],
    copied_runs: set[str],
    quarantined: frozenset[tuple[str, str]],
) -> Action:
    base = dict(
        kind="logged_model",
        label=label(src, lm),
        source_id=lm.model_id,
        experiment=lm.experiment_id,
    )
    if ("logged_model", lm.model_id) in quarantined:
        return Action(
            op=Op.ERROR, details={"reason": "quarantined after repeated failures"}, **base
        )
    if lm.status == PENDING:
        return Action(
            op=Op.ERROR, details={"reason": "source logged model is PENDING: not finalized"}, **base
        )
    want, uncopyable = metric_points(lm, copied_runs)
    note = (
        {
            "metrics_not_copied": uncopyable,
            "reason": "metric points logged by runs that are not copied",
        }
        if uncopyable
        else {}
    )
    if not copies:
        details = {
            "params": len(lm.params),
            "tags": len(user_tags(lm.tags)),
            "metrics": sum(want.values()),
        }
        return Action(
            op=Op.CREATE, details={**{k: v for k, v in details.items() if v}, **note}, **base
        )
    if len(copies) > 1:
        return Action(
            op=Op.CONFLICT,
            dest_id=copies[0].model_id,
            details={
                "reason": f"{len(copies)} copies in the destination",
                "dest_ids": [c.model_id for c in copies],
            },
            **base,
        )
    diff = _diff(lm, copies[0], want)
    return Action(
        op=Op.UPDATE if diff else Op.SAME,
        dest_id=copies[0].model_id,
        details={**diff, **note},
        **base,
    )


def plan_logged_models(
    src: Snapshot,
    dst: Snapshot,
    copied_runs: set[str],
    experiments: set[str | None],
    caps: Capabilities,
    quarantined: frozenset[tuple[str, str]] = frozenset(),
) -> list[Action]:
    """Plan the source logged models (`src.part("logged_model")`) of the plannable `experiments`.

    `dst.part("logged_model")` maps source model ids to their destination copies; `copied_runs`
    holds the source ids of the runs the plan copies (or copied). A destination without the
    logged-model API gets one uncopied action per experiment, counting its logged models.
    """
    models = sorted(
        (lm for lm in src.part("logged_model").values() if lm.experiment_id in experiments),
        key=lambda lm: (lm.experiment_id, lm.model_id),
    )
    if not supports(caps, KIND):
        per_exp = Counter(lm.experiment_id for lm in models)
        return [
            uncopied(
                "logged_model",
                n,
                missing_api("logged_model", caps),
                group=src.experiments[e].name,
                experiment=e,
            )
            for e, n in sorted(per_exp.items())
        ]
    copies = dst.part("logged_model")
    return [
        _plan_one(src, lm, copies.get(lm.model_id, []), copied_runs, quarantined) for lm in models
    ]
