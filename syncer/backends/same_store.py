"""The two ends are never one store (docs/RELIABILITY.md "Source and destination are never one
store").

Two rules, both before anything is written:
- by name (`refuse_same_uris`): every tracking and registry URI of each end reduced to the store it
  names (`store_identity.store_key`); any key the two ends share refuses the pair;
- by reading (`refuse_same_facts`), for names no rule can join (a DNS alias, a reverse proxy, a hard
  link, a server in front of the very database given as the other end): one page of experiments of
  each end (the page the experiment scan then starts with, syncer.backends.first_page), and one
  page of registered models of each registry, read and compared by facts that a copy never shares
  with its original: an experiment's id with its creation time (a registered model's name with its
  creation time). A store and a mirror of it disagree on every common id (the copies were created
  later), so one agreeing fact with no disagreeing one means one store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import structlog

from syncer.backends import first_page
from syncer.backends.calls import call
from syncer.core.errors import FatalError

if TYPE_CHECKING:
    from syncer.backends.endpoint import Endpoint

log = structlog.get_logger("syncer.same_store")
PAGE = 100
_AVOID = "a sync would copy the store into itself; give a destination of its own"


def refuse_same_uris(src: Endpoint, dst: Endpoint) -> None:
    """Refuse a pair whose ends share a tracking or registry store by name, however spelled."""
    src_keys, dst_keys = src.store_keys(), dst.store_keys()
    for key in src_keys:
        if key in dst_keys:
            raise FatalError(f"source and destination are one store ({key}): {_AVOID}")


def refuse_same_facts(src: Endpoint, dst: Endpoint, unreachable_ok: bool = False) -> None:
    """Refuse a pair whose ends report the same experiments (or registered models) with the same
    creation times: one store under two names. Reads one page of each end, once per pair of
    endpoints. `unreachable_ok` (a service starting during an outage): one attempt, no retries; an
    end that does not answer leaves the check to the next call."""
    if dst.distinct_from == src.store_key:
        return
    read = _once if unreachable_ok else call
    try:
        same = _agreeing(src, dst, "search_experiments", _experiments, read)
        what = "experiments"
        decided = same is not None and not (_registry_apart(src) or _registry_apart(dst))
        for registry in [] if same or decided else src.registries():
            same = _agreeing(registry, dst, "search_registered_models", _models, read)
            what = "registered models"
            if same is not None:
                break
    except FatalError:
        if unreachable_ok:
            return
        raise
    if same:
        shown = ", ".join(same[:3]) + (", ..." if len(same) > 3 else "")
        raise FatalError(
            f"source ({src.identity}) and destination ({dst.identity}) are one store: both "
            f"list the {what} {shown} with the same creation times (one server under two "
            f"names, or a byte copy of the store); {_AVOID}"
        )
    dst.distinct_from = src.store_key


Facts = Callable[["Endpoint"], Iterable[tuple[str, int | None]]]


def _registry_apart(end: Endpoint) -> bool:
    """Does the end name a model registry other than its tracking store? (Then the experiments say
    nothing about the registries.)"""
    return any(uri != end.tracking_uri for uri in end.registry_uris)


def _once(end: Endpoint, op: str, fn: Callable[[], list]) -> list:  # as call(
    try:
        return fn()
    except Exception as exc:  # unreachable or refused: decided later
        raise FatalError(f"{end.role} did not answer") from exc


def _agreeing(
    src: Endpoint, dst: Endpoint, op: str, facts: Facts, read: Callable
) -> list[str] | None:
    """The ids both ends report with equal, known creation times, when no common id disagrees (one
    store); [] when a common id disagrees (two stores); None when nothing decides it. An end that
    cannot answer the search (no such API there) proves nothing. The two ends are read side by
    side; the source's failure is the one reported when both fail."""
    with ThreadPoolExecutor(2, thread_name_prefix="same-store") as pool:
        pages = [pool.submit(read, e, op, lambda e=e: list(facts(e))) for e in (src, dst)]
        try:
            theirs, ours = (dict(page.result()) for page in pages)
        except FatalError:
            raise
        except Exception as exc:  # the pass reads these ends and says what is wrong
            log.debug("identity check skipped", op=op, error=type(exc).__name__)
            return None
    return _decided(theirs, ours)


def _decided(theirs: dict, ours: dict) -> list[str] | None:
    """The agreeing ids of two ends' facts (`_agreeing`)."""
    common = sorted(set(theirs) & set(ours))
    if not common:
        return None
    if any(theirs[k] != ours[k] for k in common):
        return []
    agreeing = [k for k in common if theirs[k]]
    return agreeing or None


def _experiments(end: Endpoint) -> Iterable[tuple[str, int | None]]:
    return ((e.experiment_id, e.creation_time) for e in first_page.read(end))


def _models(end: Endpoint) -> Iterable[tuple[str, int | None]]:
    return ((m.name, m.creation_timestamp) for m in end.registered_models_page(None, PAGE))
