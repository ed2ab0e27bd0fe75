"""Every private MLflow (and azureml-mlflow) API the syncer uses is listed, with its reason, on
docs/MLFLOW_PRIVATE_APIS.md; nothing in syncer/ writes `os.environ`. Source text only (ast), no
process."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "MLFLOW_PRIVATE_APIS.md"
SOURCES = sorted((ROOT / "syncer").rglob("*.py"))
VENDORS = ("mlflow", "azureml")


def _private_import(node: ast.ImportFrom) -> list[str]:
    module = node.module or ""
    if module.split(".")[0] not in VENDORS:
        return []
    internal = module.startswith("mlflow.store") or any(
        p.startswith("_") for p in module.split(".")
    )
    return [f"{module}.{a.name}" for a in node.names if internal or a.name.startswith("_")]


def _private_attribute(node: ast.AST) -> str | None:
    own = (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in ("self", "cls")
    )
    if (
        isinstance(node, ast.Attribute)
        and not own
        and re.fullmatch(r"_[A-Za-z][A-Za-z0-9_]*", node.attr)
    ):
        return node.attr
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("getattr", "hasattr", "setattr")
        and len(node.args) > 1
        and isinstance(node.args[1], ast.Constant)
        and str(node.args[1].value).startswith("_")
        and not str(node.args[1].value).startswith("__")
    ):
        return str(node.args[1].value)
    return None


def private_uses() -> dict[str, set[str]]:
    """Each private name or module path used in syncer/ -> the files using it."""
    uses: dict[str, set[str]] = {}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            found = _private_import(node) if isinstance(node, ast.ImportFrom) else []
            if (attr := _private_attribute(node)) is not None:
                found.append(attr)
            for name in found:
                uses.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return uses


def listed(name: str, page: str) -> bool:
    """An import is listed when its module path and its name are on the page; an attribute as
    `._name`."""
    module, _, attr = name.rpartition(".")
    return module in page and re.search(rf"[`.]{re.escape(attr)}\b", page) is not None


def test_every_private_use_is_listed_with_its_reason():
    page = PAGE.read_text()
    missing = {n: sorted(files) for n, files in private_uses().items() if not listed(n, page)}
    assert missing == {}, f"add these to {PAGE.name}, each with why it is needed"


def test_the_check_finds_a_new_private_use():
    tree = ast.parse(
        "from mlflow.tracking._model_registry.client import ModelRegistryClient\n"
        "x = client._new_private_thing\n"
    )
    names = [
        n
        for node in ast.walk(tree)
        for n in (
            _private_import(node)
            if isinstance(node, ast.ImportFrom)
            else [_private_attribute(node)]
        )
        if n
    ]
    assert sorted(names) == [
        "_new_private_thing",
        "mlflow.tracking._model_registry.client.ModelRegistryClient",
    ]
    assert not any(listed(n, PAGE.read_text()) for n in names)


ENV_WRITE = re.compile(
    r"os\.environ\s*\[[^\]]+\]\s*=(?!=)|os\.environ\.(setdefault|update|pop|clear|popitem)\("
    r"|os\.(putenv|unsetenv)\(|del\s+os\.environ|os\.environ\s*\|="
)


def test_nothing_writes_os_environ():
    writes = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in SOURCES
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if ENV_WRITE.search(line)
    ]
    assert writes == []


def test_mlflow_settings_are_defaults_the_environment_beats(monkeypatch):
    from mlflow import environment_variables
    from mlflow.environment_variables import (
        MLFLOW_ALLOW_FILE_STORE,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES,
    )

    from syncer.backends.calls import configure_http_retries
    from syncer.backends.mlflow_env import use_default

    for name in dir(
        environment_variables
    ):  # this process's MLflow defaults come back after the test
        if name.startswith("MLFLOW_") and hasattr(getattr(environment_variables, name), "default"):
            monkeypatch.setattr(
                getattr(environment_variables, name),
                "default",
                getattr(environment_variables, name).default,
            )
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    before = dict(os.environ)
    configure_http_retries()
    use_default("MLFLOW_ALLOW_FILE_STORE", "true")
    assert (MLFLOW_HTTP_REQUEST_MAX_RETRIES.get(), MLFLOW_ALLOW_FILE_STORE.get()) == (3, True)
    assert dict(os.environ) == before
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "false")
    assert (MLFLOW_HTTP_REQUEST_MAX_RETRIES.get(), MLFLOW_ALLOW_FILE_STORE.get()) == (0, False)
