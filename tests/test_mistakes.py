"""The catalogue of operator mistakes (tests/mistakes.py), each run as a real `mlflow-syncer`
process (forked from one that imported MLflow once: tests.fixtures.cli.run_forked): the exit
code, exactly one line on stderr (the one the catalogue and docs/WHAT_HAPPENS_IF.md say), no
traceback, and nothing written to the source or the destination (row counts of every table and
file listings, before and after), nor anything left in the row's own folder but what the row put
there (a state store the command opened before it refused may stay, holding no object).

The rows are independent, so they run in one module fixture (the rows that set a knob read at
import in new processes, beside the forked ones); each row is then one test that reads its result.
"""

from __future__ import annotations

import hashlib
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.fixtures.cli import cli_env, fork_with, run_forked
from tests.fixtures.procs import free_port
from tests.mistakes import MISTAKES, Mistake, render

DOC = Path(__file__).resolve().parent.parent / "docs" / "WHAT_HAPPENS_IF.md"
PARALLEL = 4
# Every row's environment: a refused end fails fast. Rows that set nothing else read at import are
# forked from a process imported with these values.
FAST_FAIL = {"MLFLOW_SYNCER_RETRY_ATTEMPTS": "2", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
fork_with(**FAST_FAIL)


def _state_garbage(tmp: Path) -> None:
    (tmp / "state.db").write_bytes(b"this is not a database at all" * 100)


def _state_newer(tmp: Path) -> None:
    with sqlite3.connect(tmp / "state.db") as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        db.execute("INSERT INTO alembic_version VALUES ('0099')")


def _empty_dir(tmp: Path) -> None:
    (tmp / "empty").mkdir()


def _text_file(tmp: Path) -> None:
    (tmp / "notes.txt").write_text("not a database\n")


def _other_sqlite(tmp: Path) -> None:
    with sqlite3.connect(tmp / "other.db") as db:
        db.execute("CREATE TABLE people (name TEXT)")


SETUPS = {
    "state_garbage": _state_garbage,
    "state_newer": _state_newer,
    "empty_dir": _empty_dir,
    "text_file": _text_file,
    "other_sqlite": _other_sqlite,
}


def _seed(root: Path, name: str, experiment: str) -> str:
    """An MLflow SQLite store with one experiment, one run (a param, a metric, an artifact)."""
    uri = f"sqlite:///{root / name}.db"
    client = MlflowClient(uri)
    exp = client.create_experiment(
        experiment, artifact_location=(root / f"{name}-artifacts").as_uri()
    )
    run = client.create_run(exp)
    client.log_param(run.info.run_id, "p", "1")
    client.log_metric(run.info.run_id, "m", 1.0)
    note = root / "note.txt"
    note.write_text("x")
    client.log_artifact(run.info.run_id, str(note))
    note.unlink()
    client.set_terminated(run.info.run_id)
    return uri


def _listing(root: Path) -> dict[str, str]:
    """Every file under `root` with a hash of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _row_counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}


STATE_FILES = ("state.db", "mlflow-syncer-state.db")


def _empty_state(path: Path) -> bool:
    """A state store the command opened (made) before it refused: ours, holding no object."""
    if path.name not in STATE_FILES or path.parent.name == "" or not path.exists():
        return False
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            return (
                "objects" not in tables
                or not conn.execute("SELECT COUNT(*) FROM objects").fetchone()[0]
            )
    except sqlite3.DatabaseError:
        return False


@dataclass
class Outcome:
    code: int
    stderr: str
    stdout: str
    leftover: dict[str, str]  # files in the row's folder that the row did not put there
    values: dict[str, str]


def _values(m: Mistake, tmp: Path, stores: dict[str, str]) -> dict[str, str]:
    return {
        **stores,
        "tmp": str(tmp),
        "cfg": str(tmp / "c.yaml"),
        "state": f"sqlite:///{tmp / 'state.db'}",
    }


def _run(i: int, m: Mistake, root: Path, stores: dict[str, str]) -> Outcome:
    tmp = root / f"row{i:03d}"
    tmp.mkdir()
    values = _values(m, tmp, stores)
    if m.config is not None:
        (tmp / "c.yaml").write_bytes(m.config if isinstance(m.config, bytes) else m.config.encode())
    if m.setup:
        SETUPS[m.setup](tmp)
    before = _listing(tmp)
    args = [a.format(**values) for a in m.args]
    env = cli_env(**FAST_FAIL | {k: v.format(**values) for k, v in m.env.items()})
    done = run_forked(*args, env=env, cwd=tmp)
    after = _listing(tmp)
    leftover = {k: v for k, v in after.items() if before.get(k) != v and not _empty_state(tmp / k)}
    return Outcome(done.returncode, done.stderr, done.stdout, leftover, values)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict:
    """Every row run once, PARALLEL at a time; the stores checked untouched before and after all of
    them."""
    root = tmp_path_factory.mktemp("mistakes")
    stores_dir = root / "stores"
    stores_dir.mkdir()
    port = free_port()
    stores = {
        "src": _seed(stores_dir, "src", "cat/alpha"),
        "dst": _seed(stores_dir, "dst", "other/x"),
        "src_db": str(stores_dir / "src.db"),
        "dst_db": str(stores_dir / "dst.db"),
        "dead": f"http://127.0.0.1:{port}",
        "dead_port": str(port),
    }
    counts = {n: _row_counts(stores_dir / f"{n}.db") for n in ("src", "dst")}
    files = _listing(stores_dir)
    results: dict = {"stores": stores, "root": root}
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {i: pool.submit(_run, i, m, root, stores) for i, m in enumerate(MISTAKES)}
        results |= {i: f.result() for i, f in futures.items()}
    assert {n: _row_counts(stores_dir / f"{n}.db") for n in ("src", "dst")} == counts, (
        "a store was written"
    )
    assert _listing(stores_dir) == files, "a file of a store changed"
    return results


def _matches(line: str, expected: str) -> bool:
    return line.startswith(expected[:-3].rstrip()) if expected.endswith("...") else line == expected


@pytest.mark.parametrize("index", range(len(MISTAKES)), ids=[m.what[:60] for m in MISTAKES])
def test_mistake(index: int, outcomes: dict) -> None:
    m = MISTAKES[index]
    got = outcomes[index]
    assert "Traceback" not in got.stderr + got.stdout, got.stderr
    lines = got.stderr.strip().splitlines()
    expected = m.line.format(**got.values)
    assert len(lines) == 1, f"{m.what}: {got.stderr}"
    assert _matches(lines[0], expected), f"{m.what}:\n got      {lines[0]}\n expected {expected}"
    assert got.code == m.code, f"{m.what}: exit {got.code}"
    assert not got.leftover, f"{m.what}: left {sorted(got.leftover)}"


def test_catalogue_size_and_page() -> None:
    """At least 60 mistakes, each named once; the page says exactly what the table says."""
    assert len(MISTAKES) >= 60
    assert len({m.what for m in MISTAKES}) == len(MISTAKES)
    assert DOC.read_text() == render(), (
        "docs/WHAT_HAPPENS_IF.md is stale: python -m tests.mistakes > it"
    )


def test_mirror_warns_of_a_filter_matching_nothing(outcomes: dict) -> None:
    """`mirror` keeps going on a filter that matches nothing: a warning each cycle, and in
    `status`."""
    stores, tmp = outcomes["stores"], outcomes["root"] / "mirror"
    tmp.mkdir()
    state = f"sqlite:///{tmp / 'state.db'}"
    pair = ["--source", stores["src"], "--dest", stores["dst"], "--state", state]
    cycle = run_forked(
        "mirror", "--once", *pair, "--experiments", "no-such-*", "--log-level", "error", cwd=tmp
    )
    warning = f"--experiments 'no-such-*' matches no experiment in the source ({stores['src']})"
    assert cycle.returncode == 0, cycle.stdout + cycle.stderr
    assert cycle.stdout.splitlines()[-1] == f"warning: {warning}", cycle.stdout
    status = run_forked("status", "--state", state, cwd=tmp)
    assert status.returncode == 0, status.stderr
    assert f"  warning       {warning}" in status.stdout.splitlines(), status.stdout
