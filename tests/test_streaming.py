"""Runs streamed a chunk at a time (syncer.kinds.runs.stream): with chunks of one experiment cut
into start-time windows, a migration of the standard workload (a run nested across experiments,
RUNNING and deleted runs) copies exactly what one whole-source pass copies, applies exactly what its
dry run planned, and a rerun finds nothing to do. Plus the two compact containers the stream keeps:
spilled lists and hashed id sets."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from syncer.backends.telemetry import api_call_counts
from syncer.config import Settings
from syncer.core import spill
from syncer.core.actions import Action, Op, Plan
from syncer.core.compact_ids import IdSet
from syncer.core.spill import SpillList
from syncer.engine.mirror_cycle import Cycle, CycleReport
from syncer.engine.sync import endpoints, open_state, sync
from syncer.kinds.runs import stream as run_stream
from syncer.plan.uncopied import is_unlisted
from syncer.scan import read_ahead
from tests.compare import assert_same
from tests.fixtures.sqlite_stores import sqlite_store
from tests.fixtures.workload import T0, Workload, make_workload


@pytest.fixture(scope="module")
def stores(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Settings, MlflowClient, MlflowClient, Workload]]:
    where = tmp_path_factory.mktemp("streaming")
    env = pytest.MonkeyPatch()
    env.chdir(where)
    env.setattr(
        run_stream, "CHUNK_RUNS", 1
    )  # every experiment its own chunk, cut into start-time windows
    env.setattr(run_stream, "WINDOW_RUNS", 1)
    env.setattr(spill, "SPILL_AT", 2)  # plans and outcomes go through the disk
    src_uri, dst_uri = sqlite_store(where / "src.db"), f"sqlite:///{where / 'dst.db'}"
    src, dst = MlflowClient(src_uri), MlflowClient(dst_uri)
    prefix = f"stream-{uuid.uuid4().hex[:8]}"
    w = make_workload(src, prefix, runs_per_experiment=2)
    settings = Settings(
        source={"tracking_uri": src_uri},
        destination={"tracking_uri": dst_uri, "artifact_root": str(where / "dst-artifacts")},
        state=f"sqlite:///{where / 'state.db'}",
        experiments=[f"{prefix}/*"],
    )
    try:
        yield settings, src, dst, w
    finally:
        env.undo()


def _changes(result) -> Counter:
    return Counter((a.kind, a.op.value) for a in result.plan.actions if not is_unlisted(a))


def test_chunked_migration_copies_exactly_as_planned_and_converges(stores) -> None:
    settings, src, dst, w = stores
    dry = sync(settings, dry_run=True)
    real = sync(settings)
    assert real.plan.actions == dry.plan.actions
    assert [o.error for o in real.outcomes if not o.ok] == []
    assert Counter(o.action for o in real.outcomes) == Counter(dry.plan.mutating())
    assert _changes(real) == {("experiment", "create"): 2, ("run", "create"): len(w.runs)}
    # each experiment (above CHUNK_RUNS) cut into start-time windows, runs sharing T0 kept together;
    # then the run nested under a parent of an experiment read later, planned after every chunk
    run_segments = [
        (s.experiments, s.window) for s in real.plan.segments if s.experiments is not None
    ]
    assert run_segments[:4] == [
        ((e,), w) for e in real.plan.dest_names for w in ((None, T0 + 1000), (T0 + 1000, None))
    ]
    assert run_segments[4] == (run_stream.DEFERRED, None)
    deferred_at = sum(
        s.count
        for s in real.plan.segments[
            : real.plan.segments.index(
                next(s for s in real.plan.segments if s.experiments == run_stream.DEFERRED)
            )
        ]
    )
    assert real.plan.actions[deferred_at].source_id == w.runs["b-0"]
    assert_same(src, dst, w.experiments)
    again = sync(settings)
    assert again.outcomes == []
    assert _changes(again) == {("experiment", "same"): 2, ("run", "same"): len(w.runs)}


def test_destination_only_runs_are_decided_after_every_chunk(stores) -> None:
    settings, _src, dst, w = stores
    sync(settings)
    beta = dst.get_experiment_by_name(w.experiments[1]).experiment_id
    foreign = dst.create_run(beta, run_name="foreign").info.run_id
    result = sync(settings, dry_run=True)
    extras = [a for a in result.plan.actions if a.op is Op.EXTRA]
    assert [(a.dest_id, a.label, a.details) for a in extras] == [
        (foreign, f"{w.experiments[1]}/foreign", {"reason": "not created by mlflow-syncer"})
    ]
    assert result.plan.extra_groups == {foreign: w.experiments[1]}
    dst.delete_run(foreign)
    copies = dst.search_runs([beta], run_view_type=ViewType.ACTIVE_ONLY)
    assert len(copies) == sum(label.startswith("b-") for label in w.runs)


def test_spill_list_reads_back_every_item_in_order(tmp_path: Path) -> None:
    items = SpillList(spill_at=3)
    items.extend(range(10))
    items.append(10)
    assert list(items) == list(range(11)) and len(items) == 11 and items == list(range(11))
    assert items[4] == 4 and items[-1] == 10
    assert list(items) == list(range(11))  # a second read sees the same
    items.close()
    assert list(items) == [] and len(items) == 0


def test_notes_added_to_uncopied_rows_after_planning_survive_the_spill() -> None:
    # The archive step notes "archived N" on `!` rows after applying; a large plan has spilled them
    # by then.
    rows = [
        Action(
            kind="dataset",
            op=Op.UNCOPIED,
            source_id=None,
            label="exp/datasets",
            details={"count": 2, "reason": "no dataset API"},
        )
    ]
    rows += [
        Action(kind="run", op=Op.CREATE, source_id=f"r{i}", label=f"r{i}")
        for i in range(3 * spill.SPILL_AT)
    ]
    plan = Plan(actions=rows, dest_names={})
    assert "on disk" in repr(plan.actions) and len(plan.actions) == len(rows)
    next(a for a in plan.actions if a.op is Op.UNCOPIED).details["archived"] = 2
    again = [a for a in plan.actions if a.op is Op.UNCOPIED]
    assert [a.details for a in again] == [{"count": 2, "reason": "no dataset API", "archived": 2}]
    assert [a.source_id for a in plan.actions if a.kind == "run"] == [
        f"r{i}" for i in range(3 * spill.SPILL_AT)
    ]


def test_id_set_holds_what_was_added_and_nothing_else() -> None:
    ids = IdSet(f"run-{i}" for i in range(1000))
    ids.add("run-0")
    ids.update(["x", "y"])
    assert len(ids) == 1002
    assert all(f"run-{i}" in ids for i in range(1000)) and "x" in ids and "y" in ids
    assert not any(f"other-{i}" in ids for i in range(1000)) and None not in ids


def test_cycles_after_the_first_read_only_runs_ended_since_the_last_clean_cycle_or_running(
    tmp_path: Path,
) -> None:
    src_uri, dst_uri = sqlite_store(tmp_path / "src.db"), f"sqlite:///{tmp_path / 'dst.db'}"
    src = MlflowClient(src_uri)
    prefix = f"inc-{uuid.uuid4().hex[:8]}"
    w = make_workload(src, prefix, runs_per_experiment=2)
    settings = Settings(
        source={"tracking_uri": src_uri},
        destination={"tracking_uri": dst_uri, "artifact_root": str(tmp_path / "dst-artifacts")},
        state=f"sqlite:///{tmp_path / 'state.db'}",
        experiments=[f"{prefix}/*"],
        mirror={"runs_full_every": 0},
    )
    src_end, dst_end = endpoints(settings)
    state = open_state(settings, src_end, dst_end, read_only=False)
    try:
        cycle = Cycle(settings, src_end, dst_end, state)
        seen: list[Counter] = []
        cycle_run = cycle.run

        def run() -> CycleReport:
            before = api_call_counts()
            report = cycle_run()
            seen.append(Counter({k: v - before.get(k, 0) for k, v in api_call_counts().items()}))
            return report

        first = run()
        assert first.ok and first.unchanged == 0 and state.get_cursor("runs:end_time") is not None
        second = run()  # nothing changed: the RUNNING run (b-2) is followed, nothing else is read
        assert second.ok and second.copied == 0 and second.unchanged == 2  # the experiments
        assert (
            seen[1][("source", "search_runs")] == 2
        )  # ended since the cursor, RUNNING: one page each

        alpha = src.get_experiment_by_name(w.experiments[0]).experiment_id
        late = src.create_run(alpha, run_name="late").info.run_id
        src.set_terminated(late, "FINISHED")
        src.set_tag(w.runs["a-0"], "edited", "later")  # an edit of a finished run: no change signal
        third = run()
        assert third.ok and third.copied == 1 and third.unchanged == 2
        dst = MlflowClient(dst_uri)
        dest_alpha = dst.get_experiment_by_name(w.experiments[0]).experiment_id
        copy_of = {
            r.data.tags.get("mlflow_syncer.source_run_id"): r for r in dst.search_runs([dest_alpha])
        }
        assert late in copy_of and "edited" not in copy_of[w.runs["a-0"]].data.tags

        every = settings.model_copy(
            update={"mirror": settings.mirror.model_copy(update={"runs_full_every": 1})}
        )
        full = Cycle(
            every, src_end, dst_end, state
        ).run()  # a full pass finds what the signals miss
        assert (
            full.ok and full.copied == 1 and full.unchanged == 2 + len(w.runs)
        )  # a-0 updated; b-2 followed
        copy = dst.get_run(copy_of[w.runs["a-0"]].info.run_id)
        assert copy.data.tags["edited"] == "later"
    finally:
        state.close()


def test_the_round_of_change_only_cycles_outlives_the_process(tmp_path: Path) -> None:
    """`mirror --once` from a timer runs one cycle per process: the count towards the next full
    cycle is kept in the state store, and a changed selection makes the next cycle full."""
    src_uri, dst_uri = sqlite_store(tmp_path / "src.db"), f"sqlite:///{tmp_path / 'dst.db'}"
    prefix = f"round-{uuid.uuid4().hex[:8]}"
    w = make_workload(MlflowClient(src_uri), prefix, runs_per_experiment=2)
    settings = Settings(
        source={"tracking_uri": src_uri},
        destination={"tracking_uri": dst_uri, "artifact_root": str(tmp_path / "dst-artifacts")},
        state=f"sqlite:///{tmp_path / 'state.db'}",
        experiments=[f"{prefix}/*"],
        mirror={"runs_full_every": 3, "follow_running_hours": None},
    )
    src_end, dst_end = endpoints(settings)
    state = open_state(settings, src_end, dst_end, read_only=False)

    def one_process_cycle(s: Settings) -> int:
        before = api_call_counts().get(("source", "search_runs"), 0)
        report = Cycle(s, src_end, dst_end, state).run()
        assert report.ok and report.copied == 0
        return api_call_counts().get(("source", "search_runs"), 0) - before

    try:
        first = Cycle(settings, src_end, dst_end, state).run()
        assert first.ok and first.copied == len(w.runs) + 2  # the runs and the 2 experiments
        reads = [one_process_cycle(settings) for _ in range(4)]
        change_only = reads[0]
        assert change_only == 2  # runs ended since the cursor, RUNNING runs
        assert (
            reads == [change_only, change_only, reads[2], change_only] and reads[2] != change_only
        )
        renamed = settings.model_copy(update={"experiments": [f"{prefix}/*", f"{prefix}-none/*"]})
        assert one_process_cycle(renamed) == reads[2]  # a new selection: every run is read again
        assert one_process_cycle(renamed) == change_only
    finally:
        state.close()


def test_a_change_only_cycle_registers_a_new_version_from_an_old_run_against_its_copy(
    tmp_path: Path,
) -> None:
    """A version registered from a run that finished long ago: the change-only cycle does not read
    that run, yet the version is made from the run's copy (files `run`), as a full pass would, not
    from a holder run."""
    src_uri, dst_uri = sqlite_store(tmp_path / "src.db"), f"sqlite:///{tmp_path / 'dst.db'}"
    src = MlflowClient(src_uri)
    prefix = f"ver-{uuid.uuid4().hex[:8]}"
    w = make_workload(src, prefix, runs_per_experiment=1)
    model = f"{prefix}-model"
    settings = Settings(
        source={"tracking_uri": src_uri},
        destination={"tracking_uri": dst_uri, "artifact_root": str(tmp_path / "dst-artifacts")},
        state=f"sqlite:///{tmp_path / 'state.db'}",
        experiments=[f"{prefix}/*"],
        models=[model],
    )
    src_end, dst_end = endpoints(settings)
    state = open_state(settings, src_end, dst_end, read_only=False)
    try:
        assert Cycle(settings, src_end, dst_end, state).run().ok
        old = src.get_run(w.runs["a-0"])
        src.create_registered_model(model)
        src.create_model_version(model, f"{old.info.artifact_uri}/deep", run_id=old.info.run_id)
        before = api_call_counts().get(("source", "search_runs"), 0)
        report = Cycle(settings, src_end, dst_end, state).run()
        assert report.ok, report.error
        assert (
            api_call_counts()[("source", "search_runs")] - before <= 3
        )  # changed, RUNNING, the version's run
        made = [o.action for o in report.outcomes if o.action.kind == "model_version"]
        assert [(a.op, a.details.get("files")) for a in made] == [(Op.CREATE, "run")]
    finally:
        state.close()
    dst = MlflowClient(dst_uri)
    copy = dst.search_runs(
        [dst.get_experiment_by_name(w.experiments[0]).experiment_id],
        f"tags.`mlflow_syncer.source_run_id` = '{old.info.run_id}'",
    )[0]
    version = dst.get_model_version(model, "1")
    assert version.run_id == copy.info.run_id
    assert sorted(f.path for f in dst.list_artifacts(copy.info.run_id, "deep/er")) == [
        "deep/er/data.bin"
    ]


def test_reads_side_by_side_plan_exactly_what_reads_one_after_another_plan(stores) -> None:
    """Several experiments' run searches in flight at once on both ends (`scan_threads`), each
    experiment cut into start-time windows: the plan (every action, in order, and its segments) is
    the one reading one search after another gives."""
    settings, src, _dst, _w = stores
    more = f"wide-{uuid.uuid4().hex[:8]}"
    for e in range(5):
        eid = src.create_experiment(f"{more}/e{e}")
        for i in range(3 - e % 2):
            run = src.create_run(eid, start_time=T0 + 1000 * i, run_name=f"r{i}")
            src.set_terminated(run.info.run_id, "FINISHED", end_time=T0 + 1000 * i + 10)
    wide = settings.model_copy(update={"experiments": [*settings.experiments, f"{more}/*"]})
    plans = [
        sync(wide.model_copy(update={"scan_threads": n}), dry_run=True).plan for n in (1, 4, 16)
    ]
    one, *others = plans
    segments = [(s.experiments, s.window, s.count) for s in one.segments]
    assert sum(s[0] is not None and s[0] != run_stream.DEFERRED for s in segments) >= 12
    assert sum(a.kind == "run" for a in one.actions) >= 13
    for plan in others:
        assert list(plan.actions) == list(one.actions)
        assert [(s.experiments, s.window, s.count) for s in plan.segments] == segments


def test_reads_ahead_hand_on_items_and_failures_in_their_turn() -> None:
    """The scan's read-ahead (syncer.scan.read_ahead): streams read side by side come out stream
    after stream, a failure where it happened (the items before it first), and a stream left early
    does not hold the others up."""

    def stream(n: int, fail_at: int | None = None) -> Iterator[int]:
        for i in range(3):
            if i == fail_at:
                raise ValueError(f"stream {n}")
            yield 10 * n + i

    for threads in (1, 3):
        streams = [lambda n=n: stream(n, 1 if n == 2 else None) for n in range(5)]
        seen: list[object] = []
        for n, items in enumerate(read_ahead.streams_in_order(streams, threads)):
            try:
                seen.extend(items if n != 3 else [next(iter(items))])
            except ValueError as exc:
                seen.append(str(exc))
        assert seen == [0, 1, 2, 10, 11, 12, 20, "stream 2", 30, 40, 41, 42]
        mapped = read_ahead.mapped_ahead(
            range(6), lambda i: (lambda: i * i) if i % 2 else None, threads
        )
        assert [(i, f.result() if f else None) for i, f in mapped] == [
            (0, None),
            (1, 1),
            (2, None),
            (3, 9),
            (4, None),
            (5, 25),
        ]
