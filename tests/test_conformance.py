"""One conformance suite, run against every endpoint profile (as rclone runs one suite against every
backend).

Each profile plays the role(s) it can play, with a plain `mlflow server` (or, for the direct store,
another SQLite store) at the other end:

- `mlflow-server`: a plain `mlflow server` with a SQLite backend, as source and as destination;
- `sqlite`: direct SQLite stores (`sqlite:///...`, no server), as source and as destination;
- `databricks-azureml`: the Databricks-like gateway (tests/emulators/databricks.py + dbfs.py: token
  auth, dbfs:/ URIs, SAS URLs) in front of a real server, as source (the emulation is read-only, as
  is the Databricks side of a migration), into the Azure-ML-like gateway
  (tests/emulators/azureml.py, artifacts in Azurite, `profile: azureml`), as destination: each
  emulated service plays its one role in one migration, the files copied by the storage service
  from the SAS URLs;
- `databricks-uc`: a Databricks-like workspace whose registry is Unity Catalog
  (tests/emulators/unity_catalog.py: version files in their own storage location, read with
  temporary SAS credentials), as source, into a plain `mlflow server` (files downloaded and
  uploaded); a UC model with a version made from one of the workload's runs travels with it.

The same pair with the destination reached through the azureml-mlflow plugin (an `azureml://` URI),
with a workspace registry's models and a run that does not fit Azure ML, is
tests/test_databricks_to_azureml.py's one scenario.

For each: a migration of the standard workload compares deeply equal (tests/compare.py); a rerun
plans only `=` and creates nothing; `diff` sees each source change (a new metric point, a new run)
and, once they are applied, says in sync; the actions a real sync applies are exactly the actions
the dry run planned; a migration SIGKILLed in the middle of a new run's files (tests/killhook) is
completed by one `mirror --once` cycle, and a second pass plans nothing.

A profile's own rules are checked on the same migration: `databricks-azureml` hands out 3 expired
signed URLs first (each renewed once; one batch of URLs per run with files) and `--verify` reads
every dbfs:/ file back.
"""

from __future__ import annotations

import signal
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, ViewType

from syncer.cli.app import main as cli
from syncer.config import Settings
from syncer.core.actions import Op
from syncer.engine.sync import SyncResult, sync
from syncer.plan.uncopied import UNLISTED, is_unlisted
from tests.compare import KINDS, assert_same
from tests.fixtures.azure import Emulated, point_sdk_at
from tests.fixtures.cli import cli_env, kill_at, run_forked, write_config
from tests.fixtures.dbx_azureml import DBFS_READ, UNLIMITED, files_per_run, unthrottled
from tests.fixtures.models import model_files
from tests.fixtures.workload import T0, Workload, make_workload

PROFILES = ["mlflow-server", "sqlite", "databricks-azureml", "databricks-uc"]
# a file written, whichever way the ends take
UPLOADS = "log_artifact|blob_upload|blob_copy|stream_artifact"


@dataclass
class Pair:
    """A source and a destination as the syncer is configured for them, and as the oracle reads
    them."""

    profile: str
    options: dict  # the configuration a user writes (also the `--config` file of `diff`)
    src: MlflowClient  # the source read and written directly (the workload, the oracle)
    dst: MlflowClient
    config: Path
    workload: Workload = field(default_factory=Workload)
    dest_runs: int = 0  # how many runs the destination must hold, exactly
    models: dict[str, int] = field(
        default_factory=dict
    )  # kind -> how many the workload adds (a UC model)
    model: str | None = None  # that model's name
    kinds: tuple[str, ...] = KINDS  # what the oracle compares besides runs: what both ends can hold
    workspace: Emulated | None = None  # the emulated source workspace, if any
    seen: Counter = field(default_factory=Counter)  # its requests during the first migration
    file_runs: int = 0  # the source runs holding files at the first migration

    @property
    def settings(self) -> Settings:
        return Settings(**self.options)


