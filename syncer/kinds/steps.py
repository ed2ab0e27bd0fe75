"""The kinds' step functions, until each moves into its package (syncer.kinds.<kind>.kind).

Each `Kind` record names its objects, its dependencies and its scan, plan and apply steps; the registry
(syncer.kinds.registry) lists them.
"""

from __future__ import annotations

from collections.abc import Callable

from syncer.apply import executor
from syncer.apply.datasets import apply_datasets
from syncer.apply.logged_models import apply_logged_models
from syncer.apply.models import apply_models
from syncer.apply.permissions import apply_permissions
from syncer.apply.prompts import apply_prompts
from syncer.apply.traces import apply_traces
from syncer.config import Settings, dest_name, name_rules
from syncer.core.actions import Action
from syncer.core.dataset_snapshot import TAG_SOURCE_DATASET
from syncer.core.inventory import INVENTORY_KINDS
from syncer.core.kinds import KindInfo
from syncer.core.model_snapshot import (
    TAG_SOURCE_MODEL,
    TAG_SOURCE_MODEL_ID,
    TAG_SOURCE_VERSION,
    ModelOptions,
    ModelSnap,
)
from syncer.core.prompt_snapshot import TAG_SOURCE_PROMPT, TAG_SOURCE_PROMPT_VERSION
from syncer.core.snapshot import TAG_SOURCE_EXPERIMENT_ID, TAG_SOURCE_RUN_ID
from syncer.core.trace_snapshot import TAG_SOURCE_TRACE_ID
from syncer.kinds.base import EXPERIMENT, RANGE, Job, Kind, reading, unmatched
from syncer.kinds.permissions.step import plan_permission_step, scan_permission_step
from syncer.kinds.runs.stream import RunStream
from syncer.kinds.traces.step import plan_trace_step, scan_trace_step
from syncer.plan import runs as run_planner
from syncer.plan.datasets import plan_datasets
from syncer.plan.inventory import plan_inventory
from syncer.plan.logged_models import plan_logged_models
from syncer.plan.models import plan_models
from syncer.plan.prompts import plan_prompts, unsearchable_prompts
from syncer.scan import runs as run_scanner
from syncer.scan.artifact_reach import check_model_reach, check_reach
from syncer.scan.datasets import scan_dest_datasets, scan_source_datasets
from syncer.scan.inventory import scan_inventory
from syncer.scan.logged_models import scan_dest_logged_models, scan_source_logged_models
from syncer.scan.models import scan_dest_models, scan_source_models
from syncer.scan.prompts import scan_dest_prompts, scan_source_prompts
from syncer.scan.visibility import VISIBILITY, visibility


def model_options(settings: Settings, quarantined: frozenset[tuple[str, str]] = frozenset()) -> ModelOptions:
    """The model-copying options of the settings."""
    return ModelOptions(stages=settings.model_stages, files_experiment=settings.model_files_experiment,
                        quarantined=quarantined)


def _scan_experiments(job: Job) -> None:
    s, ids = job.settings, job.experiment_ids
    job.src_snap = reading(job.src, "source", lambda: run_scanner.scan_experiments(
        job.src, s.experiments, include_deleted=s.deleted == "mirror") if ids is None else
        run_scanner.scan_experiment_ids(job.src, sorted(ids), include_deleted=s.deleted == "mirror"))
    if ids is None:
        unmatched(job, "experiments", s.experiments, [e.name for e in job.src_snap.experiments.values()])
    check_reach(job.src_snap.experiments.values(), lambda eid: bool(reading(
        job.src, "source", lambda: job.src.client.search_runs([eid], max_results=1))))  # before any run
    rules = name_rules(s.experiment_names, job.src.caps)
    job.dest_names = {eid: dest_name(e.name, rules) for eid, e in job.src_snap.experiments.items()}
    job.dst_snap = reading(job.dst, "destination", lambda: run_scanner.scan_experiments(
        job.dst, names=set(job.dest_names.values()), include_deleted=True) if ids is None else
        run_scanner.scan_experiments_named(job.dst, sorted(set(job.dest_names.values()))))


