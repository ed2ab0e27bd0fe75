"""Lost state, conflicts made by someone else, and quarantine: real `mlflow-syncer` processes
(tests.fixtures.cli.run_forked)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Param, ViewType

from tests.compare import assert_same
from tests.fixtures.cli import run_forked
from tests.fixtures.sqlite_stores import sqlite_store
from tests.fixtures.workload import T0, make_workload


def _args(source: str, dest: str, state: Path, pattern: str) -> list[str]:
    # prompts are workspace-wide: other tests' prompts on the session servers are not this test's
    return [
        "--source",
        source,
        "--dest",
        dest,
        "--state",
        f"sqlite:///{state}",
        "--experiments",
        pattern,
        "--no-prompts",
    ]


def _forget(state: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state}{suffix}").unlink(missing_ok=True)


def _dest_copies(dst: MlflowClient, names: list[str], view: int = ViewType.ALL) -> dict[str, list]:
    ids = [dst.get_experiment_by_name(n).experiment_id for n in names]
    out: dict[str, list] = {}
    for r in dst.search_runs(ids, run_view_type=view, max_results=50000):
        out.setdefault(r.data.tags.get("mlflow_syncer.source_run_id"), []).append(r)
    return out


def test_lost_state_duplicates_nothing_and_rebuild_restores_it(
    source_server, dest_server, unique_name, tmp_path
):
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    w = make_workload(src, unique_name, runs_per_experiment=1)
    state = tmp_path / "state.db"
    args = _args(source_server.url, dest_server.url, state, f"{unique_name}/*")
    assert run_forked("migrate", *args, "--no-progress").returncode == 0

    _forget(state)
    again = run_forked("migrate", *args, "--no-progress")
    assert again.returncode == 0, again.stderr
    assert_same(src, dst, w.experiments)
    copies = _dest_copies(dst, w.experiments)
    assert sorted(copies) == sorted(w.runs.values()) and all(len(c) == 1 for c in copies.values())

    _forget(state)
    rebuilt = run_forked("state", "rebuild", *args)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"{len(w.experiments) + len(w.runs)} objects mapped" in rebuilt.stdout
    shown = run_forked("state", "show", *args)
    assert shown.returncode == 0, shown.stderr
    assert (
        f"run done: {len(w.runs)}" in shown.stdout
        and f"experiment done: {len(w.experiments)}" in shown.stdout
    )
    assert "run done" in run_forked("state", "show", *args).stdout
    final = run_forked("migrate", *args, "--no-progress")
    assert final.returncode == 0
    assert len(_dest_copies(dst, w.experiments)) == len(w.runs)


def test_destination_changes_are_conflicts_not_overwritten(
    source_server, dest_server, unique_name, tmp_path
):
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    w = make_workload(src, unique_name, runs_per_experiment=1)
    args = _args(source_server.url, dest_server.url, tmp_path / "state.db", f"{unique_name}/*")
    assert run_forked("migrate", *args, "--no-progress").returncode == 0
    copies = _dest_copies(dst, w.experiments)
    deleted = copies[w.runs["a-0"]][0].info.run_id
    edited = copies[w.runs["b-0"]][0].info.run_id
    dst.delete_run(deleted)
    dst.set_tag(edited, "i", "edited by someone")

    result = run_forked("migrate", *args, "--no-progress")
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"! run \S+/a-0: conflict: deleted in the destination", result.stdout), (
        result.stdout
    )
    assert re.search(r"! run \S+/b-0: conflict: edited in the destination", result.stdout), (
        result.stdout
    )
    after = _dest_copies(dst, w.experiments)
    assert [r.info.run_id for r in after[w.runs["a-0"]]] == [deleted]
    assert dst.get_run(deleted).info.lifecycle_stage == "deleted"
    assert dst.get_run(edited).data.tags["i"] == "edited by someone"
    assert all(len(c) == 1 for c in after.values())


def _store_with_rejected_value(path: Path) -> tuple[str, str]:
    """A direct SQLite source holding a param key no MLflow server accepts ("huge!")."""
    uri = sqlite_store(path)
    client = MlflowClient(uri)
    files = (
        path.parent / "src-files"
    )  # its own artifact folder, never the working directory's ./mlruns
    files.mkdir()
    exp = client.create_experiment("quarantine/exp", artifact_location=files.as_uri())
    good = client.create_run(exp, start_time=T0, run_name="good").info.run_id
    client.log_batch(good, params=[Param("p", "fine")])
    client.set_terminated(good, "FINISHED", end_time=T0 + 5)
    bad = client.create_run(exp, start_time=T0 + 1, run_name="bad").info.run_id
    client.log_batch(bad, params=[Param("huge", "x")])
    client.set_terminated(bad, "FINISHED", end_time=T0 + 6)
    with sqlite3.connect(
        path
    ) as db:  # written behind MLflow's back, as an older or other store might hold it
        db.execute("UPDATE params SET key = 'huge!' WHERE run_uuid = ? AND key = 'huge'", (bad,))
    return uri, bad


def test_rejected_value_is_retried_then_quarantined_never_blocking(
    dest_server, unique_name, tmp_path
):
    source, bad = _store_with_rejected_value(tmp_path / "src.db")
    state = tmp_path / "state.db"
    config = tmp_path / "c.yaml"
    config.write_text(
        f"experiment_names:\n  - match: '^quarantine/'\n    replace: '{unique_name}/'\n"
        "quarantine_after: 2\n"
    )
    args = [
        "--config",
        str(config),
        *_args(source, dest_server.url, state, "quarantine/*"),
        "--no-progress",
    ]
    first = run_forked("migrate", *args)
    assert first.returncode == 1, first.stdout + first.stderr
    assert re.search(
        r"! run \S+/bad: failed: key 'huge!' holds characters MLflow refuses", first.stdout
    ), first.stdout
    dst = MlflowClient(dest_server.url)
    name = f"{unique_name}/exp"
    good = [
        r
        for r in dst.search_runs([dst.get_experiment_by_name(name).experiment_id])
        if r.info.run_name == "good"
    ]
    assert len(good) == 1 and good[0].data.params == {"p": "fine"}
    shown = run_forked("state", "show", *args[:-1]).stdout
    assert re.search(rf"! run {bad} failed after 1 attempts: .*huge", shown), shown

    second = run_forked("migrate", *args)
    assert second.returncode == 1 and re.search(r"/bad: quarantined: ", second.stdout), (
        second.stdout
    )
    third = run_forked("migrate", *args)
    assert third.returncode == 1
    assert re.search(r"/bad: quarantined: quarantined after repeated failures", third.stdout), (
        third.stdout
    )
    shown = run_forked("state", "show", *args[:-1]).stdout
    assert re.search(rf"! run {bad} quarantined after 2 attempts: .*huge", shown), shown
    released = run_forked("state", "release", *args[:-1])
    assert released.returncode == 0 and "released 1 quarantined objects" in released.stdout
    assert re.search(r"/bad: failed: key 'huge!'", run_forked("migrate", *args).stdout)
    assert [
        r.info.run_name
        for r in dst.search_runs(
            [dst.get_experiment_by_name(name).experiment_id], run_view_type=ViewType.ALL
        )
    ] == ["good"]
