"""Links from prompt versions to a logged model and to a trace, between real servers; a rerun
creates nothing."""

from __future__ import annotations

import json

from mlflow import MlflowClient

from tests.fixtures.cli import cli_env, kill_at, run_forked
from tests.fixtures.models import tracking
from tests.fixtures.traces import T0_NS, simple_trace

LINKED = "mlflow.linkedPrompts"


def _seed(url: str, prefix: str) -> tuple[str, str, str]:
    """Experiment `<prefix>/links`: a standalone logged model linked to prompt v2, a trace linked to
    v1."""
    client = MlflowClient(url)
    name = f"{prefix}-lp"
    exp = client.create_experiment(f"{prefix}/links")
    client.create_prompt(name)
    v1 = client.create_prompt_version(name, "Hello {{who}}")
    client.create_prompt_version(name, "Hi {{who}}")
    model = client.create_logged_model(exp, name="agent")
    client.finalize_logged_model(model.model_id, "READY")
    trace_id = simple_trace(url, exp, T0_NS)
    with tracking(url):  # MLflow links through the process-wide tracking and registry servers
        client.link_prompt_version_to_model(name, "2", model.model_id)
        client.link_prompt_versions_to_trace([v1], trace_id)
    return name, exp, trace_id


def _args(src: str, dst: str, state: str, experiment: str, name: str) -> tuple[str, ...]:
    return (
        "--source",
        src,
        "--dest",
        dst,
        "--state",
        state,
        "--experiments",
        experiment,
        "--prompts",
        name,
        "--no-progress",
    )


def _dest_state(url: str, experiment: str, name: str) -> dict:
    """What the destination's MLflow API says of the copies' links to the prompt's versions."""
    client = MlflowClient(url)
    exp = client.get_experiment_by_name(experiment).experiment_id
    models = client.search_logged_models(experiment_ids=[exp])
    traces = client.search_traces(locations=[exp])
    by_prompt = {
        v: [
            t.info.tags["mlflow_syncer.source_trace_id"]
            for t in client.search_traces(locations=[exp], filter_string=f'prompt = "{name}/{v}"')
        ]
        for v in ("1", "2")
    }
    return {
        "models": [(m.name, json.loads(m.tags[LINKED])) for m in models],
        "traces": [json.loads(t.info.tags[LINKED]) for t in traces],
        "traces_by_prompt": by_prompt,
        "versions": sorted(
            int(v.version) for v in client.search_prompt_versions(name, max_results=100)
        ),
    }


def test_prompt_links_of_a_logged_model_and_a_trace_name_the_copied_versions(
    prompt_source, dest_server, unique_name, tmp_path
):
    name, _exp, trace_id = _seed(prompt_source.url, unique_name)
    experiment = f"{unique_name}/links"
    args = _args(
        prompt_source.url, dest_server.url, f"sqlite:///{tmp_path / 's.db'}", experiment, name
    )
    first = run_forked("migrate", *args)
    assert first.returncode == 0, first.stdout + first.stderr
    want = {
        "models": [("agent", [{"name": name, "version": "2"}])],
        "traces": [[{"name": name, "version": "1"}]],
        "traces_by_prompt": {"1": [trace_id], "2": []},
        "versions": [1, 2],
    }
    src_exp = MlflowClient(prompt_source.url).get_experiment_by_name(experiment).experiment_id
    source_by_prompt = [
        t.info.trace_id
        for t in MlflowClient(prompt_source.url).search_traces(
            locations=[src_exp], filter_string=f'prompt = "{name}/1"'
        )
    ]
    assert source_by_prompt == [
        trace_id
    ]  # the source's own association, which the copy must have too
    assert _dest_state(dest_server.url, experiment, name) == want
    rerun = run_forked("migrate", *args)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert _dest_state(dest_server.url, experiment, name) == want
    diff = run_forked("diff", *args[:-1])
    assert diff.returncode == 0, diff.stdout + diff.stderr


def test_kill_right_after_the_trace_copy_is_made_leaves_its_prompt_link_in_place(
    prompt_source, dest_server, unique_name, tmp_path
):
    """The link is written before the write that makes the copy: a rerun sees the copy done and
    still finds it."""
    name, _exp, trace_id = _seed(prompt_source.url, unique_name)
    experiment = f"{unique_name}/links"
    args = _args(
        prompt_source.url, dest_server.url, f"sqlite:///{tmp_path / 's.db'}", experiment, name
    )
    killed = run_forked("migrate", *args, env=cli_env(**kill_at("start_trace:1:after")))
    assert killed.returncode == -9, killed.stdout + killed.stderr
    resumed = run_forked("migrate", *args)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _dest_state(dest_server.url, experiment, name)["traces_by_prompt"] == {
        "1": [trace_id],
        "2": [],
    }


def test_a_logged_models_link_names_the_copys_number_where_numbers_differ(
    prompt_source, dest_server, unique_name, tmp_path
):
    """The destination prompt already holds a version: source v2 is copied as v3, and the model's
    link says 3."""
    name, _exp, _trace = _seed(prompt_source.url, unique_name)
    experiment = f"{unique_name}/links"
    dst = MlflowClient(dest_server.url)
    dst.create_prompt(name)
    dst.create_prompt_version(name, "hand-made {{who}}")
    args = _args(
        prompt_source.url, dest_server.url, f"sqlite:///{tmp_path / 's.db'}", experiment, name
    )
    for _ in range(2):  # the rerun changes nothing
        done = run_forked("migrate", *args)
        assert done.returncode == 0, done.stdout + done.stderr
        state = _dest_state(dest_server.url, experiment, name)
        assert (state["models"], state["versions"]) == (
            [("agent", [{"name": name, "version": "3"}])],
            [1, 2, 3],
        )
    assert dst.get_prompt_version(name, 3).template == "Hi {{who}}"
