"""structlog set-up: readable on a terminal, JSON for services; every event passes the redactor."""

from __future__ import annotations

import logging
import sys

import structlog

from syncer.core.redact import redact


def _redact_event(_logger, _name, event_dict: dict) -> dict:
    return {k: redact(v) if isinstance(v, str) else v for k, v in event_dict.items()}


def setup(fmt: str = "auto", level: str = "info") -> None:
    """Configure structlog (and the stdlib loggers of libraries) to write to stderr."""
    json_out = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer = (
        structlog.processors.JSONRenderer()
        if json_out
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("mlflow", "urllib3", "alembic", "azure"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_RedactFilter())


class _CurrentStderr:
    """Whatever sys.stderr is at the moment of writing (tests and daemons swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        return True
