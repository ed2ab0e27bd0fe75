"""A large MLflow SQLite tracking store, generated fast, and the copy mlflow-syncer would have made
of it.

    .venv/bin/python -m bench.scale_source DIR --runs 1000000 [--experiments 100] [--mirrored]

The schema is MLflow's own (created once by its SqlAlchemyStore, so the store is what `mlflow
server` and `MlflowClient("sqlite:///...")` expect); the rows are then written by SQLite itself, one
`INSERT ... SELECT` over a recursive counter per table and key, in one transaction (run ids are
sequential 32-hex strings, so the primary keys grow at their ends; `run_values` says the same in
Python). Each run is FINISHED with a start and end time, `params` params, `tags` tags (MLflow's
`mlflow.runName`, `mlflow.user`, `mlflow.source.type`, `mlflow.source.name`, then user tags) and
`metrics` metrics (one point each: a `metrics` row and a `latest_metrics` row). Runs are spread over
`experiments` experiments in contiguous blocks, so one experiment is a slice of `runs / experiments`
runs.

`--mirrored` also writes the destination a finished `migrate` would have left: the same experiments
(tagged `mlflow_syncer.source` and `mlflow_syncer.source_experiment_id`) and runs with their own
ids, carrying `mlflow_syncer.source`, `mlflow_syncer.source_run_id` and, as syncer.plan.runs
computes it, `mlflow_syncer.fingerprint`. `diff` over such a pair says in sync and a `mirror --once`
cycle is a no-op.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from syncer.core.capabilities import PLAIN_MLFLOW
from syncer.core.fitting import fit_run
from syncer.core.redact import safe_uri
from syncer.core.snapshot import (
    TAG_FINGERPRINT,
    TAG_SOURCE,
    TAG_SOURCE_EXPERIMENT_ID,
    TAG_SOURCE_RUN_ID,
    RunSnap,
    comparable,
    fingerprint,
)

T0 = 1_700_000_000_000  # ms: the first run's start time
SYSTEM_TAGS = ("mlflow.runName", "mlflow.user", "mlflow.source.type", "mlflow.source.name")
SYSTEM_VALUES = ("run-{i}", "bench", "LOCAL", "bench/scale_source.py")  # the first one in code
SOURCE_SIDE, DEST_SIDE = 0x5C, 0xDE  # the first byte of the run ids on each side


@dataclass(frozen=True)
class Shape:
    """What the generated store holds."""

    runs: int
    experiments: int = 100
    params: int = 10
    tags: int = 6  # the four system tags first
    metrics: int = 3
    prefix: str = "scale"

    def experiment_name(self, e: int) -> str:
        return f"{self.prefix}/exp-{e:03d}"

    def experiment_of(self, i: int) -> int:
        """Run `i`'s experiment index: contiguous blocks, the first `runs % experiments` one run
        larger."""
        per, extra = divmod(self.runs, self.experiments)
        big = extra * (per + 1)
        return i // (per + 1) if i < big else extra + (i - big) // max(per, 1)

    def slice_size(self, e: int) -> int:
        per, extra = divmod(self.runs, self.experiments)
        return per + (1 if e < extra else 0)


def run_id(side: int, i: int) -> str:
    """Run `i`'s id on one side: 32 hex digits, ascending with `i`."""
    return f"{side:02x}{i:030x}"


def run_values(
    shape: Shape, i: int
) -> tuple[dict[str, str], dict[str, str], dict[str, tuple[float, int, int]]]:
    """Run `i`'s params, tags and metrics (value, timestamp, step), the same on every call."""
    params = {f"p{k}": f"{(i * 31 + k * 7) % 10007}" for k in range(shape.params)}
    system = (f"run-{i}", *SYSTEM_VALUES[1:])
    tags = {key: system[k] for k, key in enumerate(SYSTEM_TAGS[: shape.tags])}
    tags.update({f"t{k}": f"v{(i + k) % 97}" for k in range(shape.tags - len(tags))})
    start = T0 + i * 1000
    metrics = {
        f"m{k}": (((i * 7919 + k) % 100_003) / 100_003, start + 1000 + k, k)
        for k in range(shape.metrics)
    }
    return params, tags, metrics


