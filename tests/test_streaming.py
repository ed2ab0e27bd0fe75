"""Runs streamed a chunk of experiments at a time (syncer.engine.run_stream): with chunks of one experiment, a
migration of the standard workload (a run nested across experiments, RUNNING and deleted runs) copies exactly
what one whole-source pass copies, applies exactly what its dry run planned, and a rerun finds nothing to do.
Plus the two compact containers the stream keeps: spilled lists and hashed id sets."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from syncer.config import Settings
from syncer.core.actions import Op
from syncer.core.compact_ids import IdSet
from syncer.core.spill import SpillList
from syncer.engine import run_stream
from syncer.engine.sync import sync
from syncer.plan.uncopied import is_unlisted
from tests.compare import assert_same
from tests.fixtures.workload import Workload, make_workload


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, MlflowClient, MlflowClient, Workload]]:
    where = tmp_path_factory.mktemp("streaming")
    env = pytest.MonkeyPatch()
    env.chdir(where)
    env.setattr(run_stream, "CHUNK_RUNS", 1)  # every experiment its own chunk
    src_uri, dst_uri = f"sqlite:///{where / 'src.db'}", f"sqlite:///{where / 'dst.db'}"
    src, dst = MlflowClient(src_uri), MlflowClient(dst_uri)
    prefix = f"stream-{uuid.uuid4().hex[:8]}"
    w = make_workload(src, prefix, runs_per_experiment=2)
    settings = Settings(source={"tracking_uri": src_uri},
                        destination={"tracking_uri": dst_uri, "artifact_root": str(where / "dst-artifacts")},
                        state=f"sqlite:///{where / 'state.db'}", experiments=[f"{prefix}/*"])
    try:
        yield settings, src, dst, w
    finally:
        env.undo()


def _changes(result) -> Counter:  # noqa: ANN001
    return Counter((a.kind, a.op.value) for a in result.plan.actions if not is_unlisted(a))


def test_chunked_migration_copies_exactly_as_planned_and_converges(stores) -> None:  # noqa: ANN001
    settings, src, dst, w = stores
    dry = sync(settings, dry_run=True)
    real = sync(settings)
    assert real.plan.actions == dry.plan.actions
    assert [o.error for o in real.outcomes if not o.ok] == []
    assert Counter(o.action for o in real.outcomes) == Counter(dry.plan.mutating())
    assert _changes(real) == {("experiment", "create"): 2, ("run", "create"): len(w.runs)}
    # one segment per experiment chunk, then the run nested across experiments, planned after every chunk
    run_segments = [s.experiments for s in real.plan.segments if s.experiments is not None]
    assert sorted(run_segments[:2]) == sorted([(e,) for e in real.plan.dest_names])
    assert run_segments[2] == run_stream.DEFERRED
    deferred_at = sum(s.count for s in real.plan.segments[:real.plan.segments.index(next(
        s for s in real.plan.segments if s.experiments == run_stream.DEFERRED))])
    assert real.plan.actions[deferred_at].source_id == w.runs["b-0"]
    assert_same(src, dst, w.experiments)
    again = sync(settings)
    assert again.outcomes == []
    assert _changes(again) == {("experiment", "same"): 2, ("run", "same"): len(w.runs)}


def test_destination_only_runs_are_decided_after_every_chunk(stores) -> None:  # noqa: ANN001
    settings, _src, dst, w = stores
    sync(settings)
    beta = dst.get_experiment_by_name(w.experiments[1]).experiment_id
    foreign = dst.create_run(beta, run_name="foreign").info.run_id
    result = sync(settings, dry_run=True)
    extras = [a for a in result.plan.actions if a.op is Op.EXTRA]
    assert [(a.dest_id, a.label, a.details) for a in extras] == [
        (foreign, f"{w.experiments[1]}/foreign", {"reason": "not created by mlflow-syncer"})]
    assert result.plan.extra_groups == {foreign: w.experiments[1]}
    dst.delete_run(foreign)
    copies = dst.search_runs([beta], run_view_type=ViewType.ACTIVE_ONLY)
    assert len(copies) == sum(label.startswith("b-") for label in w.runs)


def test_spill_list_reads_back_every_item_in_order(tmp_path: Path) -> None:  # noqa: ARG001
    items = SpillList(spill_at=3)
    items.extend(range(10))
    items.append(10)
    assert list(items) == list(range(11)) and len(items) == 11 and items == list(range(11))
    assert items[4] == 4 and items[-1] == 10
    assert list(items) == list(range(11))  # a second read sees the same
    items.close()
    assert list(items) == [] and len(items) == 0


def test_id_set_holds_what_was_added_and_nothing_else() -> None:
    ids = IdSet(f"run-{i}" for i in range(1000))
    ids.add("run-0")
    ids.update(["x", "y"])
    assert len(ids) == 1002
    assert all(f"run-{i}" in ids for i in range(1000)) and "x" in ids and "y" in ids
    assert not any(f"other-{i}" in ids for i in range(1000)) and None not in ids
