"""The read floor of a full cycle (issue 25, item 2): a minimal reader that pages every run of both
sides once, as MLflow's client gives them (params, tags, latest metrics), and keeps nothing.

    .venv/bin/python -m bench.read_floor SOURCE_URI DEST_URI [--threads 4] [--page 1000]

Every experiment of each side is one chain of `search_runs` pages (the same page size as the
syncer's scan); `--threads` chains run at once. Prints one JSON line: seconds, runs read per side,
pages.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor

from mlflow import MlflowClient
from mlflow.entities import ViewType


def _pages(client: MlflowClient, experiment_id: str, page: int) -> tuple[int, int]:
    runs = pages = 0
    token = None
    while True:
        got = client.search_runs(
            [experiment_id], run_view_type=ViewType.ALL, max_results=page, page_token=token
        )
        runs, pages, token = runs + len(got), pages + 1, got.token
        if not token:
            return runs, pages


def read_all(uris: list[str], threads: int, page: int) -> dict:
    """Page every run of every experiment of each store once; counts per store."""
    clients = [MlflowClient(uri) for uri in uris]
    todo = [
        (i, e.experiment_id)
        for i, c in enumerate(clients)
        for e in c.search_experiments(view_type=ViewType.ALL, max_results=50_000)
    ]
    runs, pages = [0] * len(uris), [0] * len(uris)
    with ThreadPoolExecutor(threads) as pool:
        got = pool.map(lambda t: _pages(clients[t[0]], t[1], page), todo)
        for (i, _), (n, p) in zip(todo, got, strict=True):
            runs[i] += n
            pages[i] += p
    return {"runs": runs, "pages": pages, "experiments": len(todo)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("uris", nargs="+")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--page", type=int, default=1000)
    args = parser.parse_args()
    started = time.monotonic()
    out = read_all(args.uris, args.threads, args.page)
    print(json.dumps({"seconds": round(time.monotonic() - started, 2), **out}), flush=True)


if __name__ == "__main__":
    main()
