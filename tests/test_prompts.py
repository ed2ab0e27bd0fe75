"""Prompts between real servers: versions, templates, aliases, tags and run links; reruns, kill -9,
mirror."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from syncer.backends.endpoint import Endpoint
from syncer.backends.telemetry import api_call_counts
from syncer.cli.app import main
from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.core.capabilities import PLAIN_MLFLOW
from syncer.engine.sync import PassOptions, open_state, run_pass
from tests.compare import prompt_links, prompt_record
from tests.fixtures.cli import cli_env, kill_at, migrate_forked, run_forked
from tests.fixtures.prompts import Prompts, make_prompts

PROMPT_KINDS = ("prompt", "prompt_version")
WRITES = ("create_", "set_", "log_", "delete_", "link_", "update_", "transition_", "finalize_")


def _migrate(src: str, dst: str, state: str, p: Prompts, env: dict | None = None):
    return migrate_forked(src, dst, state, p.experiment, "--prompts", f"{p.prefix}-*", env=env)


def _assert_exact(src_url: str, dst_url: str, p: Prompts) -> dict[str, dict]:
    """The destination holds an exact copy of both prompts and the run's links; returns the
    destination records."""
    src, dst = MlflowClient(src_url), MlflowClient(dst_url)
    want, have = {}, {}
    for name in (p.qa, p.chat):
        want[name], have[name] = (
            prompt_record(src, name, dest=False),
            prompt_record(dst, name, dest=True),
        )
        for key in ("tags", "experiments", "aliases", "versions"):
            assert want[name][key] == have[name][key], f"{name}: {key} differ"
    links = prompt_links(src, p.experiment, False, {n: r["numbers"] for n, r in want.items()})
    assert links == {p.run_id: [(p.chat, "1"), (p.qa, "2")]}
    assert (
        prompt_links(dst, p.experiment, True, {n: r["numbers"] for n, r in have.items()}) == links
    )
    return have


def _versions(url: str, name: str) -> list[int]:
    return sorted(
        int(v.version) for v in MlflowClient(url).search_prompt_versions(name, max_results=1000)
    )


def test_migrate_copies_prompts_exactly_and_a_rerun_creates_nothing(
    prompt_source, dest_server, unique_name, tmp_path
):
    p = make_prompts(prompt_source.url, unique_name)
    dst = MlflowClient(dest_server.url)
    dst.create_prompt(
        p.qa
    )  # the destination already holds a version: the copies are numbered 2, 3, 4
    dst.create_prompt_version(p.qa, "hand-made {{x}}")
    state = f"sqlite:///{tmp_path / 'state.db'}"
    first = _migrate(prompt_source.url, dest_server.url, state, p)
    assert first.returncode == 0, first.stdout + first.stderr
    have = _assert_exact(prompt_source.url, dest_server.url, p)
    assert have[p.qa]["foreign"] == ["1"] and have[p.qa]["numbers"] == {
        "2": "1",
        "3": "2",
        "4": "3",
    }
    assert dst.get_prompt_version_by_alias(p.qa, "production").version == 3
    v1 = dst.get_prompt_version(p.qa, 2)
    assert v1.model_config == {"model_name": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 300}
    assert v1.response_format == {"type": "object", "properties": {"answer": {"type": "string"}}}
    assert not dst.get_prompt_version(p.chat, 1).is_text_prompt
    again = _migrate(prompt_source.url, dest_server.url, state, p)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _versions(dest_server.url, p.qa) == [1, 2, 3, 4] and _versions(
        dest_server.url, p.chat
    ) == [1, 2]
    diff = run_forked(
        "diff",
        "--source",
        prompt_source.url,
        "--dest",
        dest_server.url,
        "--state",
        state,
        "--experiments",
        p.experiment,
        "--prompts",
        f"{p.prefix}-*",
    )
    assert diff.returncode == 0, diff.stdout + diff.stderr


def test_kill_mid_prompts_then_rerun_is_exact(prompt_source, dest_server, unique_name, tmp_path):
    p = make_prompts(prompt_source.url, unique_name)
    state = f"sqlite:///{tmp_path / 'state.db'}"
    killed = _migrate(
        prompt_source.url,
        dest_server.url,
        state,
        p,
        env=cli_env(**kill_at("set_prompt_version_tag:2")),
    )  # chat v2 created, not fingerprinted
    assert killed.returncode == -9, killed.stderr
    dst = MlflowClient(dest_server.url)
    half = dst.get_prompt_version(p.chat, 2)
    assert (
        half._tags["mlflow_syncer.source_prompt_version"] == "2"
        and "mlflow_syncer.fingerprint" not in half._tags
    )
    killed = _migrate(
        prompt_source.url,
        dest_server.url,
        state,
        p,
        env=cli_env(**kill_at("create_prompt_version:2:after")),
    )  # qa v2 created, not completed
    assert killed.returncode == -9, killed.stderr
    assert _versions(dest_server.url, p.chat) == [1, 2] and _versions(dest_server.url, p.qa) == [
        1,
        2,
    ]
    resumed = _migrate(prompt_source.url, dest_server.url, state, p)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    _assert_exact(prompt_source.url, dest_server.url, p)
    assert _versions(dest_server.url, p.qa) == [1, 2, 3] and _versions(dest_server.url, p.chat) == [
        1,
        2,
    ]
    again = _migrate(prompt_source.url, dest_server.url, state, p)
    assert again.returncode == 0 and _versions(dest_server.url, p.qa) == [1, 2, 3]


def _cycle(config: Path) -> tuple[int, dict]:
    before = api_call_counts()
    rc = main(["mirror", "--once", "--config", str(config)])
    after = api_call_counts()
    return rc, {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


@pytest.mark.usefixtures("reset_logging")
def test_mirror_picks_up_a_new_version_and_an_alias_move_and_nothing_else(
    prompt_source, dest_server, unique_name, tmp_path
):
    p = make_prompts(prompt_source.url, unique_name)
    config = tmp_path / "mirror.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "source": {"tracking_uri": prompt_source.url},
                "destination": {"tracking_uri": dest_server.url},
                "experiments": [p.experiment],
                "prompts": [f"{p.prefix}-*"],
                "state": f"sqlite:///{tmp_path / 's.db'}",
                "log_format": "json",
            }
        )
    )
    rc, _ = _cycle(config)
    assert rc == 0
    src = MlflowClient(prompt_source.url)
    src.create_prompt_version(p.qa, "Answer in one line: {{question}}", description="one line")
    src.set_prompt_alias(p.qa, "production", 3)
    rc, calls = _cycle(config)
    assert rc == 0
    writes = {op: n for (_end, op), n in calls.items() if op.startswith(WRITES)}
    assert writes == {
        "create_prompt_version": 1,
        "set_prompt_version_tag": 1,
        "set_prompt_alias": 1,
    }, calls
    _assert_exact(prompt_source.url, dest_server.url, p)
    assert (
        MlflowClient(dest_server.url).get_prompt_version_by_alias(p.qa, "production").version == 3
    )
    rc, calls = _cycle(config)
    assert rc == 0 and not [op for (_end, op) in calls if op.startswith(WRITES)], calls


def test_destination_without_prompt_api_lists_and_counts_them(
    prompt_source, dest_server, unique_name, tmp_path
):
    p = make_prompts(prompt_source.url, unique_name)
    settings = Settings(
        source=EndpointConfig(tracking_uri=prompt_source.url),
        destination=EndpointConfig(tracking_uri=dest_server.url),
        state=f"sqlite:///{tmp_path / 'state.db'}",
        experiments=[p.experiment],
        prompts=[f"{p.prefix}-*"],
    )
    src = Endpoint(prompt_source.url, role="source")
    dst = Endpoint(dest_server.url, caps=PLAIN_MLFLOW.without("prompt"), role="destination")
    state = open_state(settings, src, dst, read_only=False)
    try:
        result = run_pass(settings, src, dst, state, PassOptions())
    finally:
        state.close()
    assert [o.error for o in result.outcomes if not o.ok] == []
    listed = {a.kind: a for a in result.plan.actions if a.kind in PROMPT_KINDS}
    assert {k: (a.op, a.details["count"]) for k, a in listed.items()} == {
        "prompt": (Op.UNCOPIED, 2),
        "prompt_version": (Op.UNCOPIED, 5),
    }
    assert "no prompt API" in listed["prompt"].details["reason"]
    assert not [
        a for a in result.plan.actions if a.kind in ("model", "model_version")
    ]  # prompts are not models
    assert [a.op for a in result.plan.actions if a.kind == "run"] == [Op.CREATE]
    assert not result.plan.in_sync
    assert list(MlflowClient(dest_server.url).search_prompts(f"name LIKE '{p.prefix}%'")) == []
