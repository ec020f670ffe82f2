"""What produced a query table, stored in its Parquet file's key-value metadata.

A table of model judgements is reproducible only with the model, the prompts and the settings
that produced it, and it is dated by its replies (a model name can serve different weights over
time). :func:`query_provenance` gathers these after a run; ``write_parquet(..., provenance=...)``
stores them as JSON under :data:`PROVENANCE_KEY`, and :func:`read_provenance` reads them back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow.parquet as pq

import emoalign
from emoalign.deid.settings import DEID_VERSION, Deidentify
from emoalign.query.cost import Usage
from emoalign.query.engine import QueryOptions
from emoalign.query.pipeline import Prompts
from emoalign.query.providers.base import Provider
from emoalign.query.request import canonical_schema
from emoalign.query.tasks import Task

PROVENANCE_KEY = "emoalign.query"
FORMAT = 1


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def query_provenance(
    provider: Provider,
    task: Task,
    sampling: Any,
    options: QueryOptions,
    usage: Usage,
    *,
    pipeline: dict[str, Any] | None = None,
    instruction_frames: int | None = None,
) -> dict[str, Any]:
    """The provenance record of a finished run.

    Parameters
    ----------
    provider
        The provider that answered (its name, endpoint and model; never its key).
    task
        The task asked: its instruction template is stored verbatim, with digests of the
        template, of the instruction as rendered for ``instruction_frames`` frames, and of the
        reply schema.
    sampling
        The video sampling settings (a dataclass, stored field by field); its de-identification
        settings, if any, are stored under ``deidentification``.
    options
        The request settings, with ``temperature="auto"`` already decided for the model
        (``QueryOptions.for_provider``); None means the key was left out.
    usage
        The run's counters; its first and last reply times date the table (a replayed reply
        keeps the time it first arrived).
    pipeline
        How the answers were reached (``pipeline_record``); None: one stage on the default
        modalities.
    instruction_frames
        The frame count the instruction was rendered for: ``sampling.frames`` (the default)
        when frames were sent with it, 0 when it was asked without frames (the final answer of
        the two-stage pipeline, modalities without video).

    Returns
    -------
    dict
        JSON-serialisable. ``deidentification`` is None when nothing was de-identified.
    """
    template = task.instruction_template
    schema = canonical_schema(task.schema())
    frames = sampling.frames if instruction_frames is None else instruction_frames
    instruction = task.instruction(frames)
    return {
        "format": FORMAT,
        "emoalign_version": emoalign.__version__,
        "written": _iso(datetime.now(UTC).timestamp()),
        "provider": provider.name,
        "base_url": provider.base_url,
        "model": provider.model,
        "task": task.name,
        "prompts": {
            "template": template,
            "template_sha256": _sha256(template),
            "instruction_frames": frames,
            "instruction_sha256": _sha256(instruction),
            "schema_sha256": _sha256(schema),
        },
        "sampling": {
            f.name: getattr(sampling, f.name)
            for f in dataclasses.fields(sampling)
            if f.name != "deidentify"
        },
        "generation": {
            "temperature": options.temperature,
            "max_tokens": options.max_tokens,
            "max_tokens_cap": options.token_cap,
            "thinking_budget": options.thinking_budget,
            "repeats": options.repeats,
            "reasks": options.reasks,
        },
        "pipeline": pipeline,
        "deidentification": deidentification_record(getattr(sampling, "deidentify", None)),
        "replies": {
            "first": _iso(usage.first_reply),
            "last": _iso(usage.last_reply),
            "paid": usage.paid_replies,
            "cached": usage.cached_replies,
        },
    }


def deidentification_record(settings: Deidentify | None) -> dict[str, Any] | None:
    """The de-identification applied before anything was sent, or None.

    ``detector`` is the one that ran (``auto`` resolved on this machine) and ``version`` that of
    the algorithms. The seed is kept as a digest: with the alpha range it gives every speaker's
    McAdams coefficient, which would help undo the voice anonymisation.
    """
    if settings is None:
        return None
    record = dataclasses.asdict(settings)
    seed = record.pop("seed")
    record.update(
        version=DEID_VERSION,
        detector=settings.resolved_detector if settings.faces else None,
        alpha_range=list(settings.alpha_range),
        seed_sha256=_sha256(seed) if seed else None,
    )
    return record


def pipeline_record(
    name: str,
    modalities: Sequence[str] | None,
    prompts: Prompts | None,
    stages: Mapping[str, Provider | None],
    options: QueryOptions,
) -> dict[str, Any]:
    """How the answers were reached: pipeline, modalities, and the models of the other stages.

    Parameters
    ----------
    name
        ``one-stage``, ``two-stage``, or ``ablation`` (both, on every subset).
    modalities
        What was sent (``video``, ``audio``, ...), the subsets of an ablation (``V``, ``VA``,
        ...), or None for the default.
    prompts
        The stage templates, stored verbatim for the pipelines that describe and fuse.
    stages
        The provider of each further stage (``describe``, ``fuse``, ``transcribe``); None for
        one not used. Each is stored with the temperature decided for its model.
    options
        The run's request settings, with ``temperature`` as given (``auto`` is decided per
        stage model).
    """
    models = {
        stage: None
        if prov is None
        else {
            "provider": prov.name,
            "base_url": prov.base_url,
            "model": prov.model,
            "temperature": options.for_provider(prov).temperature,
        }
        for stage, prov in stages.items()
    }
    templates = None if name == "one-stage" else dataclasses.asdict(prompts or Prompts())
    return {
        "name": name,
        "modalities": None if modalities is None else list(modalities),
        "models": models,
        "templates": templates,
    }


def provenance_metadata(record: dict[str, Any]) -> dict[str, str]:
    """The Parquet key-value metadata that holds ``record``."""
    return {PROVENANCE_KEY: json.dumps(record, ensure_ascii=False, sort_keys=True)}


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The provenance record of a Parquet file written by ``emoalign query``, or None.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    """
    metadata = pq.read_metadata(os.fspath(path)).metadata or {}
    raw = metadata.get(PROVENANCE_KEY.encode())
    return None if raw is None else json.loads(raw)
