"""Extra copies of a run left by a create whose answer was lost are retired; real complete
duplicates conflict."""

from __future__ import annotations

from mlflow import MlflowClient
from mlflow.entities import ViewType

from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.core.snapshot import (
    TAG_DUPLICATE_OF,
    TAG_FINGERPRINT,
    TAG_RETIRED,
    TAG_SOURCE_RUN_ID,
    RunSnap,
)
from syncer.engine.sync import sync
from syncer.plan.copies import split_copies
from tests.compare import assert_same
from tests.fixtures.workload import make_workload


def _snap(run_id: str, tags: dict, params: int = 0, deleted: bool = False) -> RunSnap:
    return RunSnap(
        run_id,
        "1",
        "r",
        "FINISHED",
        1,
        2,
        "deleted" if deleted else "active",
        "",
        params={f"p{i}": "v" for i in range(params)},
        tags=tags,
    )


def test_split_copies_keeps_the_complete_or_fullest_copy():
    empty, full = (
        _snap("a", {TAG_SOURCE_RUN_ID: "s"}),
        _snap("b", {TAG_SOURCE_RUN_ID: "s"}, params=3),
    )
    assert split_copies([empty, full]) == ([full], ["a"])
    done = _snap("c", {TAG_SOURCE_RUN_ID: "s", TAG_FINGERPRINT: "f"})
    assert split_copies([full, done]) == ([done], ["b"])
    assert split_copies([empty, _snap("d", {TAG_SOURCE_RUN_ID: "s"})]) == ([empty], ["d"])
    twice = _snap("e", {TAG_SOURCE_RUN_ID: "s", TAG_FINGERPRINT: "f"})
    assert split_copies([done, twice]) == ([done, twice], [])
    marked = _snap("m", {TAG_SOURCE_RUN_ID: "s", TAG_DUPLICATE_OF: "c"})
    gone = _snap("g", {TAG_SOURCE_RUN_ID: "s", TAG_DUPLICATE_OF: "c"}, deleted=True)
    assert split_copies([done, marked, gone]) == ([done], ["m"])
    # a copy retired as unwritable: never planned with again; still live (killed before its
    # deletion): deleted
    set_aside = _snap(
        "x", {TAG_SOURCE_RUN_ID: "s", TAG_RETIRED: "unwritable-artifact"}, deleted=True
    )
    assert split_copies([set_aside]) == ([], [])
    assert split_copies([empty, set_aside]) == ([empty], [])
    half = _snap("y", {TAG_SOURCE_RUN_ID: "s", TAG_RETIRED: "unwritable-artifact"}, params=3)
    assert split_copies([half, empty]) == ([empty], ["y"])


def test_leftover_copy_is_retired_and_complete_duplicates_are_a_conflict(
    source_server, dest_server, unique_name, tmp_path
):
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    w = make_workload(src, unique_name, runs_per_experiment=1)
    settings = Settings(
        source=EndpointConfig(tracking_uri=source_server.url),
        destination=EndpointConfig(tracking_uri=dest_server.url),
        state=f"sqlite:///{tmp_path / 's.db'}",
        experiments=[f"{unique_name}/*"],
    )
    assert not sync(settings).failed
    exp_id = dst.get_experiment_by_name(w.experiments[0]).experiment_id
    source_id = w.runs["a-0"]
    (kept,) = dst.search_runs([exp_id], f"tags.`{TAG_SOURCE_RUN_ID}` = '{source_id}'")
    leftover = dst.create_run(
        exp_id, start_time=kept.info.start_time, tags={TAG_SOURCE_RUN_ID: source_id}
    )

    result = sync(settings)
    assert not result.failed
    assert [
        a.details["duplicates"] for a in result.plan.actions if a.details.get("duplicates")
    ] == [[leftover.info.run_id]]
    gone = dst.get_run(leftover.info.run_id)
    assert (
        gone.info.lifecycle_stage == "deleted"
        and gone.data.tags[TAG_DUPLICATE_OF] == kept.info.run_id
    )
    assert_same(src, dst, w.experiments)
    assert all(a.op is Op.SAME for a in sync(settings, dry_run=True).plan.actions)

    twin = dst.create_run(
        exp_id,
        start_time=kept.info.start_time,
        tags={TAG_SOURCE_RUN_ID: source_id, TAG_FINGERPRINT: kept.data.tags[TAG_FINGERPRINT]},
    )
    plan = sync(settings, dry_run=True).plan
    (conflict,) = [a for a in plan.actions if a.op is Op.CONFLICT]
    assert conflict.details["reason"] == "2 copies in the destination"
    assert sorted(conflict.details["dest_ids"]) == sorted([kept.info.run_id, twin.info.run_id])
    live = dst.search_runs(
        [exp_id], f"tags.`{TAG_SOURCE_RUN_ID}` = '{source_id}'", ViewType.ACTIVE_ONLY
    )
    assert len(live) == 2
