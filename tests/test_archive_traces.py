"""Traces archived in an Azure-ML-like destination (no trace API: 403), then restored into a plain
MLflow server.

A source with a rich trace (nested spans, an errored span, a feedback and an expectation, a large
unicode input) linked to a run, and plain traces (one errored) spread over several hours, is
migrated with `--unsupported archive` into the Azure ML emulator; the pass is killed with SIGKILL
between two uploads and rerun. The traces stay `!` rows marked archived; each archived file is
MLflow's own trace JSON of the source trace. The runs are then migrated from the Azure-ML-like
workspace into a plain server, and `restore` loads the traces there, killed half-way and rerun: span
trees, times, assessments and run links equal the source's; reruns write nothing.
"""

from __future__ import annotations

import json
import signal
import uuid
from collections import Counter
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from syncer.apply.archive import ArchiveWriter, archive_experiment
from syncer.backends.endpoint import Endpoint
from syncer.core import hooks
from syncer.core.archive import (
    ARCHIVE_EXPERIMENT,
    TAG_ARCHIVE_EXPERIMENT_NAME,
    TAG_ARCHIVE_SOURCE,
)
from syncer.core.capabilities import PLAIN_MLFLOW
from syncer.core.snapshot import TAG_SOURCE_RUN_ID
from syncer.engine.archive import restore
from syncer.kinds.traces.archive import file_name
from syncer.kinds.traces.archive_scan import trace_bucket
from tests.compare import assert_same_traces
from tests.fixtures.cli import cli_env, kill_at, run_forked, write_config
from tests.fixtures.traces import T0_NS, seed_traces

# one more than a batch (syncer.kinds.traces.apply.TRACE_BATCH, 50): two batches each way
TRACES = 51
REASON = "destination has no trace API: azureml; archived in mlflow-syncer-archive"


@pytest.fixture(scope="module")
def source_traces(source_server):
    """tests.fixtures.traces.seed_traces: (prefix, experiment names, the 6 trace ids: 4 in genai,
    then 2 in chat)."""
    prefix = f"ta-{uuid.uuid4().hex[:8]}"
    ids = seed_traces(source_server.url, prefix)
    return prefix, [f"{prefix}/genai", f"{prefix}/chat"], ids


def _holder(client: MlflowClient, source: str, experiment: str) -> str:
    exp = client.get_experiment_by_name(ARCHIVE_EXPERIMENT).experiment_id
    (holder,) = client.search_runs(
        [exp],
        f"tags.`{TAG_ARCHIVE_SOURCE}` = '{source}' and "
        f"tags.`{TAG_ARCHIVE_EXPERIMENT_NAME}` = '{experiment}'",
    )
    return holder.info.run_id


def _trace_rows(stdout: str) -> list[str]:
    return sorted(
        line.strip() for line in stdout.splitlines() if line.strip().startswith("! traces")
    )


@pytest.fixture(scope="module")
def archived(source_traces, source_server, azureml_dest, tmp_path_factory):
    """Migrate into the Azure-ML-like workspace with `--unsupported archive`: killed after the
    second trace upload, then rerun. Returns the config and the rerun's output."""
    prefix, _, _ = source_traces
    tmp = tmp_path_factory.mktemp("trace-archive")
    config = write_config(
        tmp / "to-azure.yaml",
        source={"tracking_uri": source_server.url},
        destination={"tracking_uri": azureml_dest.url, "profile": "azureml"},
        state=f"sqlite:///{tmp / 'a.db'}",
        experiments=[f"{prefix}/*"],
        copy_models=False,
        unsupported="archive",
    )
    killed = run_forked(
        "migrate",
        "--config",
        str(config),
        "--no-progress",
        env=cli_env(**kill_at("log_artifacts:2:after")),
    )
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    rerun = run_forked("migrate", "--config", str(config), "--no-progress")
    return config, rerun


def test_traces_are_archived_as_mlflow_trace_json_once(
    source_traces, archived, source_server, azureml_dest, tmp_path
):
    _, names, ids = source_traces
    config, rerun = archived
    assert rerun.returncode == 1, (
        rerun.stdout + rerun.stderr
    )  # traces are still not objects of the destination
    assert _trace_rows(rerun.stdout) == sorted(
        [f"! traces 2 ({names[1]}) [{REASON}]", f"! traces 4 ({names[0]}) [{REASON}]"]
    ), rerun.stdout
    src, az = MlflowClient(source_server.url), MlflowClient(azureml_dest.server.url)
    for name, expected in ((names[0], ids[:4]), (names[1], ids[4:])):
        holder = _holder(az, source_server.url, name)
        files = sorted(
            f.path
            for hour in az.list_artifacts(holder, "trace")
            for f in az.list_artifacts(holder, hour.path)
        )
        want = {}
        for trace_id in expected:
            trace = src.get_trace(trace_id)
            want[f"{trace_bucket(trace.info.request_time)}/{file_name(trace_id)}"] = json.loads(
                trace.to_json()
            )
        assert files == sorted(want)
        for path, trace_json in want.items():
            doc = json.loads(
                Path(az.download_artifacts(holder, path, str(tmp_path))).read_text(encoding="utf-8")
            )
            assert doc["kind"] == "trace" and doc["source_id"] == path.rsplit("/", 1)[
                -1
            ].removesuffix(".json")
            assert (
                doc["object"] == trace_json
            )  # MLflow's own trace JSON, run link as the source wrote it

    diff = run_forked(
        "diff", "--config", str(config), "--unsupported", "archive"
    )  # reads what the archive holds
    assert diff.returncode == 1 and _trace_rows(diff.stdout) == _trace_rows(rerun.stdout), (
        diff.stdout
    )
    # A third pass archives nothing: it would be killed at its first upload.
    again = run_forked(
        "migrate",
        "--config",
        str(config),
        "--no-progress",
        env=cli_env(**kill_at("log_artifacts:1")),
    )
    assert again.returncode == 1 and _trace_rows(again.stdout) == _trace_rows(rerun.stdout), (
        again.stderr
    )


