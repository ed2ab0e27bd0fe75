"""The `worker` command's flags (light: no engine import, so that bad flags fail fast); the work is in
syncer.cli.scale_out."""

from __future__ import annotations

import argparse

from pydantic import ValidationError

from syncer.cli.mirror import duration
from syncer.config import Settings
from syncer.core.errors import FatalError


def add_worker_flags(p: argparse.ArgumentParser) -> None:
    """Flags of `worker` (each overrides the config file's `scale_out.*` option of the same name)."""
    p.add_argument("--job", help="the job whose work units the workers share (default: migrate); "
                   "a job whose units are all finished starts a new round (what changed since is copied)")
    p.add_argument("--lease", type=duration, help="how long a claimed unit stays this worker's without a "
                   "heartbeat before another worker takes it over (default 60s)")


def add_engine_flags(p: argparse.ArgumentParser) -> None:
    """`--engine`, `--ray-address`, `--range-runs` (the config file's `scale_out.*` of the same names)."""
    p.add_argument("--engine", choices=["local", "ray"], help="local (default): threads in this process; "
                   "ray: units of work as tasks on a Ray cluster (pip install mlflow-syncer[ray])")
    p.add_argument("--ray-address", help="the Ray cluster to use (default: RAY_ADDRESS, else a local one)")
    p.add_argument("--range-runs", type=int, help="with --engine ray: an experiment above this many runs is "
                   "cut into start-time ranges of about as many runs, one unit each (default 5000)")


def engine_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """Fold the engine flags into the settings."""
    given = (("engine", args.engine), ("ray_address", args.ray_address), ("range_runs", args.range_runs))
    return _scale_out(settings, {k: v for k, v in given if v is not None}, "engine")


def worker_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """Fold the worker flags into the settings."""
    updates = {k: v for k, v in (("job", args.job), ("lease", args.lease)) if v is not None}
    return _scale_out(settings, updates, "worker")


def _scale_out(settings: Settings, updates: dict, what: str) -> Settings:
    try:
        scale_out = type(settings.scale_out).model_validate(settings.scale_out.model_dump() | updates)
    except ValidationError as err:
        raise FatalError(f"invalid {what} option: {err.errors()[0]['loc'][0]}: {err.errors()[0]['msg']}") from None
    return settings.model_copy(update={"scale_out": scale_out})
