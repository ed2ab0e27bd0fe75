"""The `mirror` command's own flags, and how they override the config file's `mirror:` section."""

from __future__ import annotations

import argparse

from pydantic import ValidationError

from syncer.config import Settings, seconds
from syncer.core.errors import FatalError


def duration(text: str) -> float:
    """Seconds from '90', '90s', '5m', '1.5h', '1d'."""
    value = seconds(text)
    if not value:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: write for example 60s, 5m or 1h"
        )
    return value


def add_mirror_flags(p: argparse.ArgumentParser) -> None:
    """Flags of `mirror` (each overrides the config file's `mirror.*` option of the same name)."""
    when = p.add_mutually_exclusive_group()
    when.add_argument("--interval", type=duration, help="time between cycles (default 60s)")
    when.add_argument("--cron", help='crontab schedule in UTC, e.g. "*/5 * * * *"')
    p.add_argument("--once", action="store_true", help="run one incremental cycle and exit")
    p.add_argument(
        "--full",
        action="store_true",
        help="every cycle reads every run (runs_full_every: 1): "
        "finds edits of finished runs and source deletions at once",
    )
    p.add_argument(
        "--delete",
        action="store_true",
        default=None,
        help="delete destination runs we created whose source run is gone",
    )
    p.add_argument(
        "--max-delete", type=int, metavar="N", help="refuse cycles that would delete more (100)"
    )
    p.add_argument(
        "--http-port", type=int, metavar="P", help="serve /healthz, /readyz, /metrics (off)"
    )
    p.add_argument(
        "--shutdown-timeout", type=duration, help="bound on a graceful stop (default 30s)"
    )
    p.add_argument(
        "--verify-every",
        type=int,
        metavar="N",
        help="every Nth cycle also runs --verify (0: never)",
    )


def mirror_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """Fold the mirror flags into the settings."""
    flags = {
        "interval": args.interval,
        "cron": args.cron,
        "delete": args.delete,
        "max_delete": args.max_delete,
        "http_port": args.http_port,
        "shutdown_timeout": args.shutdown_timeout,
        "verify_every": args.verify_every,
    }
    updates = {k: v for k, v in flags.items() if v is not None}
    if args.interval is not None:
        updates["cron"] = None
    if args.full:
        updates["runs_full_every"] = 1
    try:
        mirror = type(settings.mirror).model_validate(settings.mirror.model_dump() | updates)
    except ValidationError as err:
        raise FatalError(
            f"invalid mirror option: {err.errors()[0]['loc'][0]}: {err.errors()[0]['msg']}"
        ) from None
    return settings.model_copy(update={"mirror": mirror})
