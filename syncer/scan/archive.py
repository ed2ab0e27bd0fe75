"""Read an `mlflow-syncer-archive` experiment back: holder runs, the objects they hold, each
object's JSON.

Nothing is read before it is needed: holders are paged, files are listed per kind and downloaded one
at a time.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint
from syncer.backends.run_files import download_run_file, list_run_files
from syncer.core.archive import (
    ARCHIVE_EXPERIMENT,
    TAG_ARCHIVE_EXPERIMENT,
    TAG_ARCHIVE_EXPERIMENT_NAME,
    TAG_ARCHIVE_SOURCE,
    source_id_of,
)


@dataclass(frozen=True)
class Holder:
    """One holder run: which source and source experiment its files came from."""

    run_id: str
    source: str
    experiment: str | None  # source experiment id; None: workspace-wide objects
    experiment_name: str | None


def holders(endpoint: Endpoint) -> Iterator[Holder]:
    """Every holder run of the endpoint's archive experiment (none when there is no archive)."""
    exp = call(
        endpoint,
        "get_experiment_by_name",
        lambda: endpoint.client.get_experiment_by_name(ARCHIVE_EXPERIMENT),
    )
    if exp is None:
        return
    token = None
    while True:
        # Every run, filtered here: Azure ML's run search takes no `!=` on tags
        # (azure-sdk-for-python#41453).
        page = call(
            endpoint,
            "search_runs",
            lambda t=token: endpoint.client.search_runs(
                [exp.experiment_id], max_results=1000, page_token=t
            ),
        )
        for run in page:
            tags = run.data.tags
            if not tags.get(TAG_ARCHIVE_SOURCE):
                continue
            name = tags.get(TAG_ARCHIVE_EXPERIMENT_NAME)
            yield Holder(
                run.info.run_id,
                tags.get(TAG_ARCHIVE_SOURCE, ""),
                tags.get(TAG_ARCHIVE_EXPERIMENT) or None,
                None if name == "(workspace)" else name,
            )
        token = page.token
        if not token:
            return


def archived(endpoint: Endpoint, run_id: str) -> Iterator[tuple[str, str]]:
    """(kind, source id) of every object a holder run archives."""
    for top in list_run_files(endpoint, run_id):
        if top.is_dir:
            for f in list_run_files(endpoint, run_id, top.path):
                if not f.is_dir and f.path.endswith(".json"):
                    yield top.path, source_id_of(f.path)


def read(endpoint: Endpoint, run_id: str, path: str) -> dict:
    """One archived file's envelope (syncer.core.archive.envelope), downloaded into a temporary
    directory."""
    with tempfile.TemporaryDirectory(prefix="mlflow-syncer-archive-") as tmp:
        local = download_run_file(endpoint, run_id, path, tmp)
        return json.loads(Path(local).read_text(encoding="utf-8"))
