"""The page of experiments the same-store check read (syncer.backends.same_store), handed to the
experiment scan that follows it in the same pass, so that the pass asks each end for it once.

On Databricks a listing of experiments is of the scarcest class (7/s, shared by the workspace): the
check and the scan used to read the same first page one after the other. The check now reads the
page the scan starts with (every experiment, deleted ones too, a page of the end's size); a scan
of live experiments only takes it when it is the only page. A page is taken once, and only within
`KEEP_S` seconds of its reading; otherwise the scan reads as it always did.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from mlflow.entities import ViewType
from mlflow.store.entities.paged_list import PagedList

if TYPE_CHECKING:
    from mlflow.entities import Experiment

    from syncer.backends.endpoint import Endpoint

KEEP_S = 60.0


def read(end: Endpoint) -> PagedList[Experiment]:
    """Read the first page a scan of every experiment starts with, and keep it for that scan."""
    page = end.client.search_experiments(
        view_type=ViewType.ALL, max_results=end.caps.search_page_size
    )
    end.kept_experiments = (time.monotonic(), page)
    return page


def take(end: Endpoint, view: int) -> PagedList[Experiment] | None:
    """The kept first page for a scan of `view` (once, within KEEP_S of its reading); None: read
    it. A page handed over counts as the scan's own answered call (`Endpoint.answered`: a refusal
    after it is an object's, not the endpoint's), as the listing it replaces did."""
    kept, end.kept_experiments = end.kept_experiments, None
    if kept is None or time.monotonic() - kept[0] > KEEP_S:
        return None
    page = kept[1]
    if view != ViewType.ALL:
        if page.token or view != ViewType.ACTIVE_ONLY:
            return None
        page = PagedList([e for e in page if e.lifecycle_stage == "active"], None)
    end.answered = True
    return page
