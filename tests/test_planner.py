"""Planner decisions on plain data: for each kind, when the plan says = + * - !, and the details
that say why.

No server, no network: snapshots are built by hand (tests/fixtures/snapshots.py). The
registered-model basics (files modes, resumption, numbering, name collisions) are in
test_plan_models.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from syncer.core.actions import Action, Op, Plan
from syncer.core.capabilities import AZURE_ML, PLAIN_MLFLOW, Capabilities
from syncer.core.model_snapshot import TAG_SOURCE_STAGE, ModelSnap, VersionSnap
from syncer.core.snapshot import (
    PARENT_TAG,
    TAG_DUPLICATE_OF,
    TAG_FINGERPRINT,
    TAG_SOURCE_RUN_ID,
    RunSnap,
    Snapshot,
)
from syncer.plan.copies import split_copies
from tests.fixtures.snapshots import (
    act,
    copy_of,
    experiment,
    plan,
    plan_model,
    run,
    snapshot,
    synced,
    synced_models,
    version,
    version_copy,
)

QUARANTINED = {"reason": "quarantined after repeated failures"}
EMPTY = Snapshot("dst")


def _source() -> Snapshot:
    """Experiment `churn` with a parent run `p` and its child `c`, which started before its
    parent."""
    return snapshot(
        "src",
        experiment("1", "churn", team="risk"),
        run("p", params={"lr": "0.1"}, tags={"note": "a"}, metrics={"loss": (0.5, 1500, 3)}),
        run("c", parent="p", start=900),
    )


def _rows(actions: Plan | list[Action]) -> list[tuple[str, str, str | None]]:
    return [(a.kind, a.sigil, a.key[1]) for a in getattr(actions, "actions", actions)]


# --- experiments and ordering
# ---------------------------------------------------------------------------


def test_new_source_creates_experiments_first_then_parents_before_children():
    p = plan(_source(), EMPTY)
    assert _rows(p) == [("experiment", "+", "1"), ("run", "+", "p"), ("run", "+", "c")]
    assert [a.depth for a in p.actions] == [0, 0, 1]
    assert act(p, "experiment", "1").details == {"tags": ["team"]}
    assert act(p, "run", "p").details == {
        "params": 1,
        "tags": 1,
        "metrics": ["loss"],
        "status": "FINISHED",
    }
    assert act(p, "run", "c").details == {
        "params": 0,
        "tags": 0,
        "metrics": [],
        "status": "FINISHED",
    }
    assert (act(p, "run", "c").label, act(p, "run", "c").experiment) == ("churn/c", "1")


def test_runs_are_ordered_by_depth_then_start_time_across_experiments():
    src = _source()
    src.experiments["2"] = experiment("2", "alpha")
    for r in (run("g", parent="c", start=800), run("s", start=500), run("a", "2", start=700)):
        src.runs[r.run_id] = r
    p = plan(src, EMPTY)
    assert [a.key[1] for a in p.actions] == [
        "2",
        "1",
        "s",
        "a",
        "p",
        "c",
        "g",
    ]  # experiments by name
    assert [a.depth for a in p.actions if a.kind == "run"] == [0, 0, 0, 1, 2]


def test_a_parent_cycle_plans_each_run_once():
    src = snapshot("src", experiment("1", "churn"), run("a", parent="b"), run("b", parent="a"))
    assert sorted((a.key[1], a.depth) for a in plan(src, EMPTY).actions if a.kind == "run") == [
        ("a", 1),
        ("b", 0),
    ]


def test_in_sync_destination_is_all_same():
    src = _source()
    p = plan(src, synced(src))
    assert p.in_sync and p.mutating() == []
    assert _rows(p) == [("experiment", "=", "1"), ("run", "=", "p"), ("run", "=", "c")]
    assert [(a.dest_id, a.details) for a in p.actions] == [("d1", {}), ("d-p", {}), ("d-c", {})]


def test_experiment_tags_changed_in_the_source_are_an_update_and_destination_only_tags_are_kept():
    src = _source()
    dst = synced(src)
    src.experiments["1"].tags.update(team="fraud", owner="ann")
    dst.experiments["d1"].tags["local"] = "x"
    e = act(plan(src, dst), "experiment", "1")
    assert (e.sigil, e.op, e.details) == ("*", Op.UPDATE, {"tags": ["owner", "team"]})


def test_experiment_deleted_in_the_source_is_created_or_updated_with_delete():
    src = _source()
    dst = synced(src)
    src.experiments["1"].lifecycle_stage = "deleted"
    assert act(plan(src, dst), "experiment", "1").details == {"delete": True}
    created = act(plan(src, EMPTY), "experiment", "1")
    assert (created.op, created.details) == (Op.CREATE, {"tags": ["team"], "delete": True})


def test_experiment_deleted_in_the_destination_is_a_conflict_unless_deleted_in_the_source_too():
    src = _source()
    dst = synced(src)
    dst.experiments["d1"].lifecycle_stage = "deleted"
    e = act(plan(src, dst), "experiment", "1")
    assert (e.sigil, e.op, e.dest_id) == ("!", Op.CONFLICT, "d1")
    assert e.details == {
        "reason": "a deleted experiment of that name exists in the destination; restore or purge it"
    }
    src.experiments["1"].lifecycle_stage = "deleted"
    assert act(plan(src, dst), "experiment", "1").op is Op.SAME


def test_quarantined_experiment_is_an_error_and_its_runs_are_not_planned():
    p = plan(_source(), EMPTY, quarantined=frozenset({("experiment", "1")}))
    assert _rows(p) == [("experiment", "!", "1")]
    assert p.actions[0].op is Op.ERROR and p.actions[0].details == QUARANTINED


def test_renamed_experiment_is_matched_by_its_destination_name():
    src = _source()
    dst = synced(src)
    dst.experiments["d1"].name = "prod/churn"
    dst.experiments["d9"] = experiment(
        "d9", "churn"
    )  # the source name means nothing in the destination
    p = plan(src, dst, names={"1": "prod/churn"})
    e = act(p, "experiment", "1")
    assert (e.op, e.label, e.dest_id) == (Op.SAME, "prod/churn", "d1")
    assert p.in_sync and p.dest_names == {"1": "prod/churn"}


def test_two_source_experiments_mapped_to_one_name_are_errors_and_their_runs_are_not_planned():
    src = _source()
    src.experiments["2"] = experiment("2", "churn-old")
    src.runs["o"] = run("o", "2")
    p = plan(src, EMPTY, names={"1": "churn", "2": "churn"})
    assert _rows(p) == [("experiment", "!", "1"), ("experiment", "!", "2")]
    assert {a.op for a in p.actions} == {Op.ERROR}
    assert p.actions[0].details == {"reason": "several source experiments map to 'churn'"}


@pytest.mark.parametrize(
    "caps, name, op, details",
    [
        (
            AZURE_ML,
            "x" * 257,
            Op.ERROR,
            {"reason": "name longer than 256 characters on azureml: add an experiment_names rule"},
        ),
        (AZURE_ML, "x" * 256, Op.CREATE, {"tags": ["team"]}),
        (PLAIN_MLFLOW, "x" * 257, Op.CREATE, {"tags": ["team"]}),
        (
            PLAIN_MLFLOW,
            "  ",
            Op.ERROR,
            {"reason": "empty experiment name: add an experiment_names rule"},
        ),
    ],
)
def test_experiment_name_is_checked_against_the_destination(
    caps: Capabilities, name: str, op: Op, details: dict
):
    p = plan(_source(), EMPTY, caps, names={"1": name})
    assert (p.actions[0].op, p.actions[0].label, p.actions[0].details) == (op, name, details)
    assert len(p.actions) == (1 if op is Op.ERROR else 3)


# --- runs: updates
# -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, details",
    [
        (lambda r: r.tags.update(note="b"), {"tags_changed": ["note"]}),
        (lambda r: r.tags.update(new="x"), {"tags_missing": ["new"]}),
        (lambda r: r.metrics.update(acc=(0.9, 1600, 1)), {"metrics_missing": ["acc"]}),
        (lambda r: r.metrics.update(loss=(0.4, 1700, 4)), {"metrics_changed": ["loss"]}),
        (lambda r: setattr(r, "status", "FAILED"), {"fields": ["status"]}),
        (lambda r: setattr(r, "end_time", 5000), {"fields": ["end_time"]}),
    ],
)
def test_source_run_changes_are_updates_that_name_what_changed(
    change: Callable[[RunSnap], None], details: dict
):
    src = _source()
    dst = synced(src)
    change(src.runs["p"])
    p = plan(src, dst)
    r = act(p, "run", "p")
    assert (r.sigil, r.op, r.dest_id, r.details) == ("*", Op.UPDATE, "d-p", details)
    assert r.fingerprint != dst.runs["d-p"].tags[TAG_FINGERPRINT]
    assert [a.op for a in p.actions if a is not r] == [Op.SAME, Op.SAME]


def test_source_run_moved_under_another_parent_is_an_update_of_the_parent_field():
    src = _source()
    src.runs["q"] = run("q", start=1)
    dst = synced(src)
    src.runs["c"].tags[PARENT_TAG] = "q"
    assert act(plan(src, dst), "run", "c").details == {"fields": ["parent"]}


@pytest.mark.parametrize(
    "strip, details",
    [
        (lambda r: None, {"resume": True}),
        (lambda r: r.metrics.clear(), {"resume": True, "metrics_missing": ["loss"]}),
        (lambda r: r.params.clear(), {"resume": True, "params_missing": ["lr"]}),
    ],
)
def test_half_made_copy_without_fingerprint_is_resumed(
    strip: Callable[[RunSnap], None], details: dict
):
    src = _source()
    dst = synced(src)
    dst.runs["d-p"] = copy_of(src.runs["p"], None)
    strip(dst.runs["d-p"])
    r = act(plan(src, dst), "run", "p")
    assert (r.op, r.dest_id, r.details) == (Op.UPDATE, "d-p", details)


@pytest.mark.parametrize(
    "since, op, details",
    [
        (None, Op.SAME, {}),
        (1500, Op.UPDATE, {"follow": True}),  # the last metric point is at 1500
        (1501, Op.SAME, {}),
    ],
)
def test_running_run_is_followed_while_it_changes(since: int | None, op: Op, details: dict):
    src = snapshot(
        "src",
        experiment("1", "churn"),
        run("p", status="RUNNING", metrics={"loss": (0.5, 1500, 3)}),
    )
    r = act(plan(src, synced(src), follow_running_since=since), "run", "p")
    assert (r.op, r.details) == (op, details)


@pytest.mark.parametrize(
    "edit, diff",
    [
        (lambda r: r.params.update(lr="9"), {"params_changed": ["lr"]}),
        (lambda r: r.tags.update(note="edited"), {"tags_changed": ["note"]}),
        (lambda r: r.metrics.clear(), {"metrics_missing": ["loss"]}),
        (lambda r: setattr(r, "name", "renamed"), {"fields": ["name"]}),
    ],
)
def test_copy_edited_in_the_destination_is_a_conflict(edit: Callable[[RunSnap], None], diff: dict):
    src = _source()
    dst = synced(src)
    edit(dst.runs["d-p"])
    r = act(plan(src, dst), "run", "p")
    assert (r.sigil, r.op, r.dest_id) == ("!", Op.CONFLICT, "d-p")
    assert r.details == {"reason": "edited in the destination", **diff}


def test_tags_added_in_the_destination_only_are_not_an_edit():
    src = _source()
    dst = synced(src)
    dst.runs["d-p"].tags["reviewed"] = "yes"
    assert plan(src, dst).in_sync


def test_copy_fitted_to_azure_ml_is_same_and_the_plan_says_what_was_cut():
    src = _source()
    src.runs["p"].tags["long"] = "x" * 1500
    r = act(plan(src, synced(src, AZURE_ML), AZURE_ML), "run", "p")
    assert (r.op, r.details) == (
        Op.SAME,
        {
            "policy": [
                "tag long truncated to 1000 characters; full value in "
                "mlflow_syncer/truncated_tags/long.txt"
            ]
        },
    )


# --- runs: deleted, quarantined, extra
# -----------------------------------------------------------------


def _with_deleted_run(copy: str, deleted: str) -> tuple[Snapshot, Snapshot]:
    """A source with run `x` deleted; the destination holds no copy of it, a live copy or a deleted
    one."""
    src = _source()
    src.runs["x"] = run("x", deleted=copy == "deleted copy")
    dst = synced(src, deleted=deleted) if copy != "no copy" else synced(_source())
    src.runs["x"].lifecycle_stage = "deleted"
    return src, dst


@pytest.mark.parametrize(
    "copy, deleted, delete_extra, expected",
    [
        ("no copy", "skip", False, None),
        (
            "no copy",
            "mirror",
            False,
            ("+", {"params": 0, "tags": 0, "metrics": [], "status": "FINISHED", "delete": True}),
        ),
        ("live copy", "skip", False, ("-", {"reason": "deleted in the source"})),
        ("live copy", "mirror", False, ("*", {"delete": True})),
        ("deleted copy", "skip", False, None),
        ("deleted copy", "mirror", False, ("=", {})),
    ],
)
def test_run_deleted_in_the_source(
    copy: str, deleted: str, delete_extra: bool, expected: tuple | None
):
    src, dst = _with_deleted_run(copy, deleted)
    p = plan(src, dst, deleted=deleted, delete_extra=delete_extra)
    found = [(a.sigil, a.details) for a in p.actions if a.key == ("run", "x")]
    assert found == ([expected] if expected else [])


def test_copy_of_a_run_deleted_in_the_source_is_deleted_with_delete_extra():
    src, dst = _with_deleted_run("live copy", "skip")
    r = act(plan(src, dst, delete_extra=True), "run", "x")
    assert (r.sigil, r.op, r.dest_id, r.details) == (
        "-",
        Op.DELETE,
        "d-x",
        {"reason": "deleted in the source"},
    )


def test_run_deleted_in_the_destination_is_a_conflict():
    src = _source()
    dst = synced(src)
    dst.runs["d-p"].lifecycle_stage = "deleted"
    r = act(plan(src, dst), "run", "p")
    assert (r.sigil, r.op, r.dest_id, r.details) == (
        "!",
        Op.CONFLICT,
        "d-p",
        {"reason": "deleted in the destination"},
    )


def test_quarantined_run_is_an_error_and_its_copy_is_not_an_extra():
    src = _source()
    p = plan(src, synced(src), quarantined=frozenset({("run", "c")}), delete_extra=True)
    assert _rows(p) == [("experiment", "=", "1"), ("run", "=", "p"), ("run", "!", "c")]
    assert (p.actions[2].op, p.actions[2].details) == (Op.ERROR, QUARANTINED)


@pytest.mark.parametrize("delete_extra, ours", [(False, Op.EXTRA), (True, Op.DELETE)])
def test_runs_only_in_the_destination_are_extra_and_only_copies_are_ever_deleted(
    delete_extra: bool, ours: Op
):
    src = _source()
    dst = synced(src)
    gone = copy_of(run("gone"), "fp")
    foreign = run("f", "d1")
    dead = run("f2", "d1", deleted=True)
    retired = run("r2", "d1", tags={TAG_SOURCE_RUN_ID: "p", TAG_DUPLICATE_OF: "d-p"})
    for r in (gone, foreign, dead, retired):
        dst.runs[r.run_id] = r
    extras = [
        a
        for a in plan(src, dst, delete_extra=delete_extra).actions
        if a.op in (Op.EXTRA, Op.DELETE)
    ]
    assert [(a.sigil, a.op, a.key[1], a.dest_id, a.label, a.details) for a in extras] == [
        ("-", ours, "gone", "d-gone", "churn/gone", {"reason": "no longer in the source"}),
        ("-", Op.EXTRA, "dest:f", "f", "churn/f", {"reason": "not created by mlflow-syncer"}),
    ]


# --- runs: duplicate copies
# ----------------------------------------------------------------------------


def _copy(
    rid: str, *, fp: bool = False, deleted: bool = False, marked: bool = False, data: int = 0
) -> RunSnap:
    tags = {
        TAG_SOURCE_RUN_ID: "s",
        **({TAG_FINGERPRINT: "fp"} if fp else {}),
        **({TAG_DUPLICATE_OF: "k"} if marked else {}),
    }
    return run(rid, "d1", deleted=deleted, tags=tags, params={f"p{i}": "v" for i in range(data)})


@pytest.mark.parametrize(
    "copies, keep, retire",
    [
        ([_copy("a", fp=True)], ["a"], []),
        ([_copy("a", fp=True), _copy("b", marked=True)], ["a"], ["b"]),
        ([_copy("a", fp=True), _copy("b", marked=True, deleted=True)], ["a"], []),
        ([_copy("a"), _copy("b", fp=True)], ["b"], ["a"]),
        ([_copy("a", data=1), _copy("b", data=2), _copy("c")], ["b"], ["a", "c"]),
        ([_copy("b"), _copy("a")], ["a"], ["b"]),
        ([_copy("a", fp=True), _copy("b", fp=True)], ["a", "b"], []),
        ([_copy("a", fp=True), _copy("b", fp=True, deleted=True)], ["a", "b"], []),
    ],
    ids=[
        "one",
        "marked-live-retired",
        "marked-deleted-dropped",
        "complete-kept",
        "most-data-kept",
        "smallest-id-on-tie",
        "two-complete-stay",
        "deleted-copy-stays",
    ],
)
def test_split_copies(copies: list[RunSnap], keep: list[str], retire: list[str]):
    kept, retired = split_copies(copies)
    assert ([c.run_id for c in kept], retired) == (keep, retire)


def test_extra_copies_of_a_run_are_retired_by_an_update_of_the_kept_copy():
    src = _source()
    dst = synced(src)
    for extra in ("d-p2", "d-p3"):
        dst.runs[extra] = copy_of(src.runs["p"], None)
        dst.runs[extra].run_id = extra
    dst.runs["d-p3"].tags[TAG_DUPLICATE_OF] = "d-p"
    p = plan(src, dst)
    r = act(p, "run", "p")
    assert (r.op, r.dest_id, r.details) == (Op.UPDATE, "d-p", {"duplicates": ["d-p3", "d-p2"]})
    assert len(p.actions) == 3  # no extra rows for the duplicates


def test_two_complete_copies_of_a_run_are_a_conflict():
    src = _source()
    dst = synced(src)
    dst.runs["d-p2"] = copy_of(src.runs["p"], dst.runs["d-p"].tags[TAG_FINGERPRINT])
    dst.runs["d-p2"].run_id = "d-p2"
    r = act(plan(src, dst), "run", "p")
    assert (r.sigil, r.op) == ("!", Op.CONFLICT)
    assert r.details == {"reason": "2 copies in the destination", "dest_ids": ["d-p", "d-p2"]}


# --- planner bugs (see the report of the planner-tests branch)
# -----------------------------------------


def test_copies_in_a_quarantined_experiment_are_not_deleted():
    src = _source()
    p = plan(src, synced(src), quarantined=frozenset({("experiment", "1")}), delete_extra=True)
    assert _rows(p) == [("experiment", "!", "1")]


def test_child_of_a_parent_deleted_in_the_source_settles_after_one_update():
    src = _source()
    dst = synced(src)
    src.runs["p"].lifecycle_stage = "deleted"
    first = act(plan(src, dst), "run", "c")
    dst.runs["d-c"].tags[TAG_FINGERPRINT] = (
        first.fingerprint or ""
    )  # the marker the executor writes last
    assert act(plan(src, dst), "run", "c").op is Op.SAME


# --- registered models and model versions
# --------------------------------------------------------------


def _models() -> Snapshot:
    """Model `churn` with versions 1 and 2 (2 in Production, alias champion), both from copied run
    r1."""
    src = snapshot("src", experiment("1", "churn"), run("r1"))
    src.part("model")["churn"] = ModelSnap(
        "churn",
        "desc",
        {"team": "risk"},
        {"champion": "2"},
        {"1": version("1"), "2": version("2", stage="Production", q="ok")},
    )
    return src


def test_new_model_create_details_count_versions_aliases_and_stage():
    src = _models()
    src.part("model")["empty"] = ModelSnap("empty")
    actions = plan_model(src, {})
    assert _rows(actions) == [
        ("model", "+", "churn"),
        ("model_version", "+", "churn/1"),
        ("model_version", "+", "churn/2"),
        ("model", "+", "empty"),
    ]
    assert [a.details for a in actions] == [
        {"versions": 2, "aliases": ["champion"]},
        {"files": "run"},
        {"files": "run", "stage": "Production"},
        {},
    ]


@pytest.mark.parametrize(
    "change, details",
    [
        (lambda m: setattr(m, "description", "new"), {"description": True}),
        (lambda m: m.tags.update(team="fraud"), {"tags": ["team"]}),
        (lambda m: m.aliases.update(champion="1"), {"aliases": ["champion"]}),
        (lambda m: m.aliases.update(latest="2"), {"aliases": ["latest"]}),
        (lambda m: m.aliases.clear(), {"aliases_removed": ["champion"]}),
    ],
)
def test_model_changes_in_the_source_are_updates(
    change: Callable[[ModelSnap], None], details: dict
):
    src = _models()
    dst = synced_models(src)
    change(src.part("model")["churn"])
    actions = plan_model(src, dst)
    assert _rows(actions) == [
        ("model", "*", "churn"),
        ("model_version", "=", "churn/1"),
        ("model_version", "=", "churn/2"),
    ]
    assert (actions[0].dest_id, actions[0].details) == ("churn", details)


def test_foreign_versions_alone_keep_a_model_same_with_a_note_and_are_never_extras():
    src = _models()
    dst = synced_models(src)
    dst["churn"].versions["3"] = VersionSnap("3", "runs:/other/model", "other", "READY")
    actions = plan_model(src, dst)
    assert _rows(actions) == [
        ("model", "=", "churn"),
        ("model_version", "=", "churn/1"),
        ("model_version", "=", "churn/2"),
    ]
    assert actions[0].details == {
        "foreign_versions": 1,
        "note": ("destination holds versions not copied from this model: version numbers differ"),
    }


@pytest.mark.parametrize(
    "clash, quarantined, reason",
    [
        ((), {("model", "churn")}, "quarantined after repeated failures"),
        (
            ("databricks", "databricks-uc"),
            set(),
            "'churn' is in 2 source registries (databricks, databricks-uc): read only one of them, "
            "or copy it by hand",
        ),
    ],
)
def test_quarantined_or_clashing_model_is_an_error_without_version_actions(
    clash: tuple[str, ...], quarantined: set, reason: str
):
    src = _models()
    dst = synced_models(src)
    src.part("model")["churn"].clash = clash
    actions = plan_model(src, dst, quarantined=frozenset(quarantined))
    assert _rows(actions) == [("model", "!", "churn")]
    assert (actions[0].op, actions[0].details) == (Op.ERROR, {"reason": reason})


@pytest.mark.parametrize(
    "status, quarantined, reason",
    [
        ("READY", {("model_version", "churn/1")}, "quarantined after repeated failures"),
        ("PENDING_REGISTRATION", set(), "source version is PENDING_REGISTRATION, not READY"),
    ],
)
def test_quarantined_or_unready_version_is_an_error_and_the_next_version_takes_its_number(
    status: str, quarantined: set, reason: str
):
    src = _models()
    src.part("model")["churn"].versions["1"].status = status
    actions = plan_model(src, {}, quarantined=frozenset(quarantined))
    assert _rows(actions) == [
        ("model", "+", "churn"),
        ("model_version", "!", "churn/1"),
        ("model_version", "+", "churn/2"),
    ]
    assert (actions[1].op, actions[1].details) == (Op.ERROR, {"reason": reason})
    assert actions[2].details == {"files": "run", "stage": "Production", "dest_version": 1}


def test_two_copies_of_a_version_are_a_conflict():
    src = _models()
    dst = synced_models(src)
    dst["churn"].versions["3"] = version_copy(
        "churn", src.part("model")["churn"].versions["2"], "3", "fp"
    )
    v = plan_model(src, dst)[2]
    assert (v.sigil, v.op, v.key, v.dest_id) == (
        "!",
        Op.CONFLICT,
        ("model_version", "churn/2"),
        "2",
    )
    assert v.details == {"reason": "2 copies in the destination", "dest_versions": ["2", "3"]}


def _without_resume(details: dict) -> dict:
    """Version details without `resume`: set on any fingerprint change today (see the report)."""
    return {k: v for k, v in details.items() if k != "resume"}


@pytest.mark.parametrize(
    "change, details",
    [
        (lambda v: setattr(v, "description", "better"), {"description": True}),
        (lambda v: v.tags.update(q="meh"), {"tags": ["q"]}),
        (lambda v: v.tags.clear(), {"tags_removed": ["q"]}),
        (lambda v: setattr(v, "stage", "Archived"), {"stage": "Archived"}),
    ],
)
def test_version_changes_in_the_source_are_updates(
    change: Callable[[VersionSnap], None], details: dict
):
    src = _models()
    dst = synced_models(src)
    change(src.part("model")["churn"].versions["2"])
    v = plan_model(src, dst)[2]
    assert (v.sigil, v.op, v.dest_id, _without_resume(v.details)) == ("*", Op.UPDATE, "2", details)


def test_update_of_a_renumbered_version_names_the_destination_version():
    src = _models()
    dst = synced_models(src)
    dst["churn"].versions["5"] = dst["churn"].versions.pop("2")
    dst["churn"].versions["5"].version = "5"
    dst["churn"].aliases["champion"] = "5"
    src.part("model")["churn"].versions["2"].description = "better"
    v = plan_model(src, dst)[2]
    assert (v.op, v.dest_id, _without_resume(v.details)) == (
        Op.UPDATE,
        "5",
        {"description": True, "dest_version": "5"},
    )


def test_version_gone_from_the_source_is_an_extra_and_its_alias_is_removed():
    src = _models()
    dst = synced_models(src)
    del src.part("model")["churn"].versions["2"]
    src.part("model")["churn"].aliases.clear()
    actions = plan_model(src, dst)
    assert _rows(actions) == [
        ("model", "*", "churn"),
        ("model_version", "=", "churn/1"),
        ("model_version", "-", "churn/2"),
    ]
    assert actions[0].details == {"aliases_removed": ["champion"]}
    assert (actions[2].op, actions[2].dest_id, actions[2].details) == (
        Op.EXTRA,
        "2",
        {"reason": "no longer in the source"},
    )


NO_STAGES = PLAIN_MLFLOW.with_overrides(stages=False)


@pytest.mark.parametrize(
    "synced_with, planned_with, op, details",
    [
        ((PLAIN_MLFLOW, "copy"), (PLAIN_MLFLOW, "copy"), Op.SAME, {}),
        ((NO_STAGES, "copy"), (NO_STAGES, "copy"), Op.SAME, {}),
        (
            (PLAIN_MLFLOW, "copy"),
            (PLAIN_MLFLOW, "tag"),
            Op.UPDATE,
            {"tags": [TAG_SOURCE_STAGE], "stage": "None"},
        ),
        (
            (PLAIN_MLFLOW, "copy"),
            (NO_STAGES, "copy"),
            Op.UPDATE,
            {"tags": [TAG_SOURCE_STAGE], "stage": "None"},
        ),
        ((PLAIN_MLFLOW, "copy"), (PLAIN_MLFLOW, "skip"), Op.UPDATE, {"stage": "None"}),
        (
            (PLAIN_MLFLOW, "tag"),
            (PLAIN_MLFLOW, "skip"),
            Op.UPDATE,
            {"tags_removed": [TAG_SOURCE_STAGE]},
        ),
        (
            (PLAIN_MLFLOW, "tag"),
            (PLAIN_MLFLOW, "copy"),
            Op.UPDATE,
            {"tags_removed": [TAG_SOURCE_STAGE], "stage": "Production"},
        ),
    ],
)
def test_stage_policy_decides_between_the_stage_and_the_stage_tag(
    synced_with: tuple[Capabilities, str],
    planned_with: tuple[Capabilities, str],
    op: Op,
    details: dict,
):
    src = _models()
    dst = synced_models(src, synced_with[0], stages=synced_with[1])
    v = plan_model(src, dst, planned_with[0], stages=planned_with[1])[2]
    assert (v.op, _without_resume(v.details)) == (op, details)


# --- imports
# -------------------------------------------------------------------------------------------


def test_importing_the_planner_loads_no_heavy_module():
    code = (
        "import syncer.plan.runs, syncer.kinds.models.plan, syncer.plan.copies, sys; "
        "print(sorted(m for m in "
        "sys.modules if m.split('.')[0] in {'mlflow','requests','urllib3','sqlalchemy','tenacity',"
        "'prometheus_client','azure','alembic'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
