"""Test session set-up: fixture plugins live in tests/fixtures/."""

import atexit
import os
import shutil
import tempfile

import pytest

# Default state stores (`$XDG_STATE_HOME/mlflow-syncer`) of the commands a test runs land in a
# folder of this session, never in the user's own.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="syncer-xdg-")
atexit.register(shutil.rmtree, os.environ["XDG_STATE_HOME"], True)

pytest_plugins = [
    "tests.fixtures.servers",
    "tests.fixtures.workload",
    "tests.fixtures.diffscenario",
    "tests.fixtures.models",
    "tests.fixtures.prompts",
    "tests.fixtures.mirror",
    "tests.fixtures.azure",
    "tests.fixtures.unity_catalog",
    "tests.fixtures.azureml_plugin",
    "tests.fixtures.faultproxy",
    "tests.fixtures.postgres",
    "tests.fixtures.mlflow2",
    "tests.fixtures.auth_servers",
    "tests.fixtures.cpu_meter",
]

# The longest files first (test time in a worker, docs/BENCHMARKS.md), the rest after them in
# their own order: `--dist loadfile --no-loadscope-reorder` (scripts/test.sh) hands files out in
# this order, so the last files handed out are short ones and neither worker is left alone with a
# long file at the end. (xdist's own order, most tests first, started the 3-test memory guard
# among the last files.)
SLOW_FIRST = [
    "test_conformance.py",
    "test_ray_units.py",
    "test_memory_guard.py",
    "test_mlflow2_sources.py",
    "test_outages.py",
    "test_kill_resume.py",
    "test_databricks_to_azureml.py",
    "test_newest_mlflow.py",
    "test_kill_resume_late.py",
    "test_second_pass.py",
    "test_azureml_rules.py",
    "test_mirror_service.py",
    "test_permission_roles.py",
    "test_archive_traces.py",
    "test_models.py",
    "test_azureml_artifacts.py",
    "test_pages.py",
    "test_streaming.py",
    "test_mistakes.py",
    "test_unity_catalog.py",
    "test_traces.py",
]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the files of SLOW_FIRST first (a stable sort: each file's tests keep their order)."""
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
