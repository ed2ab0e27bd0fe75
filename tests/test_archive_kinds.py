"""The archivers of real kinds: prompts, a standalone logged model with files and a dataset with
records are archived into a destination whose capabilities lack their APIs, then restored
(`mlflow-syncer restore`) into a plain MLflow server that has them (the same server: the runs they
link to were migrated there), and compared deeply with the source; a second restore creates
nothing."""

from __future__ import annotations

from mlflow import MlflowClient

from syncer.backends.endpoint import Endpoint
from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.core.archive import ARCHIVE_EXPERIMENT, TAG_ARCHIVE_SOURCE, files_path
from syncer.core.capabilities import PLAIN_MLFLOW
from syncer.engine.archive import restore
from syncer.engine.sync import PassOptions, open_state, run_pass
from tests.compare import dataset_records, logged_model_records, prompt_record
from tests.fixtures.cli import run_forked
from tests.fixtures.prompts import make_prompts
from tests.test_logged_models_datasets import make_genai

KINDS = ("prompt", "logged_model", "dataset")


def _archive(src_url: str, dst_url: str, tmp_path, experiments: list[str], prompts: str):
    settings = Settings(
        source=EndpointConfig(tracking_uri=src_url),
        destination=EndpointConfig(tracking_uri=dst_url),
        state=f"sqlite:///{tmp_path / 'state.db'}",
        experiments=experiments,
        prompts=[prompts],
        unsupported="archive",
    )
    src = Endpoint(src_url, role="source")
    dst = Endpoint(
        dst_url,
        caps=PLAIN_MLFLOW.without("prompt", "logged_model", "dataset"),
        role="destination",
    )
    state = open_state(settings, src, dst, read_only=False)
    try:
        return run_pass(settings, src, dst, state, PassOptions())
    finally:
        state.close()


def _same(want: dict, have: dict, what: str) -> None:
    assert sorted(want) == sorted(have), what
    for key, record in want.items():
        for field, value in record.items():
            assert have[key][field] == value, f"{what} {key}: {field} differs"


def _counts(url: str, prefix: str, exp_id: str) -> tuple:
    client = MlflowClient(url)
    versions = sum(
        len(list(client.search_prompt_versions(p.name, max_results=1000)))
        for p in client.search_prompts(f"name LIKE '{prefix}-%'")
    )
    return (
        versions,
        len(client.search_logged_models([exp_id])),
        len(client.search_datasets(experiment_ids=[exp_id])),
    )


def test_prompts_logged_models_and_datasets_are_archived_then_restored(
    prompt_source, dest_server, unique_name, tmp_path
):
    p = make_prompts(prompt_source.url, unique_name)
    g = make_genai(prompt_source.url, f"{unique_name}-m")
    result = _archive(
        prompt_source.url, dest_server.url, tmp_path, [p.experiment, g.experiment], f"{p.prefix}-*"
    )
    assert [o.error for o in result.outcomes if not o.ok] == []
    archived = {
        a.kind: a.details.get("archived") for a in result.plan.actions if a.op is Op.UNCOPIED
    }
    assert archived == {"prompt": 2, "prompt_version": None, "logged_model": 1, "dataset": 1}
    dst = MlflowClient(dest_server.url)
    assert list(dst.search_prompts(f"name LIKE '{p.prefix}-%'")) == []  # nothing restored yet
    exp = dst.get_experiment_by_name(ARCHIVE_EXPERIMENT).experiment_id
    (holder,) = dst.search_runs(
        [exp],
        f"tags.`{TAG_ARCHIVE_SOURCE}` = '{prompt_source.url}' and "
        f"tags.`mlflow_syncer.archive.experiment_name` = '{g.experiment}'",
    )
    files = {
        f.path
        for f in dst.list_artifacts(holder.info.run_id, files_path("logged_model", g.model_id))
    }
    assert {
        f"{files_path('logged_model', g.model_id)}/{n}" for n in ("MLmodel", "weights")
    } == files

    out = run_forked("restore", "--source", dest_server.url, "--dest", dest_server.url)
    assert out.stdout.startswith("restored "), out.stderr
    assert not [
        line for line in out.stdout.splitlines() if "not restored" in line and "note" not in line
    ], out.stdout

    src = MlflowClient(prompt_source.url)
    for name in (p.qa, p.chat):
        assert prompt_record(dst, name, True) == prompt_record(src, name, False)
    dest_exp = dst.get_experiment_by_name(g.experiment).experiment_id
    _same(
        logged_model_records(prompt_source.url, [g.experiment_id], False),
        logged_model_records(dest_server.url, [dest_exp], True),
        "logged model",
    )
    _same(
        dataset_records(prompt_source.url, [g.experiment_id], False),
        dataset_records(dest_server.url, [dest_exp], True),
        "dataset",
    )

    before = _counts(dest_server.url, p.prefix, dest_exp)
    assert before == (5, 1, 1)
    again = restore(Endpoint(dest_server.url), Endpoint(dest_server.url))
    assert again.restored >= 4
    assert _counts(dest_server.url, p.prefix, dest_exp) == before
    assert prompt_record(dst, p.qa, True) == prompt_record(src, p.qa, False)
