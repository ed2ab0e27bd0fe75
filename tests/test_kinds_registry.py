"""The kind registry: every kind once, each after the kinds it declares it depends on; a cycle
refused."""

from __future__ import annotations

import pytest

from syncer.cli.args import KIND_NAMES
from syncer.config import EndpointConfig, Settings
from syncer.core import cycle_options
from syncer.core.kinds import KindInfo, plural
from syncer.kinds import registry
from syncer.kinds.base import Kind, Planned


def _kind(name: str, *after: str) -> Kind:
    return Kind(
        name,
        (KindInfo(name, name + "s"),),
        scan=lambda job, known: known,
        plan=lambda job, known, out: Planned([], known),
        after=after,
    )


def test_kinds_come_after_their_dependencies_and_keep_the_listed_order_otherwise():
    kinds = registry.ordered(
        [
            _kind("trace", "run"),
            _kind("dataset"),
            _kind("run", "experiment"),
            _kind("experiment"),
            _kind("prompt", "trace", "run"),
        ]
    )
    assert [k.name for k in kinds] == ["dataset", "experiment", "run", "trace", "prompt"]


@pytest.mark.parametrize(
    "kinds, message",
    [
        ([_kind("a", "b"), _kind("b", "a")], "cycle: ['a', 'b']"),
        ([_kind("a", "nowhere")], "unknown kinds ['nowhere']"),
    ],
)
def test_a_cycle_or_an_unknown_dependency_is_refused(kinds: list[Kind], message: str):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        registry.ordered(kinds)


def test_the_registry_lists_each_kind_once_after_its_dependencies():
    seen: set[str] = set()
    for kind in registry.KINDS:
        assert set(kind.after) <= seen, kind.name
        seen.add(kind.name)
    names = [o.name for o in registry.OBJECTS]
    assert len(names) == len(set(names))
    assert [k.name for k in registry.KINDS][:3] == ["experiment", "dataset", "run"]
    assert plural("model_version") == "model versions" and plural("webhook") == "webhooks"


def test_a_unit_restricted_to_experiments_plans_only_their_own_kinds():
    assert [k.name for k in registry.steps_for(frozenset({"1"}))] == [
        "experiment",
        "run",
        "logged_model",
        "trace",
    ]
    assert [k.name for k in registry.steps_for(frozenset({"1"}), ranged=True)] == [
        "experiment",
        "run",
    ]
    assert registry.steps_for(None) == registry.KINDS


def test_the_cli_offers_every_copied_kind_of_the_registry():
    assert tuple(k.name for k in registry.COPIED) == KIND_NAMES


@pytest.mark.parametrize(
    ("every", "full"),
    [(3, [True, False, True, False, False, True, False]), (0, [True] + [False] * 6)],
)
def test_mirror_cycles_read_every_trace_on_the_first_and_every_nth_cycle(every, full):
    settings = Settings(
        source=EndpointConfig(tracking_uri="http://source.invalid"),
        destination=EndpointConfig(tracking_uri="http://dest.invalid"),
        mirror={"traces_full_every": every},
    )
    options = [cycle_options.for_cycle(settings, n) for n in range(1, 8)]
    assert ["trace" not in o["incremental"] for o in options] == full
