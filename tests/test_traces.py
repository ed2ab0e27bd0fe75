"""Traces between real MLflow servers: deep copy, reruns, kill -9 in the middle, mirror cursors, no
trace API."""

from __future__ import annotations

import signal
import time
import uuid

import pytest
from mlflow import MlflowClient

from syncer.backends.endpoint import Endpoint
from syncer.config import EndpointConfig, NameRule, Settings
from syncer.core.actions import Op
from syncer.core.capabilities import PLAIN_MLFLOW
from syncer.engine.mirror_cycle import Cycle
from syncer.engine.sync import PassOptions, endpoints, open_state, run_pass, sync
from syncer.kinds.traces.plan import RUN_LINKS_KIND, RUN_LINKS_WHY
from syncer.state.store import StateStore
from tests.compare import assert_same_traces
from tests.fixtures.cli import cli_env, kill_at, run_forked, write_config
from tests.fixtures.traces import T0_NS, seed_traces, simple_trace


@pytest.fixture(scope="module")
def traced(source_server):
    """Two experiments: `genai` (a run with a rich trace in it, 3 more traces, one errored) and
    `chat` (2)."""
    prefix = f"tr-{uuid.uuid4().hex[:8]}"
    seed_traces(source_server.url, prefix)
    return prefix, [f"{prefix}/genai", f"{prefix}/chat"]


def _settings(source: str, dest: str, state: str, prefix: str, tag: str) -> Settings:
    return Settings(
        source=EndpointConfig(tracking_uri=source),
        destination=EndpointConfig(tracking_uri=dest),
        state=state,
        experiments=[f"{prefix}/*"],
        copy_models=False,
        prompts=[],  # workspace-wide: other tests' prompts on the session servers are not these
        experiment_names=[NameRule(match=f"^{prefix}/", replace=f"{tag}/{prefix}/")],
    )


def _pairs(names: list[str], tag: str) -> dict[str, str]:
    return {n: f"{tag}/{n}" for n in names}


def _trace_ops(plan) -> dict[str, int]:
    counts: dict[str, int] = {}
    for a in plan.actions:
        if a.kind == "trace":
            counts[a.op.value] = counts.get(a.op.value, 0) + 1
    return counts


def test_migrate_copies_traces_deeply_and_reruns_create_nothing(
    traced, source_server, dest_server, tmp_path
):
    prefix, names = traced
    settings = _settings(
        source_server.url, dest_server.url, f"sqlite:///{tmp_path / 's.db'}", prefix, "m"
    )
    result = sync(settings)
    assert not result.failed, [o.error for o in result.failed]
    assert _trace_ops(result.plan) == {"create": 6}
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    assert assert_same_traces(src, dst, _pairs(names, "m")) == 6

    # The run link points at the run's copy; times are the source's.
    dest_exp = dst.get_experiment_by_name(f"m/{prefix}/genai").experiment_id
    run_copy = dst.search_runs([dest_exp])[0].info.run_id
    linked = dst.search_traces(locations=[dest_exp], run_id=run_copy, include_spans=False)
    assert len(linked) == 1 and linked[0].info.request_time == T0_NS // 1_000_000

    again = sync(settings)
    assert not again.plan.mutating() and not again.outcomes
    fresh = sync(
        _settings(
            source_server.url, dest_server.url, f"sqlite:///{tmp_path / 'new.db'}", prefix, "m"
        ),
        dry_run=True,
    )  # without the state store: matched by provenance alone
    assert _trace_ops(fresh.plan) == {"same": 6}
    assert assert_same_traces(src, dst, _pairs(names, "m")) == 6