def dest_fingerprint(shape: Shape, i: int, check_fit: bool = True) -> str:
    """The fingerprint the planner expects on run `i`'s copy in a plain MLflow destination
    (syncer.plan.runs: the comparable data, fitted to the destination's limits). Every run's values
    are as short as the first one's, so the generator checks the fitting once (`check_fit`) rather
    than a million times."""
    params, tags, metrics = run_values(shape, i)
    start = T0 + i * 1000
    snap = RunSnap(
        run_id(SOURCE_SIDE, i),
        "",
        f"run-{i}",
        "FINISHED",
        start,
        start + 60_000,
        "active",
        "",
        params=params,
        tags=tags,
        metrics=metrics,
    )
    expected = comparable(snap, None)
    if check_fit:
        fitted = fit_run(
            expected["params"], expected["tags"], list(expected["metrics"]), PLAIN_MLFLOW
        )
        if fitted.notes:
            raise ValueError(f"generated values do not fit a plain MLflow: {fitted.notes}")
    return fingerprint(expected)


def _experiment_rows(
    shape: Shape, root: Path, source: str | None
) -> tuple[list[tuple], list[tuple]]:
    exps, tags = [], []
    for e in range(shape.experiments):
        exps.append(
            (e + 1, shape.experiment_name(e), f"{root}/{e + 1}", "active", T0, T0, "default")
        )
        if source is not None:
            tags += [(TAG_SOURCE, source, e + 1), (TAG_SOURCE_EXPERIMENT_ID, str(e + 1), e + 1)]
    return exps, tags


SEQ = (
    "WITH RECURSIVE seq(i) AS (SELECT 0 WHERE :n > 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 "
    "< :n) "
)
RID = "printf('%02x%030x', :side, i)"  # run_id() in SQL


def _run_statements(shape: Shape) -> list[str]:
    """INSERT ... SELECT statements writing the runs, their params and metrics in SQLite itself."""
    per, extra = divmod(shape.runs, shape.experiments or 1)
    big = extra * (per + 1)
    exp = (
        f"((CASE WHEN i < {big} THEN i / {per + 1} ELSE {extra} + (i - {big}) / {max(per, 1)} "
        f"END) + 1)"
    )
    out = [
        SEQ
        + "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, "
        "status, "
        "start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) "
        f"SELECT {RID}, 'run-' || i, 'LOCAL', '{SYSTEM_VALUES[3]}', '', 'bench', 'FINISHED', {T0} "
        f"+ i * 1000, "
        f"{T0} + i * 1000 + 60000, '', 'active', :root || '/' || {exp} || '/' || {RID} || "
        f"'/artifacts', "
        f"{exp} FROM seq"
    ]
    out += [
        SEQ + f"INSERT INTO params (key, value, run_uuid) SELECT 'p{k}', CAST((i * 31 + {k * 7}) % "
        f"10007 "
        f"AS TEXT), {RID} FROM seq"
        for k in range(shape.params)
    ]
    for k in range(shape.metrics):
        value, ts = f"((i * 7919 + {k}) % 100003) / 100003.0", f"{T0} + i * 1000 + {1000 + k}"
        out += [
            SEQ + "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
            f"SELECT 'm{k}', {value}, {ts}, {RID}, {k}, 0 FROM seq",
            SEQ + "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
            f"SELECT 'm{k}', {value}, {ts}, {k}, 0, {RID} FROM seq",
        ]
    return out


def _tag_statements(shape: Shape, source: str | None) -> list[str]:
    """The runs' tags (run_values() in SQL), and on a mirrored copy the provenance tags but the
    fingerprint."""
    system = ["'run-' || i", *(f"'{v}'" for v in SYSTEM_VALUES[1:])]
    values = [
        *system[: shape.tags],
        *(f"'v' || ((i + {k}) % 97)" for k in range(shape.tags - len(system))),
    ]
    keys = [*SYSTEM_TAGS[: shape.tags], *(f"t{k}" for k in range(shape.tags - len(SYSTEM_TAGS)))]
    out = [
        SEQ + f"INSERT INTO tags (key, value, run_uuid) SELECT '{key}', {value}, {RID} FROM seq"
        for key, value in zip(keys, values, strict=True)
    ]
    if source is not None:
        out += [
            SEQ
            + f"INSERT INTO tags (key, value, run_uuid) SELECT '{TAG_SOURCE}', :source, {RID} FROM "
            f"seq",
            SEQ + f"INSERT INTO tags (key, value, run_uuid) SELECT '{TAG_SOURCE_RUN_ID}', "
            f"printf('%02x%030x', {SOURCE_SIDE}, i), {RID} FROM seq",
        ]
    return out


