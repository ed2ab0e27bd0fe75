"""The mirror command's options: schedules, durations, and clear one-line errors for bad input."""

from __future__ import annotations

import pytest
from apscheduler.triggers.cron import CronTrigger

from syncer.cli.app import main
from syncer.cli.mirror import duration
from syncer.config import MirrorConfig
from syncer.core.actions import Action, Op
from syncer.core.snapshot import RunSnap, Snapshot
from syncer.engine.mirror_cycle import replication_lag
from syncer.service.daemon import make_trigger, period_seconds

pytestmark = pytest.mark.usefixtures("reset_logging")


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("5m", 300), ("1.5h", 5400), ("1d", 86400)]
)
def test_durations(text, seconds):
    assert duration(text) == seconds


def test_schedules():
    assert period_seconds(make_trigger(MirrorConfig(interval=45))) == 45
    cron = make_trigger(MirrorConfig(cron="*/5 * * * *"))
    assert isinstance(cron, CronTrigger) and period_seconds(cron) == 300
    assert period_seconds(make_trigger(MirrorConfig(cron="0 3 * * *"))) == 86400


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--cron", "every five minutes"], "invalid --cron expression"),
        (["--max-delete", "-1"], "invalid mirror option: max_delete"),
        (["--http-port", "70000"], "invalid mirror option: http_port"),
    ],
)
def test_bad_mirror_options_fail_in_one_line(argv, message, capsys, tmp_path):
    rc = main(
        [
            "mirror",
            "--once",
            "--source",
            "http://127.0.0.1:9",
            "--dest",
            "http://127.0.0.1:8",
            "--state",
            f"sqlite:///{tmp_path / 's.db'}",
            *argv,
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err


def test_bad_interval_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["mirror", "--interval", "soon"])
    assert exc.value.code == 2 and "invalid duration 'soon'" in capsys.readouterr().err


def test_replication_lag_is_the_age_of_the_oldest_pending_change():
    def run(rid, start, end=None, metric_ts=None):
        return RunSnap(
            run_id=rid,
            experiment_id="1",
            name=rid,
            status="FINISHED" if end else "RUNNING",
            start_time=start,
            end_time=end,
            lifecycle_stage="active",
            artifact_uri="",
            metrics={"loss": (1.0, metric_ts, 0)} if metric_ts else {},
        )

    src = Snapshot(
        identity="s",
        runs={
            "a": run("a", 1_000_000, metric_ts=1_050_000),
            "b": run("b", 1_010_000, end=1_090_000),
            "c": run("c", 900_000),
        },
    )
    actions = [
        Action("run", Op.UPDATE, "a", source_id="a"),
        Action("run", Op.CREATE, "b", source_id="b"),
        Action("run", Op.SAME, "c", source_id="c"),
        Action("run", Op.UPDATE, "c", source_id="c", details={"follow": True}),
    ]
    assert src.runs["a"].last_change == 1_050_000
    assert replication_lag(actions, src, now=2_000) == pytest.approx(2_000 - 1_050)
    assert replication_lag([actions[2], actions[3]], src, now=2_000) == 0.0


def test_running_runs_are_followed_only_while_active():
    from syncer.core.capabilities import PLAIN_MLFLOW
    from syncer.core.snapshot import TAG_FINGERPRINT, TAG_SOURCE_RUN_ID, ExperimentSnap
    from syncer.plan.runs import Options, make_plan

    exp = ExperimentSnap(experiment_id="1", name="e", lifecycle_stage="active")
    runs = {
        rid: RunSnap(
            run_id=rid,
            experiment_id="1",
            name=rid,
            status="RUNNING",
            start_time=start,
            end_time=None,
            lifecycle_stage="active",
            artifact_uri="",
        )
        for rid, start in (("fresh", 5_000_000), ("stale", 1_000))
    }
    src = Snapshot(identity="s", experiments={"1": exp}, runs=runs)
    names = {"1": "e"}
    created = {
        a.source_id: a.fingerprint
        for a in make_plan(src, Snapshot(identity="d"), names, PLAIN_MLFLOW).actions
    }
    copies = {
        f"d-{rid}": RunSnap(
            **{
                **r.__dict__,
                "run_id": f"d-{rid}",
                "tags": {TAG_SOURCE_RUN_ID: rid, TAG_FINGERPRINT: created[rid]},
            }
        )
        for rid, r in runs.items()
    }
    dst = Snapshot(identity="d", experiments={"1": exp}, runs=copies)

    def ops(options: Options) -> dict:
        return {
            a.source_id: (a.op, a.details)
            for a in make_plan(src, dst, names, PLAIN_MLFLOW, options).actions
            if a.kind == "run"
        }

    assert ops(Options()) == {"fresh": (Op.SAME, {}), "stale": (Op.SAME, {})}
    assert ops(Options(follow_running_since=4_000_000)) == {
        "fresh": (Op.UPDATE, {"follow": True}),
        "stale": (Op.SAME, {}),
    }
