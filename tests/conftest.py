"""Test session set-up: fixture plugins live in tests/fixtures/."""

import atexit
import os
import shutil
import tempfile

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
]