def _endpoints(
    profile: str, request: pytest.FixtureRequest, where: Path
) -> tuple[dict, dict, str, str]:
    """(source config, destination config, source URI for the oracle, destination URI for the
    oracle)."""
    if profile == "mlflow-server":
        src, dst = request.getfixturevalue("source_server"), request.getfixturevalue("dest_server")
        return {"tracking_uri": src.url}, {"tracking_uri": dst.url}, src.url, dst.url
    if profile == "sqlite":
        src, dst = f"sqlite:///{where / 'src.db'}", f"sqlite:///{where / 'dst.db'}"
        return (
            {"tracking_uri": src},
            {"tracking_uri": dst, "artifact_root": str(where / "dst-artifacts")},
            src,
            dst,
        )
    registry, dest, more = DATABRICKS[profile]
    workspace, dst = request.getfixturevalue(WORKSPACES[profile]), request.getfixturevalue(dest)
    return (
        {"tracking_uri": "databricks", "registry_uri": registry, "rate_limits": UNLIMITED},
        {"tracking_uri": dst.url, **more},
        workspace.server.url,
        dst.url,
    )


WORKSPACES = {"databricks-azureml": "databricks_source", "databricks-uc": "uc_workspace"}
# a Databricks source's profile: (its registry URI, the destination's fixture, more of its config)
DATABRICKS = {
    "databricks-azureml": ("databricks", "azureml_dest", {"profile": "azureml"}),
    "databricks-uc": ("databricks-uc", "dest_server", {}),
}


def uc_model(uc, client: MlflowClient, run_id: str, prefix: str) -> str:
    """A Unity Catalog model whose one version was made from `run_id`'s files, published to its
    storage."""
    name = f"main.{prefix.replace('-', '_')}.churn"
    client.create_registered_model(name, description="governed")
    version = client.create_model_version(
        name, f"{client.get_run(run_id).info.artifact_uri}/deep", run_id=run_id, description="v1"
    )
    with tempfile.TemporaryDirectory() as tmp:
        uc.rules.publish(
            name, version.version, Path(client.download_artifacts(run_id, "deep", tmp))
        )
    return name


@pytest.fixture(scope="module", params=PROFILES)
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    """One profile's pair, with the standard workload in its source (experiments of its own)."""
    profile = request.param
    where = tmp_path_factory.mktemp(f"conformance-{profile}")
    env, stack = pytest.MonkeyPatch(), ExitStack()
    try:
        workspace = None
        if profile in WORKSPACES:
            workspace = point_sdk_at(request.getfixturevalue(WORKSPACES[profile]), env)
            stack.enter_context(unthrottled(workspace))  # Databricks' rates: not this suite's
        if profile == "sqlite":  # relative paths of a direct store land in the test's folder
            env.chdir(where)
        source, destination, src_uri, dst_uri = _endpoints(profile, request, where)
        prefix = f"conf-{profile}-{uuid.uuid4().hex[:8]}"
        options = {
            "source": source,
            "destination": destination,
            "state": f"sqlite:///{where / 'state.db'}",
            "experiments": [f"{prefix}/*"],
            "prompts": [],
        }  # prompts are workspace-wide
        p = Pair(
            profile,
            options,
            MlflowClient(src_uri),
            MlflowClient(dst_uri),
            write_config(where / "config.yaml", **options),
            workspace=workspace,
        )
        p.workload = make_workload(p.src, prefix, runs_per_experiment=2)
        if profile == "databricks-azureml":  # Azure ML: 404 to logged models, datasets; 403 traces
            p.kinds = ("models",)
        if profile == "databricks-uc":
            p.model = uc_model(
                request.getfixturevalue("uc_workspace"), p.src, p.workload.runs["a-0"], prefix
            )
            p.models = {"model": 1, "model_version": 1}
        yield p
    finally:
        stack.close()
        env.undo()


