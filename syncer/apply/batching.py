"""Fill log_batch requests up to the destination's limits."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mlflow.entities import Metric, Param, RunTag

from syncer.core.capabilities import Capabilities

Sender = Callable[[list[Metric], list[Param], list[RunTag]], None]


class BatchWriter:
    """Collects metrics, params and tags and sends them in as few log_batch calls as the limits
    allow."""

    def __init__(self, caps: Capabilities, send: Sender) -> None:
        self.caps = caps
        self.send = send
        self.metrics: list[Metric] = []
        self.params: list[Param] = []
        self.tags: list[RunTag] = []
        self.points_sent = 0

    def _total(self) -> int:
        return len(self.metrics) + len(self.params) + len(self.tags)

    def _full(self) -> bool:
        return (
            len(self.metrics) >= self.caps.batch_metrics
            or len(self.params) >= self.caps.batch_params
            or len(self.tags) >= self.caps.batch_tags
            or self._total() >= self.caps.batch_total
        )

    def add_metrics(self, metrics: Iterable[Metric]) -> None:
        for m in metrics:
            self.metrics.append(m)
            if self._full():
                self.flush()

    def add_params(self, params: Iterable[Param]) -> None:
        for p in params:
            self.params.append(p)
            if self._full():
                self.flush()

    def add_tags(self, tags: Iterable[RunTag]) -> None:
        for t in tags:
            self.tags.append(t)
            if self._full():
                self.flush()

    def flush(self) -> None:
        if not self._total():
            return
        self.send(self.metrics, self.params, self.tags)
        self.points_sent += len(self.metrics)
        self.metrics, self.params, self.tags = [], [], []
