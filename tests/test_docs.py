"""The README and docs/ say what is true: the generated configuration page and table of kinds are
current, one Python version everywhere, every link leads to a page, and the README's first-screen
commands run as written against two real MLflow servers."""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mlflow
import pytest

from syncer.cli.args import KIND_NAMES
from syncer.kinds import registry
from tests.fixtures.cli import cli_env, run_forked
from tests.fixtures.procs import start_mlflow_server

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config_doc():
    return _script("config_doc")


def test_configuration_page_is_generated_from_the_settings_model():
    page = _config_doc().render()
    assert (ROOT / "docs" / "CONFIGURATION.md").read_text() == page, (
        "docs/CONFIGURATION.md is stale: python scripts/config_doc.py > docs/CONFIGURATION.md"
    )
    rows = [
        line for line in page.splitlines() if line.startswith("| `") and "MLFLOW_SYNCER_" in line
    ]
    assert len(rows) > 40
    assert [r for r in rows if r.endswith("|  |")] == [], "every option needs a description"
    assert (
        "| `destination.tracking_uri` | str | required | "
        "`MLFLOW_SYNCER_DESTINATION__TRACKING_URI` | `--dest` |" in page
    )


def test_kinds_section_is_generated_from_the_registry():
    """docs/COPYING.md's table of kinds is the registry's: every kind in its order, every object
    with its provenance tag, and the `--kind` values `state export` takes."""
    kinds_doc = _script("kinds_doc")
    page = (ROOT / "docs" / "COPYING.md").read_text()
    assert kinds_doc.section(page) == kinds_doc.render(), (
        "docs/COPYING.md's kinds section is stale: python scripts/kinds_doc.py"
    )
    section = kinds_doc.section(page)
    steps = re.findall(r"^\| \d+ \| `(\w+)` \|", section, re.M)
    assert steps == [k.name for k in registry.KINDS]
    objects = re.findall(r"^\| `(\w+)` \| [^|]+ \| `(\w+)` \|", section, re.M)
    assert [o for o, _kind in objects] == [o.name for o in registry.OBJECTS]
    assert ("scorer", "scorer") in objects and ("webhook", "inventory") in objects
    exported = re.findall(r"\| `(\w+)` \|$", section, re.M)
    assert tuple(exported) == KIND_NAMES
    assert (
        "| `run` | runs | `run` | copied | `mlflow_syncer.source_run_id` | - | `run` |" in section
    )
    assert "[docs/COPYING.md](docs/COPYING.md)" in README.read_text()


def test_one_python_version_everywhere():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["requires-python"] == ">=3.11"
    assert project["tool"]["ruff"]["target-version"] == "py311"
    assert sys.version_info[:2] == (3, 11), "the tests run on the version the docs name"
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", (ROOT / "Dockerfile").read_text(), re.M)
    named = {m for page in PAGES for m in re.findall(r"Python (3\.\d+)", page.read_text())}
    assert named == {"3.11"}, named


def test_every_link_leads_to_a_page():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", page.read_text()):
            assert (page.parent / target).is_file(), (
                f"{page.name} links to {target}, which does not exist"
            )
    assert len(README.read_text().splitlines()) <= 160


def _block(marker: str) -> str:
    return re.search(rf"<!-- {marker} -->\n```\w*\n(.*?)```", README.read_text(), re.S)[1]


def test_first_screen_copy_runs_as_written(tmp_path):
    """The README's first copy, on two fresh servers (the session's hold other tests' objects): each
    `mlflow-syncer` line of the block, with the servers' ports, exits 0 (a process of its own,
    forked: tests.fixtures.cli.run_forked); the copy holds the run."""
    block = _block("first-copy")
    assert README.read_text().index("<!-- first-copy -->") < 1500, (
        "the first copy is on the first screen"
    )
    assert "pip install ." in block and "pipx install ." in block
    with ThreadPoolExecutor(2) as pool:
        src, dst = pool.map(lambda n: start_mlflow_server(tmp_path / n), ["a", "b"])
    try:
        client = mlflow.MlflowClient(src.url)
        run = client.create_run(client.create_experiment("readme"), run_name="first")
        client.log_metric(run.info.run_id, "loss", 0.5, step=1)
        client.set_terminated(run.info.run_id)
        lines = [
            line.split("#")[0].split()
            for line in block.splitlines()
            if line.startswith("mlflow-syncer")
        ]
        assert [words[1] for words in lines] == ["migrate", "diff"]
        for words in lines:
            args = [
                w.replace("http://127.0.0.1:5000", src.url).replace(
                    "http://127.0.0.1:5001", dst.url
                )
                for w in words[1:]
            ]
            result = run_forked(
                *args, "--state", f"sqlite:///{tmp_path / 'state.db'}", cwd=tmp_path
            )
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        copies = mlflow.MlflowClient(dst.url).search_runs(
            [mlflow.MlflowClient(dst.url).get_experiment_by_name("readme").experiment_id]
        )
        assert [(r.info.run_name, r.data.metrics) for r in copies] == [("first", {"loss": 0.5})]
    finally:
        src.stop()
        dst.stop()


@pytest.mark.parametrize(
    "command",
    [
        "migrate",
        "mirror",
        "diff",
        "status",
        "check-config",
        "state",
        "restore",
        "demo",
        "completion",
    ],
)
def test_every_command_of_the_readme_has_help(command):
    assert f"| `{command}" in README.read_text()
    result = run_forked(command, "--help")
    assert result.returncode == 0 and result.stdout.startswith(f"usage: mlflow-syncer {command}")


def test_readme_config_example_is_valid(tmp_path):
    yaml_text = re.search(
        r"## Configuration in one paragraph.*?```yaml\n(.*?)```", README.read_text(), re.S
    )[1]
    (tmp_path / "c.yaml").write_text(yaml_text)
    result = run_forked(
        "check-config",
        "--offline",
        "--config",
        str(tmp_path / "c.yaml"),
        env=cli_env(PGPASSWORD="pw"),
    )
    assert result.returncode == 0, result.stderr


def test_the_install_is_light_and_the_server_an_extra():
    """`pip install .` brings MLflow's client only; the full `mlflow` (its server) is the [server]
    extra, which the test set-up installs (docs/BENCHMARKS.md: 202 MB against 883 MB)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[<>=\[ ]", d)[0] for d in project["dependencies"]]
    assert "mlflow-skinny" in names and "mlflow" not in names
    assert [re.split(r"[<>= ]", d)[0] for d in project["optional-dependencies"]["server"]] == [
        "mlflow"
    ]
    assert "server]" in (ROOT / "scripts" / "setup.sh").read_text()