@pytest.fixture(scope="module")
def first(pair: Pair) -> tuple[SyncResult, SyncResult]:
    """The first migration: a dry run, then the real run."""
    dry = sync(pair.settings, dry_run=True)
    before = Counter(pair.workspace.gateway.counts) if pair.workspace else Counter()
    if pair.workspace and pair.workspace.dbfs:
        pair.workspace.dbfs.expired_to_hand_out = EXPIRED
        counts = files_per_run(pair.src, pair.workload.experiments).values()
        pair.file_runs = sum(1 for n in counts if n)
    real = sync(pair.settings)
    if pair.workspace:
        pair.seen = pair.workspace.gateway.counts - before
    pair.dest_runs = len(pair.workload.runs)
    return dry, real


EXPIRED = 3  # signed URLs a dbfs:/ workspace hands out already expired at the first migration


def _dest_runs(pair: Pair) -> list:
    exp_ids = [pair.dst.get_experiment_by_name(n).experiment_id for n in pair.workload.experiments]
    return pair.dst.search_runs(exp_ids, run_view_type=ViewType.ALL, max_results=1000)


def assert_applied_as_planned(dry: SyncResult, real: SyncResult) -> None:
    """The real run planned what the dry run planned, and applied exactly its mutating actions, all
    ok."""
    assert dry.outcomes == [] and dry.dry_run
    assert real.plan.actions == dry.plan.actions
    assert [o.error for o in real.outcomes if not o.ok] == []
    assert Counter(o.action for o in real.outcomes) == Counter(dry.plan.mutating())


def sync_as_planned(pair: Pair) -> Counter:
    """Dry run, real run: applied as planned; return the planned (kind, op) counts of what
    changed."""
    dry = sync(pair.settings, dry_run=True)
    real = sync(pair.settings)
    assert_applied_as_planned(dry, real)
    return Counter((a.kind, a.op) for a in dry.plan.mutating())


def diff(pair: Pair, capsys: pytest.CaptureFixture) -> tuple[int, list[str]]:
    """`mlflow-syncer diff --config ...`: exit code and output lines."""
    capsys.readouterr()
    code = cli(["diff", "--config", str(pair.config)])
    return code, capsys.readouterr().out.splitlines()


def changed(out: list[str]) -> list[tuple[str, str, str]]:
    """The (sigil, kind, label) of every line of a text report that is not `=`."""
    return [
        tuple(line.split()[:3])
        for line in out
        if line.startswith(("+", "*", "-", "!")) and UNLISTED not in line
    ]


def test_migration_copies_the_workload_exactly(pair: Pair, first) -> None:
    _, real = first
    assert [o.error for o in real.failed] == []
    created = Counter((o.action.kind, o.action.op) for o in real.outcomes)
    assert created == {
        ("experiment", Op.CREATE): len(pair.workload.experiments),
        ("run", Op.CREATE): len(pair.workload.runs),
        **{(kind, Op.CREATE): n for kind, n in pair.models.items()},
    }
    assert len(_dest_runs(pair)) == len(pair.workload.runs)
    assert_same(pair.src, pair.dst, pair.workload.experiments, kinds=pair.kinds)
    if pair.model:  # read back through each registry: the copy's files are the version's
        src_url, dst_url = (
            pair.src._tracking_client.tracking_uri,
            pair.dst._tracking_client.tracking_uri,
        )
        assert model_files(dst_url, pair.model, "1") == model_files(src_url, pair.model, "1") != {}
        assert pair.dst.get_registered_model(pair.model).description == "governed"


def test_applied_actions_are_the_planned_actions(first) -> None:
    dry, real = first
    assert_applied_as_planned(dry, real)


def test_rerun_plans_only_same_and_creates_nothing(pair: Pair, first) -> None:
    again = sync(pair.settings)
    assert again.outcomes == []
    settled = Counter((a.kind, a.op.value) for a in again.plan.actions if not is_unlisted(a))
    assert settled == {
        ("experiment", "same"): len(pair.workload.experiments),
        ("run", "same"): pair.dest_runs,
        **{(kind, "same"): n for kind, n in pair.models.items()},
    }
    assert len(_dest_runs(pair)) == pair.dest_runs


