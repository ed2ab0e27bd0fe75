"""Scorers registered on an experiment: a kind added as one package (syncer.kinds.scorers) and one
registry line. Copied as their serialized form, matched by experiment and name; a second pass
changes nothing; a new source version is registered once; a destination without the API gets one `!`
row."""

from __future__ import annotations

import json

from mlflow import MlflowClient
from mlflow.genai.scorers import Guidelines

from syncer.core.actions import Op
from syncer.kinds.scorers.plan import plan_scorers
from syncer.kinds.scorers.snapshot import ScorerSnap
from tests.fixtures.cli import run_forked


def _serialized(name: str, guidelines: str) -> str:
    return json.dumps(Guidelines(name=name, guidelines=guidelines).model_dump())


def _scorers(url: str, experiment_name: str) -> dict[str, tuple[object, int]]:
    """Each scorer's latest serialized content and how many versions it has (read with MLflow's
    store)."""
    client = MlflowClient(url)
    store = client._tracking_client.store
    eid = client.get_experiment_by_name(experiment_name).experiment_id
    return {
        s.scorer_name: (
            json.loads(s.to_proto().serialized_scorer),
            len(store.list_scorer_versions(eid, s.scorer_name)),
        )
        for s in store.list_scorers(eid)
    }


def test_scorers_are_copied_once_and_a_new_version_follows(
    source_server, dest_server, unique_name, tmp_path
):
    client = MlflowClient(source_server.url)
    name = f"{unique_name}-scorers"
    eid = client.create_experiment(name)
    store = client._tracking_client.store
    store.register_scorer(eid, "polite", _serialized("polite", "be nice"))
    store.register_scorer(
        eid, "polite", _serialized("polite", "be polite")
    )  # version 2: the one copied
    store.register_scorer(eid, "concise", _serialized("concise", "be brief"))
    common = [
        "--source",
        source_server.url,
        "--dest",
        dest_server.url,
        "--experiments",
        name,
        "--state",
        f"sqlite:///{tmp_path / 'state.db'}",
    ]

    first = run_forked("migrate", *common, "--no-progress")
    assert first.returncode == 0, first.stdout + first.stderr
    source = {n: content for n, (content, _) in _scorers(source_server.url, name).items()}
    copied = _scorers(dest_server.url, name)
    assert {n: content for n, (content, _) in copied.items()} == source
    assert {n: versions for n, (_, versions) in copied.items()} == {"polite": 1, "concise": 1}

    again = json.loads(run_forked("diff", *common, "--format", "json").stdout)
    assert again["summary"]["by_kind"]["scorer"] == {"same": 2}
    second = run_forked("migrate", *common, "--no-progress")
    assert second.returncode == 0, second.stderr
    assert _scorers(dest_server.url, name) == copied  # no version added

    store.register_scorer(eid, "concise", _serialized("concise", "be very brief"))
    third = run_forked("migrate", *common, "--no-progress")
    assert third.returncode == 0, third.stderr
    assert _scorers(dest_server.url, name)["concise"] == (
        json.loads(_serialized("concise", "be very brief")),
        2,
    )


def test_the_scorer_plan_matches_by_name_and_content():
    def snap(eid: str, name: str, text: str, version: int = 1) -> ScorerSnap:
        return ScorerSnap(eid, name, version, _serialized(name, text))

    src = {
        "1": {"a": snap("1", "a", "x", 3), "b": snap("1", "b", "y"), "c": snap("1", "c", "z")},
        "2": {"d": snap("2", "d", "w")},
    }
    dst = {
        "10": {
            "a": snap("10", "a", "x"),
            "b": snap("10", "b", "other"),
            "gone": snap("10", "gone", "q"),
        }
    }
    actions = plan_scorers(src, dst, {"1": "10", "2": None}, {"1": "e1", "2": "e2"})
    assert [(a.label, a.op) for a in actions] == [
        ("e1/a", Op.SAME),
        ("e1/b", Op.UPDATE),
        ("e1/c", Op.CREATE),
        ("e2/d", Op.CREATE),
    ]
    refused = plan_scorers(src, {}, {"1": "10", "2": None}, {"1": "e1", "2": "e2"}, "no scorer API")
    assert [(a.op, a.details["count"], a.details["group"]) for a in refused] == [
        (Op.UNCOPIED, 3, "e1"),
        (Op.UNCOPIED, 1, "e2"),
    ]
