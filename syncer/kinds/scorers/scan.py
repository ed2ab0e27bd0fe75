"""Read the scorers of some experiments: one call per experiment (MLflow lists scorers unpaged)."""

from __future__ import annotations

from collections.abc import Iterable

from syncer.backends.calls import call
from syncer.backends.classify import describe, not_offered
from syncer.backends.endpoint import Endpoint
from syncer.core.errors import SyncError
from syncer.kinds.scorers.snapshot import Scorers, ScorerSnap


class NoScorerApi(SyncError):
    """The end does not offer the scorer API (an older or file-store server): terminal, never
    retried."""


def _list(endpoint: Endpoint, experiment_id: str) -> list:
    try:
        return endpoint.client._tracking_client.store.list_scorers(experiment_id)
    except Exception as exc:
        if getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST":
            return []  # the API is there; the experiment is not (a probe: see `offers_scorers`)
        if not_offered(exc):
            raise NoScorerApi(describe(exc)) from exc
        raise


def offers_scorers(endpoint: Endpoint) -> bool:
    """Whether the end answers the scorer API: one listing of the default experiment ("0")."""
    try:
        call(endpoint, "list scorer", lambda: _list(endpoint, "0"))
    except NoScorerApi:
        return False
    return True


def scan_scorers(endpoint: Endpoint, experiments: Iterable[str]) -> Scorers:
    """The latest version of every scorer of each experiment; raises NoScorerApi (the end has
    none)."""
    found: Scorers = {}
    for eid in experiments:
        listed = call(endpoint, "list scorer", lambda e=eid: _list(endpoint, e))
        found[eid] = {
            s.scorer_name: ScorerSnap(
                eid, s.scorer_name, s.scorer_version, s.to_proto().serialized_scorer
            )
            for s in listed
        }
    return found