def test_diff_sees_each_source_change_then_is_in_sync(pair: Pair, first, capsys) -> None:
    # In sync after the first migration: test_rerun_plans_only_same_and_creates_nothing's plan (the
    # plan diff reports); the "in sync" line and exit 0 are checked below, after the changes.
    a0 = pair.workload.runs["a-0"]
    pair.src.log_batch(a0, metrics=[Metric("loss", 0.001, T0 + 5000, 500)])  # one new point
    code, out = diff(pair, capsys)
    assert code == 1 and out[-1] == "1 actions to apply", out
    assert changed(out) == [("*", "run", f"{pair.workload.experiments[0]}/a-0")]
    assert sync_as_planned(pair) == {("run", Op.UPDATE): 1}
    # (that it is in sync again: the next diff finds the new run alone)

    alpha = pair.src.get_experiment_by_name(pair.workload.experiments[0]).experiment_id
    late = pair.src.create_run(alpha, start_time=T0 + 9000, run_name="late")
    pair.src.log_batch(
        late.info.run_id, metrics=[Metric("loss", 0.5, T0 + 9001, s) for s in range(3)]
    )
    pair.src.set_terminated(late.info.run_id, "FINISHED", end_time=T0 + 9999)
    code, out = diff(pair, capsys)
    assert code == 1 and out[-1] == "1 actions to apply", out
    assert changed(out) == [("+", "run", f"{pair.workload.experiments[0]}/late")]
    assert sync_as_planned(pair) == {("run", Op.CREATE): 1}
    pair.dest_runs += 1
    code, out = diff(pair, capsys)
    assert code == 0 and out[-1].startswith("in sync"), out  # "(N notes)" may follow
    assert len(_dest_runs(pair)) == pair.dest_runs
    assert_same(pair.src, pair.dst, pair.workload.experiments, kinds=pair.kinds)


def test_a_kill_amid_a_runs_files_is_completed_by_one_mirror_cycle(
    pair: Pair, first, reset_logging
) -> None:
    alpha = pair.src.get_experiment_by_name(pair.workload.experiments[0]).experiment_id
    now = int(time.time() * 1000)  # ends now: a mirror cycle reading changes only would see it too
    run = pair.src.create_run(alpha, start_time=now, run_name="files").info.run_id
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(8):
            (Path(tmp) / f"part-{i}.txt").write_text(f"part {i}\n" * (i + 1))
        pair.src.log_artifacts(run, tmp, "parts")
    pair.src.log_batch(run, metrics=[Metric("loss", 0.25, now, s) for s in range(3)])
    pair.src.set_terminated(run, "FINISHED")
    killed = run_forked(
        "migrate",
        "--no-progress",
        "--config",
        str(pair.config),
        env=cli_env(**kill_at(f"{UPLOADS}:3:after")),
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    pair.dest_runs += 1
    [copy] = [
        r for r in _dest_runs(pair) if r.info.run_name == "files"
    ]  # created, its files half copied
    assert "mlflow_syncer.fingerprint" not in copy.data.tags

    assert (
        cli(["mirror", "--once", "--no-progress", "--config", str(pair.config)]) == 0
    )  # completes it
    assert len(_dest_runs(pair)) == pair.dest_runs
    assert_same(pair.src, pair.dst, pair.workload.experiments, kinds=pair.kinds)
    again = sync(pair.settings, dry_run=True)  # a second pass plans nothing
    assert {a.op for a in again.plan.actions if not is_unlisted(a)} == {Op.SAME}


@pytest.mark.parametrize("pair", ["databricks-azureml"], indirect=True)
def test_expired_signed_urls_are_renewed_and_verify_reads_every_dbfs_file(pair: Pair, first):
    assert pair.workspace and pair.workspace.dbfs and pair.workspace.dbfs.expired_to_hand_out == 0
    # one batch of signed URLs per run with files; the storage refused 3, each renewed once
    assert pair.seen[DBFS_READ] == pair.file_runs + EXPIRED > EXPIRED
    deep = sync(pair.settings, verify=True)  # reads every dbfs:/ file back, compares the copy
    assert deep.outcomes == [] and deep.failed == []