def _plan_experiments(job: Job) -> list[Action]:
    actions = run_planner.plan_experiments(job.src_snap, job.dst_snap, job.dest_names, job.dst.caps, job.options)
    job.plannable = run_planner.plannable_experiments(actions)
    return actions


def _scan_runs(job: Job) -> None:
    """Runs are read chunk by chunk while they are planned (syncer.kinds.runs.stream)."""


def _plan_runs(job: Job) -> list[Action]:
    def read(side: str, what: Callable[[], object]) -> object:
        return reading(job.src if side == "source" else job.dst, side, what)

    job.runs = RunStream(job, read, job.emit)
    job.runs.run()
    job.copied_runs = job.runs.copied_runs()
    return []


def _scan_datasets(job: Job) -> None:
    job.src_snap.datasets = reading(job.src, "source datasets", lambda: scan_source_datasets(job.src, job.src_snap))
    if job.dst.caps.datasets and job.src_snap.datasets:
        job.dst_snap.datasets = reading(job.dst, "destination datasets", lambda: scan_dest_datasets(job.dst))


def _plan_datasets(job: Job) -> list[Action]:
    return plan_datasets(job.src_snap, job.dst_snap, job.plannable, job.dst.caps,
                         job.options.quarantined)


def _scan_logged_models(job: Job) -> None:
    job.src_snap.logged_models = reading(job.src, "source logged models",
                                         lambda: scan_source_logged_models(job.src, job.src_snap))
    check_model_reach(job.src_snap.logged_models.values(),  # before anything is copied
                      {eid: e.name for eid, e in job.src_snap.experiments.items()})
    if job.dst.caps.logged_models and job.src_snap.logged_models:
        job.dst_snap.logged_models = reading(job.dst, "destination logged models",
                                             lambda: scan_dest_logged_models(
            job.dst, job.dst_snap, job.settings.model_files_experiment))


def _plan_logged_models(job: Job) -> list[Action]:
    return plan_logged_models(job.src_snap, job.dst_snap, job.copied_runs,
                              job.plannable, job.dst.caps, job.options.quarantined)


def _scan_models(job: Job) -> None:
    s = job.settings
    if not s.copy_models:
        return
    changes = _model_changes(job)
    job.src_snap.models = reading(job.src, "source registry", lambda: scan_source_models(
        job.src, job.src_snap, s.models, job.copied_runs, changes))
    if changes is None:  # a change-only cycle selects only the models that changed
        unmatched(job, "models", s.models, list(job.src_snap.models))
    _fetch_version_runs(job)
    names = [dest_name(name, s.model_names) for name in job.src_snap.models]
    job.dst_snap.models = reading(job.dst, "destination registry",
                                  lambda: scan_dest_models(job.dst, names)) if names else {}


def _model_changes(job: Job) -> Callable[[ModelSnap], bool] | None:
    """In a change-only cycle, which selected models are read on the destination and planned: those whose
    content, as the source's searches show it, differs from the digest recorded when they were last in sync
    (`ModelSnap.digest`), so an idle cycle costs the two registry searches. None (every model) in a full pass."""
    state = job.state
    if job.options.runs_since is None or state is None:
        return None

    def changed(model: ModelSnap) -> bool:
        record = state.get("model", model.name)
        return record is None or record.fingerprint != model.digest()

    return changed


def _fetch_version_runs(job: Job) -> None:
    """Read the copied runs model versions were made from (their artifact locations decide where files come from):
    the streamed run step keeps only a few runs whole."""
    missing = {v.run_id for m in job.src_snap.models.values() for v in m.versions.values()
               if v.run_id and v.run_id in job.copied_runs and v.run_id not in job.src_snap.runs}
    if missing:
        runs = reading(job.src, "source", lambda: run_scanner.fetch_runs(
            job.src, sorted(job.src_snap.experiments), missing))
        job.src_snap.runs.update({r.run_id: r for r in runs})


def _plan_models(job: Job) -> list[Action]:
    s = job.settings
    if not s.copy_models:
        return []
    names = {name: dest_name(name, s.model_names) for name in job.src_snap.models}
    return plan_models(job.src_snap, job.dst_snap.models, names, job.copied_runs, job.dst.caps,
                       model_options(s, job.options.quarantined))


