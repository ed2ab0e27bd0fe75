"""Test session set-up: fixture plugins live in tests/fixtures/."""

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
]
