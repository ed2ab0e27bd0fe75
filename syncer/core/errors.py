"""Failure types: what kind a failure is (transient, terminal for one object, fatal) and the errors
that carry it.

Deciding the kind of a failure from the outside world is `syncer.backends.classify`'s job.
"""

from __future__ import annotations

from enum import Enum

from syncer.core.redact import redact


class Kind(str, Enum):
    TRANSIENT = "transient"
    TERMINAL = "terminal"
    FATAL = "fatal"


class SyncError(Exception):
    """A failure with its classification and a secret-free, one-line message."""

    def __init__(self, message: str, kind: Kind = Kind.TERMINAL) -> None:
        super().__init__(redact(message))
        self.kind = kind


class FatalError(SyncError):
    """Stop everything: bad credentials, destination not found, state store unusable, bad config."""

    def __init__(self, message: str) -> None:
        super().__init__(message, Kind.FATAL)


class Cancelled(Exception):
    """The process is shutting down: the unit in flight stops before its next write."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived: the command stops at its next unit (a KeyboardInterrupt, so that
    no `except Exception` swallows it). `signum` chooses the exit code (130 or 143)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