def _scan_prompts(job: Job) -> None:
    if not (job.src.caps.prompts or job.src.caps.prompt_registry):
        return
    job.src_snap.prompts = reading(job.src, "source prompts",
                                   lambda: scan_source_prompts(job.src, job.settings.prompts))
    if not job.src.caps.prompt_registry:
        unmatched(job, "prompts", job.settings.prompts, list(job.src_snap.prompts))
    if job.src_snap.prompts and job.dst.caps.prompts:
        job.dst_snap.prompts = reading(job.dst, "destination prompts",
                                       lambda: scan_dest_prompts(job.dst, job.src_snap.prompts))


def _plan_prompts(job: Job) -> list[Action]:
    unread = unsearchable_prompts(job.settings.prompts) if job.src.caps.prompt_registry else []
    return plan_prompts(job.src_snap, job.dst_snap, job.copied_runs, job.dst.caps, job.options.quarantined,
                        job.dest_names) + unread


def _scan_inventory(job: Job) -> None:
    live = sorted(eid for eid, e in job.src_snap.experiments.items() if not e.deleted)
    job.src_snap.inventory = reading(job.src, "source inventory", lambda: scan_inventory(job.src, live))
    seen = visibility(job.src)
    job.src_snap.inventory += [seen] if seen else []
    if job.state is not None and not job.state.read_only and job.src.caps.acl_me_path:
        job.state.set_cursor(VISIBILITY, (seen.why or "") if seen else "")


def _plan_inventory(job: Job) -> list[Action]:
    return plan_inventory(job.src_snap.inventory, {eid: e.name for eid, e in job.src_snap.experiments.items()})


EXPERIMENTS = Kind("experiment", (KindInfo("experiment", "experiments", TAG_SOURCE_EXPERIMENT_ID),),
                   _scan_experiments, _plan_experiments, executor.apply_experiments,
                   finish=executor.delete_experiments, scope=RANGE)
DATASETS = Kind("dataset", (KindInfo("dataset", "evaluation datasets", TAG_SOURCE_DATASET, "datasets"),),
                _scan_datasets, _plan_datasets, apply_datasets, after=("experiment",))
RUNS = Kind("run", (KindInfo("run", "runs", TAG_SOURCE_RUN_ID),), _scan_runs, _plan_runs,
            executor.apply_runs, after=("experiment", "dataset"), scope=RANGE)
LOGGED_MODELS = Kind("logged_model", (KindInfo("logged_model", "logged models", TAG_SOURCE_MODEL_ID,
                                               "logged_models"),),
                     _scan_logged_models, _plan_logged_models, apply_logged_models, after=("run",),
                     scope=EXPERIMENT)
MODELS = Kind("model", (KindInfo("model", "models", TAG_SOURCE_MODEL),
                        KindInfo("model_version", "model versions", TAG_SOURCE_VERSION)),
              _scan_models, _plan_models, apply_models, after=("run", "logged_model"))
TRACES = Kind("trace", (KindInfo("trace", "traces", TAG_SOURCE_TRACE_ID, "traces"),),
              lambda job: scan_trace_step(job, reading), plan_trace_step, apply_traces,
              after=("run", "logged_model"), scope=EXPERIMENT)
PROMPTS = Kind("prompt", (KindInfo("prompt", "prompts", TAG_SOURCE_PROMPT, "prompts"),
                          KindInfo("prompt_version", "prompt versions", TAG_SOURCE_PROMPT_VERSION, "prompts")),
               _scan_prompts, _plan_prompts, apply_prompts, after=("run", "model", "trace"))
PERMISSIONS = Kind("permission", (KindInfo("permission", "permissions"),),
                   lambda job: scan_permission_step(job, reading), plan_permission_step, apply_permissions,
                   after=("experiment", "model"))
INVENTORY = Kind("inventory", tuple(KindInfo(k.name, k.plural, capability=k.capability) for k in INVENTORY_KINDS),
                 _scan_inventory, _plan_inventory, after=("experiment",))
