"""Runs that share one dataset, copied side by side into an MLflow 3 server (issue 28, item 3).

MLflow's SQL store checks which datasets of a `log_inputs` exist, then inserts the others: two runs
of one experiment logging the same dataset at once race, and the loser answers BAD_REQUEST "UNIQUE
constraint failed: datasets.experiment_id, datasets.name, datasets.digest" (seen in 9 of 16 fresh
first passes with 8 workers). The row is there after that answer, so asking again settles it
(syncer.backends.classify). Several fresh experiments, each the first copy of its shared dataset,
copied with 8 workers in two fresh first passes: each pass exits 0 and every run is complete
(params, metrics, status, inputs deep-equal).
"""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param

from tests.compare import assert_same
from tests.fixtures.cli import run_forked

EXPERIMENTS_PER_PASS, RUNS = 4, 8


def _shared_dataset(tag: str) -> list[DatasetInput]:
    """The training set every run of an experiment logs (the same name and digest: one row per
    experiment)."""
    data = Dataset(
        "train",
        "d1g3st",
        "local",
        '{"uri": "/data/train.csv"}',
        '{"mlflow_colspec": []}',
        '{"num_rows": 60}',
    )
    return [DatasetInput(data, [InputTag("mlflow.data.context", tag)])]


def _source(client: MlflowClient, prefix: str) -> list[str]:
    names = [f"{prefix}-{i}" for i in range(EXPERIMENTS_PER_PASS)]
    for name in names:
        exp = client.create_experiment(name)
        for trial in range(RUNS):
            rid = client.create_run(exp, run_name=f"trial-{trial}").info.run_id
            client.log_batch(
                rid,
                metrics=[Metric("loss", 1.0 / (trial + 1), 1_700_000_000_000, 0)],
                params=[Param("C", str(trial))],
            )
            client.log_inputs(rid, _shared_dataset("training"))
            client.set_terminated(rid)
    return names


def test_runs_sharing_a_dataset_copied_by_8_workers(
    source_server, dest_server, unique_name, tmp_path: Path
):
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    for attempt in range(2):
        names = _source(src, f"{unique_name}-{attempt}")
        done = run_forked(
            "migrate",
            "--source",
            source_server.url,
            "--dest",
            dest_server.url,
            "--state",
            f"sqlite:///{tmp_path / f'state-{attempt}.db'}",
            "--experiments",
            f"{unique_name}-{attempt}-*",
            "--workers",
            "8",
            "--no-progress",
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert_same(src, dst, names)
        runs = dst.search_runs([dst.get_experiment_by_name(n).experiment_id for n in names])
        assert len(runs) == EXPERIMENTS_PER_PASS * RUNS
        assert all(
            r.info.status == "FINISHED"
            and r.data.params
            and r.data.metrics
            and len(r.inputs.dataset_inputs) == 1
            for r in runs
        )