@pytest.mark.parametrize(
    "point",
    ["batch_get_traces:1:after", "log_spans:1:after", "start_trace:2", "start_trace:3:after"],
)
def test_kill_in_the_middle_of_traces_then_rerun_is_exact(
    point, traced, source_server, dest_server, tmp_path
):
    prefix, names = traced
    tag = "k-" + point.replace(":", "-")
    state = f"sqlite:///{tmp_path / 'state.db'}"
    config = write_config(
        tmp_path / "c.yaml",
        source={"tracking_uri": source_server.url},
        destination={"tracking_uri": dest_server.url},
        state=state,
        experiments=[f"{prefix}/*"],
        copy_models=False,
        experiment_names=[{"match": f"^{prefix}/", "replace": f"{tag}/{prefix}/"}],
        workers=2,
    )
    killed = run_forked(
        "migrate", "--config", str(config), "--no-progress", env=cli_env(**kill_at(point))
    )
    assert killed.returncode == -signal.SIGKILL, (
        f"not killed at {point}: {killed.returncode} {killed.stderr}"
    )

    settings = _settings(source_server.url, dest_server.url, state, prefix, tag)
    rerun = sync(settings)
    assert not rerun.failed, [o.error for o in rerun.failed]
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    assert (
        assert_same_traces(src, dst, _pairs(names, tag)) == 6
    )  # raises on a second copy of a trace
    assert _trace_ops(sync(settings, dry_run=True).plan) == {"same": 6}


def test_mirror_cycle_copies_the_new_trace_and_nothing_else(
    traced, source_server, dest_server, tmp_path
):
    prefix, names = traced
    settings = _settings(
        source_server.url, dest_server.url, f"sqlite:///{tmp_path / 's.db'}", prefix, "mi"
    )
    src, dst = endpoints(settings)
    state = open_state(settings, src, dst, read_only=False)
    try:
        cycle = Cycle(settings, src, dst, state)
        first = cycle.run()
        assert first.ok and first.copied == 2 + 1 + 6  # experiments, the run, traces
        new = simple_trace(
            source_server.url,
            src.client.get_experiment_by_name(names[1]).experiment_id,
            time.time_ns(),
            "late",
        )
        second = cycle.run()
        assert second.ok, second.error
        copied = [o.action for o in second.outcomes]
        assert [(a.kind, a.op, a.source_id) for a in copied] == [("trace", Op.CREATE, new)]
        # The incremental cycle read only the traces newer than each cursor minus the look-back: per
        # experiment the newest old trace (an hour after the others), not the older ones; and only
        # runs ended since the first cycle or RUNNING (mirror.runs_full_every): not the finished
        # run.
        assert second.unchanged == 2 + 2
    finally:
        state.close()
    assert (
        assert_same_traces(
            MlflowClient(source_server.url), MlflowClient(dest_server.url), _pairs(names, "mi")
        )
        == 7
    )


def test_destination_without_trace_api_lists_and_counts_them(
    traced, source_server, dest_server, tmp_path
):
    prefix, names = traced
    settings = _settings(
        source_server.url, dest_server.url, f"sqlite:///{tmp_path / 's.db'}", prefix, "az"
    )
    src = Endpoint(source_server.url, caps=PLAIN_MLFLOW, role="source")
    dst = Endpoint(
        dest_server.url,
        caps=PLAIN_MLFLOW.with_overrides(kind="azureml-like").without("trace"),
        role="destination",
    )
    state = StateStore(settings.state, pair="azureml-like")
    try:
        result = run_pass(settings, src, dst, state, PassOptions())
    finally:
        state.close()
    assert not result.failed
    uncopied = {
        a.label: {k: a.details[k] for k in ("count", "reason")}
        for a in result.plan.actions
        if a.kind == "trace"
    }
    reason = "destination has no trace API: azureml-like"
    source = MlflowClient(source_server.url)
    counts = {
        n: len(
            source.search_traces(
                locations=[source.get_experiment_by_name(n).experiment_id],
                include_spans=False,
                max_results=500,
            )
        )
        for n in names
    }
    assert counts[names[0]] == 4 and counts[names[1]] >= 2  # the mirror test may have added one
    assert uncopied == {f"{n}/traces": {"count": counts[n], "reason": reason} for n in names}
    assert all(a.op is Op.UNCOPIED for a in result.plan.actions if a.kind == "trace")
    assert not result.plan.in_sync
    client = MlflowClient(dest_server.url)
    for name in names:
        exp = client.get_experiment_by_name(f"az/{name}")
        assert exp is not None and not client.search_traces(
            locations=[exp.experiment_id], include_spans=False
        )