def _fingerprint_rows(shape: Shape, side: int) -> Iterator[tuple[str, str, str]]:
    for i in range(shape.runs):
        yield TAG_FINGERPRINT, dest_fingerprint(shape, i, check_fit=i == 0), run_id(side, i)


def empty_store(db: Path) -> Path:
    """A new store at `db` holding MLflow's schema and its Default experiment only."""
    if db.exists():
        raise FileExistsError(db)
    SqlAlchemyStore(f"sqlite:///{db}", str(db.parent / f"{db.stem}-artifacts")).engine.dispose()
    return db


def generate(
    db: Path, shape: Shape, source: str | None = None, template: Path | None = None
) -> float:
    """Write a new store at `db` (a source, or with `source` the mirrored copy of one); returns
    seconds. `template`: an `empty_store` to start from (MLflow's own schema creation takes
    seconds)."""
    started = time.monotonic()
    if template is None:
        empty_store(db)
    elif db.exists():
        raise FileExistsError(db)
    else:
        shutil.copyfile(template, db)
    root = db.parent / f"{db.stem}-artifacts"
    root.mkdir(exist_ok=True)  # the store's artifact root, as MLflow leaves it
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;"
        )
        conn.execute("BEGIN")
        exps, exp_tags = _experiment_rows(shape, root, source)
        conn.executemany(
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, "
            "creation_time, last_update_time, workspace) VALUES (?, ?, ?, ?, ?, ?, ?)",
            exps,
        )
        conn.executemany(
            "INSERT INTO experiment_tags (key, value, experiment_id) VALUES (?, ?, ?)", exp_tags
        )
        side = DEST_SIDE if source else SOURCE_SIDE
        for statement in _run_statements(shape) + _tag_statements(shape, source):
            conn.execute(
                statement, {"n": shape.runs, "side": side, "root": str(root), "source": source}
            )
        if source is not None:
            conn.executemany(
                "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                _fingerprint_rows(shape, side),
            )
            # the syncer's copies are created later: a copy with the source's times is one store to
            # it
            conn.execute("UPDATE experiments SET creation_time = creation_time + 1000")
        conn.execute("COMMIT")
    finally:
        conn.close()
    return time.monotonic() - started


def source_identity(db: Path) -> str:
    """The identity mlflow-syncer records for a `sqlite:///` source at `db` (Endpoint.identity)."""
    return safe_uri(f"sqlite:///{db}")


def generate_pair(
    folder: Path, shape: Shape, mirrored: bool = True, template: Path | None = None
) -> dict:
    """`empty.db` (MLflow's schema only; `template`: an `empty_store` made before, used instead),
    `source.db` and with `mirrored` its copy `mirrored.db` in `folder`; their paths and the seconds
    each took (wall and CPU: on a shared machine the CPU seconds are the figure)."""
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    empty = template or empty_store(folder / "empty.db")
    out: dict = {"empty": empty, "source": folder / "source.db"}
    out["schema_seconds"] = time.monotonic() - started
    cpu = time.process_time()
    out["source_seconds"] = generate(out["source"], shape, template=out["empty"])
    out["source_cpu_seconds"], cpu = time.process_time() - cpu, time.process_time()
    if mirrored:
        out["mirrored"] = folder / "mirrored.db"
        out["mirrored_seconds"] = generate(
            out["mirrored"], shape, source_identity(out["source"]), out["empty"]
        )
        out["mirrored_cpu_seconds"] = time.process_time() - cpu
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--experiments", type=int, default=100)
    parser.add_argument("--mirrored", action="store_true", help="also write the mirrored copy")
    args = parser.parse_args()
    out = generate_pair(args.folder, Shape(args.runs, args.experiments), args.mirrored)
    for key in ("source", "mirrored"):
        if key in out:
            print(
                f"{out[key]}: {args.runs:,} runs in {out[key + '_seconds']:.1f} s "
                f"({out[key + '_cpu_seconds']:.1f} s CPU), "
                f"{out[key].stat().st_size / 1e6:,.0f} MB"
            )


if __name__ == "__main__":
    main()
