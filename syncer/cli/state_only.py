"""`state show|export` and `status` that find their store without both ends: the pair comes from the
store itself (`--state` alone), or the default store is found from the settings' pair key."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from syncer.backends.store_identity import store_key
from syncer.cli.diff import check_output, open_output
from syncer.config import Settings
from syncer.core.errors import FatalError
from syncer.core.exit_codes import EXIT_OK
from syncer.core.redact import redact
from syncer.engine.id_map import IdRow, kinds_in_order
from syncer.report.id_map import write as write_id_map
from syncer.state.connect import sqlite_file, state_folder
from syncer.state.store import StateStore, default_state_url


def settings_pair(settings: Settings) -> str | None:
    """The "source store key -> destination store key" pair the settings name (None: an end is
    missing)."""
    if settings.source is None or settings.destination is None:
        return None
    return (
        f"{store_key(settings.source.tracking_uri)} -> "
        f"{store_key(settings.destination.tracking_uri)}"
    )


def status_urls(settings: Settings, config_path: str | None) -> list[str]:
    """The state stores `status` reads: `--state`, else the default store of the settings' pair;
    with neither ends nor `--state`, every store of the user's state folder (one line when there is
    none)."""
    pair = settings_pair(settings)
    if settings.state or pair is not None or settings.source or settings.destination:
        return [settings.state or default_state_url(config_path, pair)]
    old = default_state_url(config_path)  # where older versions put the store, if it is there
    if (sqlite_file(old) or Path()).is_file():
        return [old]
    found = sorted(state_folder().glob("*.db"))
    if not found:
        raise FatalError(
            f"no state store in {state_folder()}: no migrate or mirror has run here "
            "with the default store; give --config, --source and --dest, or --state"
        )
    return [f"sqlite:///{db}" for db in found]


def store_only(args: argparse.Namespace, settings: Settings) -> bool:
    """Whether `state show|export` reads the pair from the store: `--state` given, no end given."""
    return (
        args.action in ("show", "export")
        and bool(settings.state)
        and not getattr(args, "from_destination", False)
        and settings.source is None
        and settings.destination is None
    )


def open_recorded(url: str) -> tuple[StateStore, str]:
    """The state store at `url`, read-only, with the pair it records; one line when there is
    none."""
    store = StateStore(url, pair="", read_only=True)
    pair = store.recorded_pair()
    if pair is None:
        store.close()
        raise FatalError(
            f"no state store at {redact(url)} that records its source and destination; "
            "give --source and --dest"
        )
    return store, pair


def recorded_rows(store: StateStore, pair: str, kinds: list[str] | None) -> Iterator[IdRow]:
    """The id map of the store, the ends named by the pair it records."""
    source, _, dest = pair.partition(" -> ")
    for kind in kinds_in_order(kinds):
        for r in store.mapped(kind):
            yield IdRow(kind, r.source_id, r.dest_id or "", r.name or "", r.status, source, dest)


def show_or_export(
    args: argparse.Namespace, settings: Settings, show: Callable[[StateStore], int]
) -> int:
    """`state show|export --state URL`: the store's pair read from the store."""
    assert settings.state
    if args.action == "export":
        check_output(args.output, "the id map")
    store, pair = open_recorded(settings.state)
    try:
        if args.action == "show":
            print(f"pair: {pair}")
            return show(store)
        with open_output(args.output, "the id map") as out:
            n = write_id_map(recorded_rows(store, pair, args.kind), args.format, out)
    finally:
        store.close()
    if args.output:
        print(f"{n} objects mapped: {args.output}", file=sys.stderr)
    return EXIT_OK