def test_restore_loads_archived_traces_into_a_server_with_the_trace_api(
    source_traces, archived, source_server, azureml_dest, dest_server, tmp_path
):
    prefix, names, _ = source_traces
    from_azure = write_config(
        tmp_path / "from-azure.yaml",
        destination={"tracking_uri": dest_server.url},
        source={"tracking_uri": azureml_dest.url, "profile": "azureml"},
        state=f"sqlite:///{tmp_path / 'b.db'}",
        experiments=[f"{prefix}/*"],
        copy_models=False,
    )
    runs = run_forked("migrate", "--config", str(from_azure), "--no-progress")
    assert runs.returncode in (0, 1), (
        runs.stderr
    )  # the run, via the archive's server (trace listings: 403)
    restore = ["restore", "--config", str(from_azure)]
    killed = run_forked(*restore, env=cli_env(**kill_at("start_trace:2:after")))
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    out = run_forked(*restore)
    assert out.returncode == 0 and out.stdout.startswith("restored "), out.stdout + out.stderr

    # Run links: the destination run is a copy of the archive's copy of the source run.
    az = MlflowClient(azureml_dest.server.url)
    through = {
        r.info.run_id: r.data.tags[TAG_SOURCE_RUN_ID]
        for r in az.search_runs([az.get_experiment_by_name(names[0]).experiment_id])
    }
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    assert assert_same_traces(src, dst, {n: n for n in names}, through) == 6

    again = run_forked(*restore, env=cli_env(**kill_at("start_trace:1")))  # a write would kill it
    assert again.returncode == 0, again.stdout + again.stderr
    assert (
        again.stdout.startswith("restored 0 archived objects")
        and "; 6 traces already there" in again.stdout
    )
    assert assert_same_traces(src, dst, {n: n for n in names}, through) == 6


@pytest.fixture
def calls():
    """Counts of the API operations mlflow-syncer makes in this process (syncer.core.hooks), by
    name."""
    seen: Counter = Counter()

    def count(op: str, when: str) -> None:
        if when == "before":
            seen[op] += 1

    hooks.observe(count)
    yield seen
    hooks.unobserve(count)


def test_many_traces_are_paged_and_batched_both_ways(
    source_server, dest_server, unique_name, calls
):
    """51 traces of one hour, read 25 a page (3 pages): archived in 2 batches (50 + 1), once;
    restored in 2 batches."""
    mlflow.set_tracking_uri(source_server.url)  # where MLflow's exporter sends the traces
    client = MlflowClient(source_server.url)
    name = f"{unique_name}-many"
    exp = client.create_experiment(name)
    for i in range(TRACES):
        root = client.start_trace(
            f"t{i}", inputs={"i": i}, experiment_id=exp, start_time_ns=T0_NS + i * 1_000_000
        )
        client.end_trace(
            root.trace_id, outputs={"o": i}, end_time_ns=T0_NS + i * 1_000_000 + 500_000
        )
    src = Endpoint(
        source_server.url, caps=PLAIN_MLFLOW.with_overrides(search_page_size=25), role="source"
    )
    archive = Endpoint(dest_server.url, role="destination")

    assert archive_experiment(
        src, ArchiveWriter(archive, f"{unique_name}-src"), "trace", exp, name
    ) == (TRACES, 0)
    assert (calls["search_traces"], calls["batch_get_traces"], calls["log_artifacts"]) == (3, 2, 2)
    calls.clear()
    assert archive_experiment(
        src, ArchiveWriter(archive, f"{unique_name}-src"), "trace", exp, name
    ) == (0, TRACES)
    assert calls["batch_get_traces"] == calls["log_artifacts"] == 0

    calls.clear()
    done = restore(archive, Endpoint(dest_server.url))  # the archive's own server has the trace API
    assert done.restored >= TRACES and calls["start_trace"] == TRACES and calls["log_spans"] == 2
    restored = MlflowClient(dest_server.url)
    copy_exp = restored.get_experiment_by_name(name).experiment_id
    copies = restored.search_traces(locations=[copy_exp], include_spans=False, max_results=100)
    assert sorted(t.info.tags["mlflow_syncer.source_trace_id"] for t in copies) == sorted(
        t.info.trace_id
        for t in client.search_traces(locations=[exp], include_spans=False, max_results=100)
    )
    assert sorted(t.info.request_time for t in copies) == [
        T0_NS // 1_000_000 + i for i in range(TRACES)
    ]
    first_downloads = calls[
        "download_artifacts"
    ]  # the trace files, and the other kinds archived in this session
    calls.clear()
    again = restore(archive, Endpoint(dest_server.url))
    assert again.unchanged >= TRACES and calls["start_trace"] == calls["log_spans"] == 0
    assert first_downloads - calls["download_artifacts"] == TRACES  # no trace file is read again
