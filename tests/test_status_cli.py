"""Through the real CLI: `status` of a live and a stopped mirror daemon, and `diff` totals without
--deep."""

from __future__ import annotations

import json
import re
import signal

from mlflow import MlflowClient

from tests.fixtures.cli import run_forked
from tests.fixtures.mirror import make_runs, start_daemon, write_config

UNCOUNTED = "metric points: not counted; artifact files: not counted; artifact bytes: not counted"
ZERO_TOTAL = re.compile(
    r"\b0 (metric points|artifact files|B\b)|(metric points|artifact files|artifact bytes): 0\b"
)


def _status(config, fmt: str = "text") -> tuple[int, str]:
    done = run_forked("status", "--config", str(config), "--format", fmt)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout


def test_status_of_a_live_then_stopped_mirror(source_server, dest_server, unique_name, tmp_path):
    src = MlflowClient(source_server.url)
    name = f"{unique_name}/status"
    make_runs(src, name, 3, points=5, artifact=False)
    config = write_config(
        tmp_path / "mirror.yaml",
        source_server.url,
        dest_server.url,
        [name],
        tmp_path / "state.db",
        shutdown_timeout=10.0,
    )
    daemon = start_daemon(config, tmp_path, "--interval", "1h")
    try:
        daemon.wait_ready()
        rc, text = _status(config)
        assert rc == 0, text
        assert re.search(
            r"mirror +running: 'mlflow-syncer mirror', pid \d+ on \S+, heartbeat [\d.]+ s ago", text
        )
        assert re.search(
            r"last cycle +ended \S+ \(.* ago\), took .*: ok; copied 4, unchanged 0, failed 0", text
        )
        assert re.search(r"next cycle +\S+ \(in (59|60) min", text), text
        assert "pending       0" in text and "quarantined   0" in text
        rc, out = _status(config, "json")
        live = json.loads(out)
        assert rc == 0 and live["running"] is True and live["lock"]["pid"] == daemon.proc.pid
        assert live["lock"]["heartbeat_age_seconds"] < 60 and live["last_cycle"]["ok"] is True
        assert live["last_cycle"]["copied"] == 4 and live["replication_lag_seconds"] == 0.0
        assert 3000 < live["next_cycle_in_seconds"] <= 3600 and live["pending"]["count"] == 0
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(30) == 0
    finally:
        daemon.stop()
    rc, text = _status(config)
    assert rc == 0 and "mirror        stopped: no process holds the lock" in text
    assert ": ok; copied 4" in text and "next cycle    none: the mirror is not running" in text
    stopped = json.loads(_status(config, "json")[1])
    assert stopped["running"] is False and stopped["lock"] == {"held": False, "running": False}
    assert stopped["last_cycle"] == {
        **live["last_cycle"],
        "started_age_seconds": stopped["last_cycle"]["started_age_seconds"],
        "ended_age_seconds": stopped["last_cycle"]["ended_age_seconds"],
    }
    assert stopped["next_cycle"] is None and stopped["cycle_in_progress"] is None


def test_status_without_a_state_store_says_so(tmp_path):
    done = run_forked("status", "--state", f"sqlite:///{tmp_path / 'none.db'}")
    assert (
        done.returncode == 2
        and "no state store at" in done.stderr
        and "Traceback" not in done.stderr
    )
    assert not (tmp_path / "none.db").exists()


def test_diff_without_deep_never_prints_a_zero_total(
    source_server, dest_server, unique_name, tmp_path
):
    name = f"{unique_name}/uncounted"
    make_runs(MlflowClient(source_server.url), name, 3, points=7)
    args = [
        "--source",
        source_server.url,
        "--dest",
        dest_server.url,
        "--experiments",
        name,
        "--state",
        f"sqlite:///{tmp_path / 'state.db'}",
    ]
    done = run_forked("diff", *args)
    assert done.returncode == 1, done.stderr
    assert (
        f"to copy          {UNCOUNTED} (points, files and bytes of 3 run(s) to create"
        in done.stdout
    )
    assert not ZERO_TOTAL.search(done.stdout), done.stdout
    for fmt in ("json", "markdown", "html"):
        out = tmp_path / f"report.{fmt}"
        assert run_forked("diff", *args, "--format", fmt, "--output", str(out)).returncode == 1
        body = out.read_text(encoding="utf-8")
        assert not ZERO_TOTAL.search(body) and not re.search(
            r'data-summary="(metric_points|artifact_\w+)" '
            r'data-value="0"',
            body,
        ), fmt
    copy = json.loads((tmp_path / "report.json").read_text())["summary"]["to_copy"]
    assert (copy["metric_points"], copy["artifact_files"], copy["artifact_bytes"]) == (
        None,
        None,
        None,
    )
    assert copy["uncounted_runs"] == 3 and "--deep" in copy["reason"]
    assert UNCOUNTED in (tmp_path / "report.markdown").read_text()
    assert (tmp_path / "report.html").read_text().count(">not counted</b>") == 3
    deep = run_forked("diff", *args, "--deep")
    assert "metric points: 21; artifact files: 3; artifact bytes: 5.9 KiB (exact)" in deep.stdout, (
        deep.stdout
    )
