"""Diff reports against real MLflow servers: every kind of difference, every format, nothing
written.

Model versions and aliases are not covered: the planner on this branch has no model support yet; the
renderers show any action kind generically from its details.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from mlflow import MlflowClient

from syncer.cli.app import main
from syncer.engine.sync import sync
from syncer.report.html import write as write_html
from syncer.report.model import build
from syncer.report.summary import summarize
from tests.fixtures.diffscenario import (
    FILES,
    POINTS,
    RESIZED,
    SECRET,
    Scenario,
    chromium,
    file_digest,
    make_scenario,
    tree_digest,
)


@pytest.fixture(scope="module")
def hostile(source_server, dest_server, tmp_path_factory) -> Scenario:
    """One hostile scenario (tests.fixtures.diffscenario) for the tests that only read it."""
    return make_scenario(
        MlflowClient(source_server.url),
        MlflowClient(dest_server.url),
        source_server.url,
        dest_server.url,
        f"t-{uuid.uuid4().hex[:10]}",
        tmp_path_factory.mktemp("diff-reports") / "state" / "state.db",
        True,
    )


def _diff(sc, tmp_path: Path, fmt: str, *extra: str) -> tuple[int, str]:
    out = tmp_path / f"report-{fmt}{'-'.join(extra)}.{fmt}"
    rc = main(["diff", *sc.cli("--format", fmt, "--output", str(out), *extra)])
    return rc, out.read_text(encoding="utf-8")


def _by_label(doc: dict) -> dict[str, dict]:
    return {o["label"].split("/", 1)[1]: o for o in doc["objects"]}


def test_every_kind_of_difference_is_reported_and_nothing_is_written(
    hostile, dest_server, tmp_path
):
    sc = hostile
    backend = dest_server.root / "backend.db"
    before = (
        file_digest(backend),
        tree_digest(sc.state_path.parent),
        tree_digest(dest_server.root / "artifacts"),
    )

    rc, text = _diff(sc, tmp_path, "json")
    assert rc == 1
    doc = json.loads(text)
    assert doc["schema_version"] == 2 and doc["in_sync"] is False
    objs = _by_label(doc)
    assert (objs["alpha"]["sigil"], objs["gamma"]["sigil"]) == ("=", "+")
    r1 = objs["alpha/r1"]["details"]
    assert objs["alpha/r1"]["sigil"] == "*"
    assert r1["tags_changed"] == ["note"]
    assert r1["metric_points_missing"] == {"loss": sc.new_points}
    assert r1["artifacts_missing"] == ["extra.txt"]
    assert r1["artifacts_size_differs"] == ["data.txt"]
    rp = objs["alpha/rp"]
    assert rp["sigil"] == "*" and rp["details"]["params_changed"] == ["lr"]
    assert rp["details"]["metric_points_missing"] == {"loss": 3}
    assert (objs["alpha/r5"]["sigil"], objs["gamma/g1"]["sigil"]) == ("+", "+")
    stray = objs["alpha/stray"]
    assert (stray["sigil"], stray["op"], stray["dest_id"]) == ("-", "extra", sc.extra_dest_run)
    assert stray["details"]["reason"] == "not created by mlflow-syncer"
    for fast_same in ("alpha/r2", "alpha/r3", "alpha/r4"):
        assert objs[fast_same]["sigil"] == "="
    summary = doc["summary"]
    assert summary["by_sigil"] == {"=": 4, "+": 3, "*": 2, "-": 1, "!": 0}
    copy = summary["to_copy"]  # runs to create are not opened without --deep: no total is a figure
    assert (copy["metric_points"], copy["artifact_files"], copy["artifact_bytes"]) == (
        None,
        None,
        None,
    )
    assert copy["counted"] == {
        "metric_points": sc.new_points + 3,
        "artifact_files": 2,
        "artifact_bytes": len(b"1234567") + len(RESIZED),
    }
    assert (
        copy["exact"] is False and copy["uncounted_runs"] == 2 and "not counted" in copy["reason"]
    )
    assert SECRET not in text and "0.2" not in json.dumps([o["details"] for o in doc["objects"]])

    rc, text = _diff(sc, tmp_path, "text")
    assert rc == 1 and SECRET not in text
    assert re.search(
        r"^\* run +\S+/alpha/r1 .*metric points missing: loss 5.*artifacts missing: extra.txt",
        text,
        re.M,
    )
    assert re.search(r"^- run +\S+/alpha/stray", text, re.M)
    assert re.search(r"^\+ experiment +\S+/gamma", text, re.M)
    assert "not counted without --deep" in text
    assert f"metric points: at least {sc.new_points + 3}; artifact files: at least 2;" in text

    _check_deep(sc, tmp_path)
    rc, md = _diff(sc, tmp_path, "markdown")
    assert rc == 1 and "| `*` | run |" in md and "| kind | = | + | * | - | ! |" in md
    missing_state = tmp_path / "never" / "state.db"
    assert (
        main(
            [
                "diff",
                *sc.cli(
                    "--state", f"sqlite:///{missing_state}", "--output", str(tmp_path / "x.txt")
                ),
            ]
        )
        == 1
    )
    assert not missing_state.exists() and not missing_state.parent.exists()
    main(["migrate", "--dry-run", *sc.cli()])
    after = (
        file_digest(backend),
        tree_digest(sc.state_path.parent),
        tree_digest(dest_server.root / "artifacts"),
    )
    assert after == before


def _check_deep(sc, tmp_path: Path) -> None:
    rc, text = _diff(sc, tmp_path, "json", "--deep")
    assert rc == 1
    doc = json.loads(text)
    objs = _by_label(doc)
    assert objs["alpha/r2"]["sigil"] == "*" and objs["alpha/r2"]["op"] == "differs"
    assert objs["alpha/r2"]["details"]["metric_points_missing"] == {"loss": 1}
    assert objs["alpha/r3"]["details"]["artifacts_missing"] == ["late.txt"]
    assert objs["alpha/r4"]["details"]["artifacts_checksum_differs"] == ["data.txt"]
    assert objs["alpha/r5"]["details"]["metric_points"] == POINTS
    copy = doc["summary"]["to_copy"]
    assert copy["exact"] is True
    assert copy["metric_points"] == sc.new_points + 3 + 2 * POINTS
    assert copy["artifact_bytes"] == len(b"1234567") + len(RESIZED) + 2 * sum(
        map(len, FILES.values())
    )
    assert doc["summary"]["by_sigil"]["*"] == 5


def test_html_report_opens_in_chromium_and_matches_json(hostile, tmp_path):
    sc = hostile
    rc, text = _diff(sc, tmp_path, "json")
    summary = json.loads(text)["summary"]
    rc_html, html = _diff(sc, tmp_path, "html")
    assert rc == rc_html == 1
    assert "<script src" not in html and "<link" not in html and 'name="viewport"' in html
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)
    dom = chromium(["--dump-dom", (tmp_path / "report-html.html").as_uri()], tmp_path / "profile")
    cards = {
        k: int(v) if v else None
        for k, v in re.findall(r'data-summary="(\w+)" data-value="(\d*)"', dom)
    }
    expected = {
        "objects": summary["objects"],
        "metric_points": summary["to_copy"]["metric_points"],
        "artifact_files": summary["to_copy"]["artifact_files"],
        "artifact_bytes": summary["to_copy"]["artifact_bytes"],
        "errors": summary["errors"],
        "uncopied": summary["uncopied_objects"],
        **{
            k: summary["by_sigil"][s]
            for k, s in (("same", "="), ("create", "+"), ("update", "*"), ("extra", "-"))
        },
    }
    assert cards == expected
    assert (
        f"{summary['objects']} of {summary['objects']} rows shown" in dom
    )  # the inline script ran
    assert dom.count("<rect") >= 2 and SECRET not in dom
    sliced = chromium(
        ["--dump-dom", (tmp_path / "report-html.html").as_uri() + "#sig=%2A&sort=-3"],
        tmp_path / "profile",
    )
    rows = re.findall(
        r'<tr data-sigil="([^"]+)"([^>]*)><td[^>]*>[^<]*</td><td>[^<]*</td><td[^>]*>([^<]*)</td>',
        sliced,
    )
    visible = [(sig, label) for sig, style, label in rows if "none" not in style]
    assert [sig for sig, _ in visible] == ["*"] * summary["by_sigil"]["*"]
    labels = [label for _, label in visible]
    assert labels == sorted(labels, reverse=True) and len(rows) == summary["objects"]
    shot = tmp_path / "phone.png"
    chromium(
        [
            f"--screenshot={shot}",
            "--window-size=390,1600",
            (tmp_path / "report-html.html").as_uri(),
        ],
        tmp_path / "profile2",
    )
    assert shot.stat().st_size > 10_000


def test_large_reports_summarise_per_experiment(hostile, tmp_path):
    sc = hostile
    report = build(sc.settings)
    summary = report.summary()
    out = tmp_path / "small-threshold.html"
    with out.open("w", encoding="utf-8") as fh:
        write_html(report, summary, fh, threshold=3)
    html = out.read_text(encoding="utf-8")
    assert 'id="truncated"' in html
    assert html.count("<tr data-sigil=") == 3 and 'data-sigil="="' not in html
    groups = {g.name: g for g in summary.groups}
    assert groups[f"{sc.prefix}/alpha"].in_sync == 4 and groups[f"{sc.prefix}/gamma"].pending == 2


def test_conflict_exits_2_and_bad_output_path_is_one_line(
    scenario_factory, dest_server, tmp_path, capsys
):
    sc = scenario_factory(hostile=False)
    dst = MlflowClient(dest_server.url)
    exp = dst.get_experiment_by_name(f"{sc.prefix}/alpha").experiment_id
    copy = dst.search_runs([exp], f"tags.`mlflow_syncer.source_run_id` = '{sc.runs['r2']}'")[0]
    dst.delete_run(
        copy.info.run_id
    )  # someone else deleted our copy: a conflict a sync will not resolve
    rc, text = _diff(sc, tmp_path, "text")
    assert rc == 2
    assert re.search(r"^! run +\S+/alpha/r2 +\[reason: deleted in the destination", text, re.M)
    capsys.readouterr()
    assert main(["diff", *sc.cli("--output", str(tmp_path / "no" / "such" / "dir" / "r.txt"))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such directory" in err[0]


def test_the_plan_is_the_truth(scenario_factory, tmp_path):
    sc = scenario_factory(hostile=False)
    rc, text = _diff(sc, tmp_path, "json", "--deep")
    assert rc == 1
    doc = json.loads(text)
    planned = {
        (o["kind"], o["source_id"], o["op"])
        for o in doc["objects"]
        if o["op"] in ("create", "update", "delete")
    }
    assert len(planned) == 4  # gamma, g1, r5 created; r1 updated
    assert main(["migrate", "--dry-run", *sc.cli()]) == 1

    result = sync(sc.settings)
    assert all(o.ok for o in result.outcomes)
    applied = {(o.action.kind, o.action.source_id, o.action.op.value) for o in result.outcomes}
    assert applied == planned
    predicted = {o["source_id"]: o["details"] for o in doc["objects"] if o["kind"] == "run"}
    for o in result.outcomes:
        if o.action.kind != "run":
            continue
        d = predicted[o.action.source_id]
        points = d.get("metric_points", sum(d.get("metric_points_missing", {}).values()))
        files = d.get(
            "artifact_files",
            len(d.get("artifacts_missing", [])) + len(d.get("artifacts_size_differs", [])),
        )
        assert (o.stats.metric_points, o.stats.artifact_files) == (points, files), o.action.label
    done = summarize(result)
    copy = doc["summary"]["to_copy"]
    assert (done.metric_points, done.artifact_files, done.artifact_bytes) == (
        copy["metric_points"],
        copy["artifact_files"],
        copy["artifact_bytes"],
    )

    for extra in ((), ("--deep",)):
        rc, text = _diff(sc, tmp_path, "json", *extra)
        after = json.loads(text)
        assert rc == 0 and after["in_sync"] is True
        assert {o["sigil"] for o in after["objects"]} == {"="}
    assert main(["migrate", "--dry-run", *sc.cli()]) == 0