def test_changed_source_traces_are_updated_in_place(traced, source_server, dest_server, tmp_path):
    """Runs last: it changes the shared source (assessments and tags of two traces)."""
    import mlflow

    prefix, names = traced
    settings = _settings(
        source_server.url, dest_server.url, f"sqlite:///{tmp_path / 's.db'}", prefix, "u"
    )
    assert not sync(settings).failed
    src = MlflowClient(source_server.url)
    genai = src.get_experiment_by_name(names[0]).experiment_id
    infos = {
        t.info.tags.get("mlflow.traceName"): t.info
        for t in src.search_traces(locations=[genai], include_spans=False, max_results=500)
    }
    rich, plain = infos["agent"], infos["call-0"]
    mlflow.set_tracking_uri(source_server.url)
    mlflow.log_feedback(trace_id=rich.trace_id, name="tone", value="polite", rationale="ok")
    expectation = next(a for a in rich.assessments if a.name == "expected_answer")
    mlflow.delete_assessment(trace_id=rich.trace_id, assessment_id=expectation.assessment_id)
    src.delete_trace_tag(rich.trace_id, "team")
    src.set_trace_tag(plain.trace_id, "reviewed", "yes")

    result = sync(settings)
    assert not result.failed, [o.error for o in result.failed]
    assert sorted(
        a.source_id for a in result.plan.actions if a.kind == "trace" and a.op is Op.UPDATE
    ) == sorted([rich.trace_id, plain.trace_id])
    assert assert_same_traces(src, MlflowClient(dest_server.url), _pairs(names, "u")) >= 6
    assert not sync(settings, dry_run=True).plan.mutating()


def test_run_links_made_with_link_traces_to_run_are_listed_as_not_copied(
    source_server, dest_server, tmp_path
):
    """MLflow lists such links only one run at a time: the pass says so in one `!` row and never
    claims them."""
    prefix = f"tl-{uuid.uuid4().hex[:8]}"
    src = MlflowClient(source_server.url)
    exp = src.create_experiment(f"{prefix}/eval")
    run = src.create_run(exp, run_name="eval").info.run_id
    linked = simple_trace(source_server.url, exp, T0_NS, "linked")
    simple_trace(source_server.url, exp, T0_NS + 1_000_000_000, "alone")
    src.link_traces_to_run([linked], run)
    assert [
        t.info.trace_id for t in src.search_traces(locations=[exp], run_id=run, include_spans=False)
    ] == [linked]
    settings = _settings(
        source_server.url, dest_server.url, f"sqlite:///{tmp_path / 's.db'}", prefix, "rl"
    )
    result = sync(settings)
    assert not result.failed, [o.error for o in result.failed]
    assert _trace_ops(result.plan) == {"create": 2}
    rows = [(a.op, a.details) for a in result.plan.actions if a.kind == RUN_LINKS_KIND]
    assert rows == [
        (
            Op.UNCOPIED,
            {"count": None, "reason": f"cannot be listed here: {RUN_LINKS_WHY}", "group": None},
        )
    ]
    dst = MlflowClient(dest_server.url)
    dest_exp = dst.get_experiment_by_name(f"rl/{prefix}/eval").experiment_id
    run_copy = dst.search_runs([dest_exp])[0].info.run_id
    assert len(dst.search_traces(locations=[dest_exp], include_spans=False)) == 2
    assert (
        dst.search_traces(locations=[dest_exp], run_id=run_copy, include_spans=False) == []
    )  # as the row says
    again = sync(settings)
    assert not again.plan.mutating() and again.plan.in_sync
