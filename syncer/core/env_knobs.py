"""Tuning knobs read from the environment (docs/EXIT_CODES.md), declared once with their type,
default and bounds. A module reads its knob with `number` (never a traceback on import: a bad value
falls back to the default); `problems` names every bad value, so that the command refuses to start
(syncer.config)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Knob:
    """One environment variable: its type, default and least value (None: only ours to read)."""

    type: type
    default: float | None
    least: float = 0


KNOBS: dict[str, Knob] = {
    "MLFLOW_SYNCER_RETRY_ATTEMPTS": Knob(int, 6, 1),
    "MLFLOW_SYNCER_RETRY_MAX_WAIT": Knob(float, 20),
    "MLFLOW_SYNCER_RETRY_MAX_DELAY": Knob(float, 180),
    "MLFLOW_SYNCER_CONNECT_TIMEOUT": Knob(float, 10, 0.1),
    "MLFLOW_SYNCER_BLOB_CONCURRENCY": Knob(int, 8, 1),
    "MLFLOW_SYNCER_FILES_IN_FLIGHT": Knob(int, 4, 1),
    "MLFLOW_SYNCER_BLOB_BLOCK_SIZE": Knob(int, 8 * 1024 * 1024, 1),
    "MLFLOW_SYNCER_BLOB_COPY_TIMEOUT": Knob(float, 600),
    "MLFLOW_SYNCER_AUTH_TIMEOUT": Knob(float, 30),
    "MLFLOW_SYNCER_RATE_JITTER": Knob(float, 0.25),
    "MLFLOW_SYNCER_DATABRICKS_CREDS_TTL": Knob(float, 300),
    # MLflow's own HTTP knobs: a bad value fails deep inside its client, so they are checked here
    # too.
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": Knob(int, None),
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": Knob(int, None),
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": Knob(float, None),
    "MLFLOW_HTTP_REQUEST_TIMEOUT": Knob(int, None, 1),
}


def _parse(name: str, text: str) -> float:
    knob = KNOBS[name]
    value = knob.type(text.strip())
    if value != value or value < knob.least:  # NaN or below the bound
        raise ValueError(text)
    return value


def number(name: str) -> float:
    """The knob's value from the environment, or its default when unset or invalid."""
    text = os.environ.get(name)
    if text is None:
        return KNOBS[name].default  # type: ignore[return-value]
    try:
        return _parse(name, text)
    except ValueError:
        return KNOBS[name].default  # type: ignore[return-value]


def problems() -> list[str]:
    """One line per knob set to a value that is not a number of its type within its bound."""
    out = []
    for name, knob in KNOBS.items():
        text = os.environ.get(name)
        if text is None:
            continue
        try:
            _parse(name, text)
        except ValueError:
            kind = "a whole number" if knob.type is int else "a number"
            out.append(
                f"environment variable {name}={text[:40]!r} must be {kind} >= {knob.least:g}"
            )
    return out
