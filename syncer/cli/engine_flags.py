"""The engine flags of `migrate`, `diff` and `mirror` (light: no engine import, so that bad flags
fail fast); Ray itself is in syncer.cli.ray_engine."""

from __future__ import annotations

import argparse

from pydantic import ValidationError

from syncer.config import Settings
from syncer.core.errors import FatalError


def add_engine_flags(p: argparse.ArgumentParser) -> None:
    """`--engine`, `--ray-address`, `--range-runs` (the config file's `scale_out.*` of the same
    names)."""
    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        help="local (default): threads in this process; "
        "ray: units of work as tasks on a Ray cluster (pip install mlflow-syncer[ray])",
    )
    p.add_argument(
        "--ray-address", help="the Ray cluster to use (default: RAY_ADDRESS, else a local one)"
    )
    p.add_argument(
        "--range-runs",
        type=int,
        help="with --engine ray: an experiment above this many runs is "
        "cut into start-time ranges of about as many runs, one unit each (default 5000)",
    )


def engine_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """Fold the engine flags into the settings."""
    given = (
        ("engine", args.engine),
        ("ray_address", args.ray_address),
        ("range_runs", args.range_runs),
    )
    updates = {k: v for k, v in given if v is not None}
    try:
        scale_out = type(settings.scale_out).model_validate(
            settings.scale_out.model_dump() | updates
        )
    except ValidationError as err:
        raise FatalError(
            f"invalid engine option: {err.errors()[0]['loc'][0]}: {err.errors()[0]['msg']}"
        ) from None
    return settings.model_copy(update={"scale_out": scale_out})
