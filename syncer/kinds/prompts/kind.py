"""Prompts and their versions.

This module is the kind's `Kind` record and its step functions; syncer.kinds.registry lists it.
"""

from __future__ import annotations

from syncer.core.actions import Action
from syncer.core.capabilities import supports
from syncer.core.kinds import KindInfo
from syncer.kinds.base import Job, Kind, reading, unmatched
from syncer.kinds.prompts.apply import apply_prompts
from syncer.kinds.prompts.archive import ARCHIVER
from syncer.kinds.prompts.capabilities import KIND, REGISTRY
from syncer.kinds.prompts.plan import plan_prompts, unsearchable_prompts
from syncer.kinds.prompts.scan import scan_dest_prompts, scan_source_prompts
from syncer.kinds.prompts.snapshot import TAG_SOURCE_PROMPT, TAG_SOURCE_PROMPT_VERSION


def _scan_prompts(job: Job) -> None:
    if not (supports(job.src.caps, KIND) or supports(job.src.caps, KIND, REGISTRY)):
        return
    job.src_snap.parts["prompt"] = reading(
        job.src, "source prompts", lambda: scan_source_prompts(job.src, job.settings.prompts)
    )
    if not supports(job.src.caps, KIND, REGISTRY):
        unmatched(job, "prompts", job.settings.prompts, list(job.src_snap.part("prompt")))
    if job.src_snap.part("prompt") and supports(job.dst.caps, KIND):
        job.dst_snap.parts["prompt"] = reading(
            job.dst,
            "destination prompts",
            lambda: scan_dest_prompts(job.dst, job.src_snap.part("prompt")),
        )


def _plan_prompts(job: Job) -> list[Action]:
    unread = (
        unsearchable_prompts(job.settings.prompts) if supports(job.src.caps, KIND, REGISTRY) else []
    )
    return (
        plan_prompts(
            job.src_snap,
            job.dst_snap,
            job.copied_runs,
            job.dst.caps,
            job.options.quarantined,
            job.dest_names,
        )
        + unread
    )


PROMPTS = Kind(
    "prompt",
    (
        KindInfo("prompt", "prompts", TAG_SOURCE_PROMPT, "prompts"),
        KindInfo("prompt_version", "prompt versions", TAG_SOURCE_PROMPT_VERSION, "prompts"),
    ),
    _scan_prompts,
    _plan_prompts,
    apply_prompts,
    after=("run", "model", "trace"),
    archiver=ARCHIVER,
)
