"""The progress line and the end-of-run summary, from plain data (no servers, no sleeping)."""

from __future__ import annotations

from rich.console import Console

from syncer.apply.runs import RunStats
from syncer.apply.units import Outcome
from syncer.core import hooks
from syncer.core.actions import Action, Op, Plan
from syncer.report import human
from syncer.report.progress import ProgressBar, in_flight_text, transfer_text
from syncer.report.summary import Summary, print_summary, summary_rows


def test_sizes_durations_and_rates_read_like_people_write_them():
    assert [human.size(n) for n in (0, 512, 1023, 1024, 12 * 1024 * 1024, 3 * 1024**4)] == [
        "0 B",
        "512 B",
        "1023 B",
        "1.0 KiB",
        "12.0 MiB",
        "3.0 TiB",
    ]
    assert [human.duration(s) for s in (0.42, 7.5, 271, 7260, 2 * 86400 + 5)] == [
        "0.42 s",
        "7.5 s",
        "4 min 31 s",
        "2 h 1 min",
        "2 d 0 h",
    ]
    assert human.rate(12, 4, "runs") == "3.0 runs/s" and human.rate(5, 0, "runs") == "- runs/s"
    assert human.rate(12345, 10, "runs") == "1,234 runs/s"
    assert human.byte_rate(11 * 1024 * 1024, 10) == "1.1 MiB/s" and human.byte_rate(1, 0) == "- B/s"
    assert human.ago(3) == "3.0 s ago" and human.ago(-12) == "in 12.0 s"


def test_transfer_and_in_flight_texts():
    assert (
        transfer_text(21, 12 * 1024 * 1024, 10, 1)
        == "2.1 runs/s · 12.0 MiB at 1.2 MiB/s · failed 1"
    )
    assert in_flight_text([]) == ""
    assert in_flight_text(["run exp/r3"]) == "run exp/r3"
    assert in_flight_text(["run exp/r3", "run exp/r4", "run exp/r5"]) == "run exp/r3 (+2 more)"


def _action(i: int) -> Action:
    return Action(kind="run", op=Op.CREATE, label=f"exp/r{i}", source_id=f"r{i}")


def _bar(width: int, count: int) -> tuple[ProgressBar, Console, list[Action], list[float]]:
    """A bar on a recording console of `width` columns, started on a plan of `count` runs, at time
    100."""
    now = [100.0]
    console = Console(record=True, width=width, force_terminal=False, color_system=None)
    bar = ProgressBar(enabled=True, console=console, clock=lambda: now[0])
    actions = [_action(i) for i in range(count)]
    bar.start(Plan(actions=actions, dest_names={}))
    return bar, console, actions, now


def test_the_bar_shows_rates_bytes_and_the_object_in_flight():
    bar, console, actions, now = _bar(200, 4)
    for a in actions[:3]:
        bar.started(a)
    bar.advance(Outcome(actions[0], ok=True, stats=RunStats(artifact_bytes=6 * 1024 * 1024)))
    bar.advance(Outcome(actions[1], ok=False, error="boom"))
    now[0] = 110.0
    console.print(bar.progress.get_renderable())
    line = console.export_text().strip()
    assert "2/4" in line
    assert "0.2 runs/s · 6.0 MiB at 614.4 KiB/s · failed 1" in line
    assert line.endswith("run exp/r2")
    bar.advance(Outcome(actions[2], ok=True))
    console.print(bar.progress.get_renderable())
    assert not console.export_text().strip().endswith("exp/r2")


def test_summary_in_human_units_on_a_terminal_and_exact_numbers_elsewhere():
    summary = Summary(artifact_bytes=12 * 1024 * 1024, seconds=271.3, metric_points=1234567)
    people = dict(summary_rows(summary, human_units=True))
    assert people["artifact bytes copied"] == "12.0 MiB" and people["duration"] == "4 min 31 s"
    assert people["metric points copied"] == "1,234,567"
    exact = dict(summary_rows(summary, human_units=False))
    assert exact["artifact bytes copied"] == "12,582,912" and exact["seconds"] == "271.3"
    assert summary.as_dict()["artifact_bytes"] == 12582912  # JSON keeps the exact integers
    console = Console(record=True, width=100, force_terminal=True, color_system=None)
    print_summary(summary, console)
    table = console.export_text()
    assert "12.0 MiB" in table and "4 min 31 s" in table


def test_a_retry_shows_on_the_bar_while_its_wait_lasts():
    now = [100.0]
    console = Console(record=True, width=200, force_terminal=False, color_system=None)
    bar = ProgressBar(enabled=True, console=console, clock=lambda: now[0])
    actions = [_action(i) for i in range(2)]
    with bar:
        bar.start(Plan(actions=actions, dest_names={}))
        bar.started(actions[0])
        hooks.retrying(
            hooks.RetryNotice(
                endpoint="destination (http://127.0.0.1:9)",
                op="log_batch",
                error="MlflowException",
                status="HTTP 503",
                attempt=2,
                wait=8.0,
            )
        )
        now[0] = 103.0
        console.print(bar.progress.get_renderable())
        assert (
            console.export_text()
            .strip()
            .endswith("waiting for destination (http://127.0.0.1:9): HTTP 503, retry in 5 s")
        )
        now[0] = 109.0  # the wait is over: back to the object in flight
        console.print(bar.progress.get_renderable())
        assert console.export_text().strip().endswith("run exp/r0")


def test_the_bar_fits_an_80_column_terminal():
    """Big counts and sizes on 80 columns: one line; the object in flight gives way, the figures do
    not."""
    bar, console, actions, now = _bar(80, 12345)
    for a in actions[:3000]:
        bar.started(a)
    for a in actions[:2999]:
        bar.advance(Outcome(a, ok=True, stats=RunStats(artifact_bytes=600 * 1024 * 1024)))
    now[0] = 1110.0
    console.print(bar.progress.get_renderable())
    lines = console.export_text().splitlines()
    assert len(lines) == 1 and len(lines[0]) <= 80, lines
    assert (
        "2999/12345 · 3.0 runs/s · 1.7 TiB at 1.7 GiB/s · " in lines[0] and "run exp/r" in lines[0]
    )
