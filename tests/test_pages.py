"""One experiment above the run step's chunk size is read in start-time windows (issue 14), against
real servers.

With `CHUNK_RUNS` = `WINDOW_RUNS` = 3, an experiment of 14 runs is cut into windows `[lo, hi)` of
about 3 runs: runs sharing one start time across a cut stay in one window, children are nested under
parents of an earlier window and of a later one, a second experiment stays whole. Checked: the dry
run plans what the migration applies, the copy is deep-equal, a rerun does nothing, a
destination-only run is found once, a lost create's leftover copy and a copy without its last write
are settled without a duplicate, and a copy whose start time differs from its source's (outside the
window) is found through the state store instead of being created again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, ViewType

from syncer.backends.telemetry import api_call_counts
from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.core.snapshot import TAG_DUPLICATE_OF, TAG_FINGERPRINT, TAG_SOURCE_RUN_ID
from syncer.engine.sync import PassOptions, endpoints, open_state, run_pass, sync
from syncer.kinds.runs import stream as run_stream
from syncer.plan.uncopied import is_unlisted
from syncer.state.store import DONE
from tests.compare import assert_same

T0 = 1_700_000_000_000
# run name -> (start offset in s, parent name); shared starts: s3 (3 runs across the first cut), s9
# (2 runs)
RUNS = {
    "r0": (0, None),
    "r1": (1, None),
    "r2": (2, None),
    "s3a": (3, None),
    "s3b": (3, None),
    "s3c": (3, None),
    "p5": (5, None),
    "c6": (6, "p5"),
    "c7": (7, "p5"),
    "g8": (8, "c7"),
    "s9a": (9, "late"),
    "s9b": (9, None),
    "late": (12, None),
    "r13": (13, None),
}


def _make(client: MlflowClient, prefix: str) -> tuple[list[str], dict[str, str]]:
    big = client.create_experiment(f"{prefix}/big")
    small = client.create_experiment(f"{prefix}/small")
    ids: dict[str, str] = {}
    for name, (offset, parent) in sorted(
        RUNS.items(), key=lambda kv: kv[0] == "s9a"
    ):  # s9a after its parent
        ids[name] = _run(client, big, name, offset, ids[parent] if parent else None)
    ids["small-0"] = _run(client, small, "small-0", 4, ids["p5"])  # nested across experiments
    return [f"{prefix}/big", f"{prefix}/small"], ids


def _run(client: MlflowClient, exp: str, name: str, offset: int, parent: str | None) -> str:
    tags = {"mlflow.parentRunId": parent} if parent else {}
    rid = client.create_run(
        exp, start_time=T0 + offset * 1000, run_name=name, tags=tags
    ).info.run_id
    client.log_batch(
        rid,
        metrics=[Metric("loss", 1.0 / (s + 1), T0 + s, s) for s in range(5)],
        params=[Param("name", name)],
    )
    client.set_terminated(rid, "FINISHED", end_time=T0 + offset * 1000 + 500)
    return rid


@pytest.fixture
def pages(source_server, dest_server, unique_name, tmp_path, monkeypatch):
    monkeypatch.setattr(run_stream, "CHUNK_RUNS", 3)
    monkeypatch.setattr(run_stream, "WINDOW_RUNS", 3)
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    names, ids = _make(src, unique_name)
    settings = Settings(
        source=EndpointConfig(tracking_uri=source_server.url),
        destination=EndpointConfig(tracking_uri=dest_server.url),
        state=f"sqlite:///{tmp_path / 's.db'}",
        experiments=[f"{unique_name}/*"],
    )
    return settings, src, dst, names, ids


def _changes(result) -> Counter:
    return Counter((a.kind, a.op.value) for a in result.plan.actions if not is_unlisted(a))


def _segments(result, experiments: tuple[str, ...]) -> list[tuple[tuple | None, set[str]]]:
    """(window, source run ids planned in it) of each run segment of those experiments, in plan
    order."""
    out, actions = [], iter(result.plan.actions)
    for seg in result.plan.segments:
        mine = [next(actions) for _ in range(seg.count)]
        if seg.experiments == experiments:
            out.append((seg.window, {a.source_id for a in mine if a.kind == "run"}))
    return out


def retire(run_id: str, keep: str, dst: MlflowClient) -> None:
    """What the syncer does to a duplicate: marked, then deleted."""
    dst.set_tag(run_id, TAG_DUPLICATE_OF, keep)
    dst.delete_run(run_id)


def _live_copies(dst: MlflowClient, names: list[str]) -> Counter:
    exps = [dst.get_experiment_by_name(n).experiment_id for n in names]
    runs = dst.search_runs(exps, run_view_type=ViewType.ACTIVE_ONLY, max_results=1000)
    return Counter(r.data.tags[TAG_SOURCE_RUN_ID] for r in runs if TAG_SOURCE_RUN_ID in r.data.tags)


def test_one_experiment_in_windows_copies_exactly_as_planned(pages) -> None:
    settings, src, dst, names, ids = pages
    dry = sync(settings, dry_run=True)
    real = sync(settings)
    assert real.plan.actions == dry.plan.actions
    assert real.failed == []
    assert Counter(o.action for o in real.outcomes) == Counter(dry.plan.mutating())
    assert _changes(real) == {("experiment", "create"): 2, ("run", "create"): len(ids)}
    big = next(e for e, n in real.plan.dest_names.items() if n == names[0])
    s = 1000
    by_name = {v: k for k, v in ids.items()}
    assert [(w, sorted(by_name[r] for r in rs)) for w, rs in _segments(real, (big,))] == [
        ((None, T0 + 3 * s), ["r0", "r1", "r2"]),
        (
            (T0 + 3 * s, T0 + 5 * s),
            ["s3a", "s3b", "s3c"],
        ),  # one start time across the cut: one window
        ((T0 + 5 * s, T0 + 8 * s), ["c6", "c7", "p5"]),
        (
            (T0 + 8 * s, T0 + 12 * s),
            ["g8", "s9b"],
        ),  # g8's parent planned in an earlier window; s9a deferred
        ((T0 + 12 * s, None), ["late", "r13"]),
    ]
    deferred = [r for _w, rs in _segments(real, run_stream.DEFERRED) for r in rs]
    assert sorted(by_name[r] for r in deferred) == [
        "s9a",
        "small-0",
    ]  # parents read later: planned last
    assert_same(src, dst, names)
    assert _live_copies(dst, names) == Counter(ids.values())
    again = sync(settings)
    assert again.outcomes == []
    assert _changes(again) == {("experiment", "same"): 2, ("run", "same"): len(ids)}


def test_windows_find_extras_leftovers_and_copies_outside_their_window(pages) -> None:
    settings, src, dst, names, ids = pages
    assert sync(settings).failed == []
    big = dst.get_experiment_by_name(names[0]).experiment_id
    copy_of = {r.data.tags[TAG_SOURCE_RUN_ID]: r for r in dst.search_runs([big], max_results=1000)}
    foreign = dst.create_run(big, start_time=T0 + 6 * 1000, run_name="foreign").info.run_id
    kept = copy_of[ids["s3b"]]  # a create whose answer was lost leaves a second, empty copy
    leftover = dst.create_run(
        big, start_time=kept.info.start_time, tags={TAG_SOURCE_RUN_ID: ids["s3b"]}
    )
    dst.delete_tag(copy_of[ids["c7"]].info.run_id, TAG_FINGERPRINT)  # killed before its last write

    dry = sync(settings, dry_run=True)
    assert [(a.op, a.dest_id) for a in dry.plan.actions if a.op is Op.EXTRA] == [
        (Op.EXTRA, foreign)
    ]
    assert [
        a.details.get("duplicates") for a in dry.plan.actions if a.details.get("duplicates")
    ] == [[leftover.info.run_id]]
    real = sync(settings)
    assert real.plan.actions == dry.plan.actions and real.failed == []
    assert dst.get_run(leftover.info.run_id).data.tags[TAG_DUPLICATE_OF] == kept.info.run_id
    dst.delete_run(foreign)
    assert_same(src, dst, names)
    assert _live_copies(dst, names) == Counter(ids.values())

    # A copy the state store maps to r1 whose start time lies in the last window: read by id, not
    # created again.
    moved = dst.create_run(
        big, start_time=T0 + 13 * 1000 + 1, tags={TAG_SOURCE_RUN_ID: ids["r1"]}
    ).info.run_id
    retire(copy_of[ids["r1"]].info.run_id, moved, dst)
    src_end, dst_end = endpoints(settings)
    state = open_state(settings, src_end, dst_end, read_only=False)
    state.record("run", ids["r1"], moved, DONE)
    state.close()
    plan = sync(settings, dry_run=True).plan
    (r1,) = [a for a in plan.actions if a.source_id == ids["r1"]]
    assert (r1.op, r1.dest_id) == (Op.UPDATE, moved)
    assert not any(
        a.op in (Op.CREATE, Op.EXTRA, Op.DELETE) for a in plan.actions if a.kind == "run"
    )


def test_a_range_unit_reads_its_copies_once_as_one_stream_in_start_order(
    pages, unique_name
) -> None:
    """A range unit (`--engine ray`, syncer.engine.ray_units) cuts its range into windows of
    WINDOW_RUNS and takes each window's destination runs from one paged search of the range ordered
    by start time: every copy read once, in as many pages as the range holds (2 runs a page here),
    not a filtered search per window (3 windows of 3 runs: 6 pages)."""
    settings, src, dst, _names, _ids = pages
    flat = src.create_experiment(f"{unique_name}/flat")  # a ranged experiment holds no nested runs
    for i in range(9):
        _run(src, flat, f"f{i}", i, None)
    settings = settings.model_copy(update={"experiments": [f"{unique_name}/flat"]})
    assert sync(settings).failed == []
    src_end, dst_end = endpoints(settings)
    dst_end.caps = replace(dst_end.caps, search_page_size=2)
    state = open_state(settings, src_end, dst_end, read_only=True)
    s, before = 1000, api_call_counts()
    try:
        result = run_pass(
            settings,
            src_end,
            dst_end,
            state,
            PassOptions(
                dry_run=True, experiment_ids=frozenset({flat}), run_window=(T0 + 2 * s, None)
            ),
        )
    finally:
        state.close()
    searched = api_call_counts()[("destination", "search_runs")] - before.get(
        ("destination", "search_runs"), 0
    )
    assert searched == 4  # the range's 7 copies: pages of 2, 2, 2 and 1
    assert _changes(result) == {("experiment", "same"): 1, ("run", "same"): 7}
    assert [w for w, _runs in _segments(result, (flat,))] == [
        (T0 + 2 * s, T0 + 5 * s),
        (T0 + 5 * s, T0 + 8 * s),
        (T0 + 8 * s, None),
    ]
