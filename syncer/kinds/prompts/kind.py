"""Prompts and their versions.

This module is the kind's `Kind` record and its step functions; syncer.kinds.registry lists it.
"""

from __future__ import annotations

from syncer.core.capabilities import supports
from syncer.core.kinds import KindInfo
from syncer.kinds.base import Emitter, Job, Kind, Known, Planned, reading, unmatched
from syncer.kinds.prompts.apply import apply_prompts
from syncer.kinds.prompts.archive import ARCHIVER
from syncer.kinds.prompts.capabilities import KIND, REGISTRY
from syncer.kinds.prompts.plan import plan_prompts, unsearchable_prompts
from syncer.kinds.prompts.scan import scan_dest_prompts, scan_source_prompts
from syncer.kinds.prompts.snapshot import (
    LINKED_PROMPTS,
    TAG_SOURCE_PROMPT,
    TAG_SOURCE_PROMPT_VERSION,
)
from syncer.kinds.runs.stream import keep_runs_tagged

keep_runs_tagged(LINKED_PROMPTS)  # the prompt planner rewrites the links runs carry


def _scan_prompts(job: Job, known: Known) -> Known:
    if not (supports(job.src.caps, KIND) or supports(job.src.caps, KIND, REGISTRY)):
        return known
    known.src_snap.parts["prompt"] = reading(
        job.src, "source prompts", lambda: scan_source_prompts(job.src, job.settings.prompts)
    )
    if not supports(job.src.caps, KIND, REGISTRY):
        known = unmatched(
            job, known, "prompts", job.settings.prompts, list(known.src_snap.part("prompt"))
        )
    if known.src_snap.part("prompt") and supports(job.dst.caps, KIND):
        known.dst_snap.parts["prompt"] = reading(
            job.dst,
            "destination prompts",
            lambda: scan_dest_prompts(job.dst, known.src_snap.part("prompt")),
        )
    return known


def _plan_prompts(job: Job, known: Known, out: Emitter) -> Planned:
    unread = (
        unsearchable_prompts(job.settings.prompts) if supports(job.src.caps, KIND, REGISTRY) else []
    )
    actions = plan_prompts(
        known.src_snap,
        known.dst_snap,
        known.copied_runs,
        job.dst.caps,
        job.options.quarantined,
        dict(known.dest_names),
    )
    return Planned(actions + unread, known)


PROMPTS = Kind(
    "prompt",
    (
        KindInfo("prompt", "prompts", TAG_SOURCE_PROMPT, "prompt"),
        KindInfo("prompt_version", "prompt versions", TAG_SOURCE_PROMPT_VERSION, "prompt"),
    ),
    _scan_prompts,
    _plan_prompts,
    apply_prompts,
    after=("run", "model"),
    archiver=ARCHIVER,
)
