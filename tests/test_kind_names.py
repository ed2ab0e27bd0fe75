"""A kind is one package: outside `syncer/kinds/<kind>/` its name is code (not comments or
docstrings) only in the registry, the settings and the CLI arguments, or in another kind's package
that declares that it depends on it (`after=`). Source text only (tokenize), no process."""

from __future__ import annotations

import ast
import functools
import importlib
import io
import re
import tokenize
from pathlib import Path

from syncer.kinds.base import Kind
from syncer.kinds.registry import KINDS

ROOT = Path(__file__).resolve().parent.parent
SYNCER = ROOT / "syncer"
ALLOWED = {"syncer/kinds/registry.py", "syncer/config.py", "syncer/cli/args.py"}
# Where the word is not the kind: each with the reason (a stale entry fails the test too).
HOMONYMS = {
    ("prompt", "syncer/backends/endpoint.py"): "MLflow's client leaves prompts (registered models "
    "tagged mlflow.prompt.is_prompt) out of model searches; the backend does the same where a "
    "registry takes no tag filter",
    ("prompt", "syncer/kinds/traces/apply.py"): "a trace's own tag mlflow.linkedPrompts, copied "
    "with the trace",
    ("dataset", "syncer/apply/runs.py"): "a run's dataset inputs (mlflow.entities.Dataset), part "
    "of the run, not the evaluation-dataset kind",
    ("dataset", "syncer/scan/run_search.py"): "a run's dataset inputs, read with the run",
    ("dataset", "syncer/backends/classify.py"): "MLflow's SQL tables of run inputs (datasets, "
    "inputs) in a unique-constraint race",
    ("dataset", "syncer/kinds/inventory/listing.py"): "uc_dataset: Unity Catalog evaluation "
    "datasets, which the inventory only counts",
    ("dataset", "syncer/kinds/inventory/scan.py"): "uc_dataset, as above",
    ("permission", "syncer/backends/azure_blob.py"): "a storage account's permission on a SAS",
    ("permission", "syncer/backends/classify.py"): "MLflow's error code PERMISSION_DENIED",
    ("permission", "syncer/core/config_text.py"): "a file system's permission denied",
    ("permission", "syncer/state/connect.py"): "a file system's permission denied",
}
CHECKED = {
    "trace": "traces",
    "prompt": "prompts",
    "dataset": "datasets",
    "logged_model": "logged_models",
    "scorer": "scorers",
    "permission": "permissions",
}


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    return lines


@functools.cache
def _code_words(path: Path) -> tuple[str, ...]:
    """The names and strings of a module's code (not its comments or docstrings), read once for
    every kind."""
    text = path.read_text()
    skip = _docstring_lines(ast.parse(text))
    return tuple(
        tok.string
        for tok in tokenize.generate_tokens(io.StringIO(text).readline)
        if tok.type in (tokenize.NAME, tokenize.STRING) and tok.start[0] not in skip
    )


def _names(path: Path, kind: str) -> bool:
    pattern = re.compile(r"(?<![a-z])" + r"[_\- ]?".join(kind.split("_")) + r"s?(?![a-z])", re.I)
    return any(pattern.search(word) for word in _code_words(path))


def _depends_on(package: str) -> set[str]:
    """The kinds that the kinds defined in `syncer/kinds/<package>/kind.py` come after,
    transitively."""
    module = importlib.import_module(f"syncer.kinds.{package}.kind")
    after = {k.name: set(k.after) for k in KINDS}
    todo = [a for v in vars(module).values() if isinstance(v, Kind) for a in v.after]
    seen: set[str] = set()
    while todo:
        if (name := todo.pop()) not in seen:
            seen.add(name)
            todo.extend(after.get(name, ()))
    return seen


def outside(kind: str, package: str) -> list[str]:
    """Modules outside the kind's package naming it, but for the allowed ones and dependants."""
    found = []
    for path in sorted(SYNCER.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(f"syncer/kinds/{package}/") or rel in ALLOWED or not _names(path, kind):
            continue
        parts = rel.split("/")
        if parts[1] == "kinds" and len(parts) > 3 and kind in _depends_on(parts[2]):
            continue
        found.append(rel)
    return found


def test_each_kind_is_named_only_in_its_package_the_registry_config_and_cli_arguments():
    found = {
        (kind, module) for kind, package in CHECKED.items() for module in outside(kind, package)
    }
    assert found == set(HOMONYMS)
