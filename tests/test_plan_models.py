"""The pure model planner on hand-made snapshots: matching, resumption, numbering, stages,
collisions."""

from __future__ import annotations

from syncer.core.actions import Op
from syncer.core.capabilities import AZURE_ML, PLAIN_MLFLOW
from syncer.core.fitting import expected_version
from syncer.core.model_snapshot import (
    TAG_SOURCE_MODEL,
    TAG_SOURCE_STAGE,
    TAG_SOURCE_VERSION,
    ModelOptions,
    ModelSnap,
    VersionSnap,
)
from syncer.core.snapshot import TAG_FINGERPRINT, RunSnap, Snapshot
from syncer.kinds.models.plan import plan_models

ART = "mlflow-artifacts:/1/r1/artifacts"


def _source() -> Snapshot:
    snap = Snapshot(identity="src")
    snap.runs["r1"] = RunSnap("r1", "1", "train", "FINISHED", 1, 2, "active", ART)
    versions = {
        "1": VersionSnap("1", "models:/m-1", "r1", "READY"),
        "2": VersionSnap(
            "2",
            f"{ART}/exported",
            "r1",
            "READY",
            description="d",
            stage="Production",
            tags={"q": "ok"},
        ),
        "3": VersionSnap("3", "s3://bucket/elsewhere", None, "READY"),
    }
    snap.part("model")["churn"] = ModelSnap(
        "churn", "desc", {"team": "risk"}, {"champion": "2"}, versions
    )
    return snap


def _by_label(actions) -> dict:
    return {(a.kind, a.label): a for a in actions}


def _copy_of(src_version: VersionSnap, number: str, fp: str | None, **extra) -> VersionSnap:
    tags = {**src_version.tags, TAG_SOURCE_MODEL: "churn", TAG_SOURCE_VERSION: src_version.version}
    if fp:
        tags[TAG_FINGERPRINT] = fp
    return VersionSnap(
        number,
        "runs:/x/y",
        None,
        "READY",
        description=src_version.description,
        stage=src_version.stage,
        tags=tags,
        **extra,
    )


def test_new_model_creates_every_version_in_order_with_files_from_the_destination():
    actions = plan_models(_source(), {}, {"churn": "churn"}, {"r1"}, PLAIN_MLFLOW)
    assert [(a.kind, a.op, a.label) for a in actions] == [
        ("model", Op.CREATE, "churn"),
        ("model_version", Op.CREATE, "churn/v1"),
        ("model_version", Op.CREATE, "churn/v2"),
        ("model_version", Op.CREATE, "churn/v3"),
    ]
    assert [a.details["files"] for a in actions[1:]] == ["logged_model", "run", "holder"]
    azure = plan_models(_source(), {}, {"churn": "churn"}, set(), AZURE_ML)
    assert [a.details["files"] for a in azure[1:]] == ["holder", "holder", "holder"]


def test_rerun_is_same_and_a_half_made_version_is_completed_not_created_again():
    src = _source()
    first = _by_label(plan_models(src, {}, {"churn": "churn"}, {"r1"}, PLAIN_MLFLOW))
    v = src.part("model")["churn"].versions
    dest = ModelSnap(
        "churn",
        "desc",
        {"team": "risk"},
        {"champion": "2"},
        {
            "1": _copy_of(v["1"], "1", first[("model_version", "churn/v1")].fingerprint),
            "2": _copy_of(v["2"], "2", first[("model_version", "churn/v2")].fingerprint),
            "3": _copy_of(v["3"], "3", first[("model_version", "churn/v3")].fingerprint),
        },
    )
    again = plan_models(src, {"churn": dest}, {"churn": "churn"}, {"r1"}, PLAIN_MLFLOW)
    assert {a.op for a in again} == {Op.SAME}
    half = _copy_of(v["3"], "3", None)
    dest.versions["3"] = half
    resumed = _by_label(plan_models(src, {"churn": dest}, {"churn": "churn"}, {"r1"}, PLAIN_MLFLOW))
    assert resumed[("model_version", "churn/v3")].op is Op.UPDATE
    assert resumed[("model_version", "churn/v3")].details == {"resume": True}
    assert resumed[("model_version", "churn/v3")].dest_id == "3"


def test_foreign_versions_are_reported_and_aliases_follow_provenance_not_numbers():
    src = _source()
    first = _by_label(plan_models(src, {}, {"churn": "churn"}, {"r1"}, PLAIN_MLFLOW))
    v = src.part("model")["churn"].versions
    foreign = VersionSnap("1", "runs:/other/model", None, "READY")
    copies = {
        str(n + 1): _copy_of(v[s], str(n + 1), first[("model_version", f"churn/v{s}")].fingerprint)
        for n, s in ((1, "1"), (2, "2"))
    }
    dest = ModelSnap("churn", "desc", {"team": "risk"}, {"champion": "2"}, {"1": foreign, **copies})
    actions = _by_label(plan_models(src, {"churn": dest}, {"churn": "churn"}, {"r1"}, PLAIN_MLFLOW))
    model = actions[("model", "churn")]
    assert model.op is Op.UPDATE and model.details["aliases"] == [
        "champion"
    ]  # dest v2 copies source v1
    assert model.details["foreign_versions"] == 1
    assert actions[("model_version", "churn/v2")].op is Op.SAME
    assert actions[("model_version", "churn/v2")].dest_id == "3"
    assert actions[("model_version", "churn/v3")].op is Op.CREATE
    assert (
        actions[("model_version", "churn/v3")].details["dest_version"] == 4
    )  # after the foreign v1
    dest.aliases.update(champion="3", old="2", users="1")  # "old" was ours, "users" is not a copy
    details = _by_label(
        plan_models(src, {"churn": dest}, {"churn": "churn"}, {"r1"}, PLAIN_MLFLOW)
    )[("model", "churn")].details
    assert "aliases" not in details and details["aliases_removed"] == ["old"]


def test_stage_policy_and_destinations_without_stages():
    v = _source().part("model")["churn"].versions["2"]
    assert expected_version(v, PLAIN_MLFLOW, ModelOptions())["stage"] == "Production"
    no_stages = PLAIN_MLFLOW.with_overrides(stages=False)
    tagged = expected_version(v, no_stages, ModelOptions())
    assert (tagged["stage"], tagged["tags"][TAG_SOURCE_STAGE]) == ("None", "Production")
    assert TAG_SOURCE_STAGE in expected_version(v, PLAIN_MLFLOW, ModelOptions(stages="tag"))["tags"]
    skipped = expected_version(v, PLAIN_MLFLOW, ModelOptions(stages="skip"))
    assert skipped["stage"] == "None" and TAG_SOURCE_STAGE not in skipped["tags"]


def test_name_collisions_and_versions_gone_from_the_source():
    src = _source()
    src.part("model")["main.ml.churn"] = ModelSnap("main.ml.churn")
    actions = plan_models(
        src, {}, {"churn": "churn", "main.ml.churn": "churn"}, {"r1"}, PLAIN_MLFLOW
    )
    assert [(a.kind, a.op) for a in actions] == [("model", Op.ERROR), ("model", Op.ERROR)]
    del src.part("model")["main.ml.churn"]
    dest = ModelSnap(
        "churn", versions={"9": _copy_of(VersionSnap("7", "x", None, "READY"), "9", "fp")}
    )
    gone = _by_label(plan_models(src, {"churn": dest}, {"churn": "churn"}, {"r1"}, PLAIN_MLFLOW))
    assert gone[("model_version", "churn/v9")].op is Op.EXTRA
