"""``query`` / ``aquery``: ask a model about every video and collect the long-form table.

This module resolves what was asked for (videos, task, sampling, providers, cache) and runs a
:class:`~emoalign.query.study.Study`: per video a sampling plan (restored from the cache by file
identity, or decoded), then one request per (window, repeat), or, in the two-stage pipeline
(:mod:`.twostage`), descriptions, fusions and one final request per repeat.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import polars as pl

from emoalign.deid.settings import Deidentify
from emoalign.query.cache import Cache, default_cache_path
from emoalign.query.cost import Usage
from emoalign.query.engine import Engine, QueryOptions
from emoalign.query.modalities import parse_modalities
from emoalign.query.output import Rows, write_parquet
from emoalign.query.pipeline import (
    Descriptions,
    Prompts,
)
from emoalign.query.provenance import pipeline_record, provenance_metadata, query_provenance
from emoalign.query.providers import Provider, make_provider
from emoalign.query.providers.transcription import TranscriptionProvider
from emoalign.query.study import Pipeline, Study
from emoalign.query.tasks import Task, make_task
from emoalign.query.twostage import TwoStageStudy
from emoalign.query.video import (
    Sampling,
    list_videos,
)

log = logging.getLogger("emoalign.query")

PathLike = str | os.PathLike[str]
Videos = PathLike | Sequence[PathLike] | Mapping[str, PathLike]
CacheSpec = PathLike | Cache | Literal[False] | None
PIPELINES = ("one-stage", "two-stage")


def resolve_videos(videos: Videos) -> dict[str, Path]:
    if isinstance(videos, Mapping):
        if not videos:
            raise ValueError("videos is an empty mapping; pass at least one id -> path")
        return {str(k): Path(v) for k, v in videos.items()}
    if isinstance(videos, (str, os.PathLike)):
        return list_videos([videos])
    if isinstance(videos, Sequence):
        return list_videos(list(videos))
    raise TypeError(
        "videos must be a path, a list of paths, or a mapping of id to path, "
        f"not {type(videos).__name__}"
    )


def open_cache(cache: CacheSpec) -> tuple[Cache | None, bool]:
    """The cache to use and whether this call owns (and so closes) it."""
    if cache is False:
        return None, False
    if isinstance(cache, Cache):
        return cache, False
    if cache is None:
        return Cache(default_cache_path()), True
    if isinstance(cache, (str, os.PathLike)):
        return Cache(cache), True
    raise TypeError(
        f"cache must be a path, a Cache, None (default) or False, not {type(cache).__name__}"
    )


def resolve_task(
    task: str | Task,
    emotions: str | PathLike | Sequence[str] | None,
    scale: tuple[float, float] | None,
    template: str | None,
) -> Task:
    if isinstance(task, Task):
        if emotions is not None or scale is not None or template is not None:
            raise ValueError(
                "set emotions, scale and template on the Task itself, not alongside it"
            )
        return task
    if isinstance(task, str):
        items = (
            None
            if emotions is None
            else (emotions if isinstance(emotions, (str, os.PathLike)) else list(emotions))
        )
        return make_task(task, items=items, scale=scale, template=template)
    raise TypeError(f"task must be a task name or a Task, not {type(task).__name__}")


def resolve_sampling(
    sampling: Sampling | None,
    modalities: tuple[str, ...] | None,
    deidentify: bool | Deidentify | None,
    transcribe: bool = False,
) -> Sampling:
    """The sampling asked for, with audio when a modality or transcription needs it, and
    de-identification."""
    sampling = sampling if sampling is not None else Sampling()
    needs_audio = transcribe or (modalities is not None and "audio" in modalities)
    if needs_audio and not sampling.audio:
        sampling = replace(sampling, audio=True)
    if deidentify is True:
        deidentify = Deidentify()
    if isinstance(deidentify, Deidentify):
        if sampling.deidentify is not None and sampling.deidentify != deidentify:
            raise ValueError("deidentify differs from sampling.deidentify; set only one")
        sampling = replace(sampling, deidentify=deidentify)
    elif deidentify not in (None, False):
        raise TypeError(
            f"deidentify must be True, False or a Deidentify, not {type(deidentify).__name__}"
        )
    return sampling


@dataclass
class Providers:
    """The providers of the final answer and of stages 1 (describe) and 2 (fuse)."""

    main: Provider
    describe: Provider
    fuse: Provider
    transcribe: Provider | None = None

    @classmethod
    def make(
        cls,
        provider: str | Provider,
        model: str | None,
        describe_model: str | Provider | None,
        fuse_model: str | Provider | None,
        *,
        base_url: str | None,
        api_key_env: str | None,
        inline_limit_bytes: int | None,
        transcribe: str | Provider | None = None,
        transcribe_base_url: str | None = None,
    ) -> Providers:
        main = make_provider(
            provider,
            model,
            base_url=base_url,
            api_key_env=api_key_env,
            inline_limit_bytes=inline_limit_bytes,
        )

        def stage(name: str, spec: str | Provider | None) -> Provider:
            if spec is None or (isinstance(spec, str) and spec == main.model):
                return main
            if isinstance(spec, Provider):
                return spec
            if isinstance(provider, Provider):
                raise ValueError(
                    f"{name}: with a provider instance, pass a provider instance here too"
                )
            return make_provider(
                provider,
                spec,
                base_url=base_url,
                api_key_env=api_key_env,
                inline_limit_bytes=inline_limit_bytes,
            )

        speech: Provider | None = None
        if isinstance(transcribe, Provider):
            if transcribe_base_url is not None:
                raise ValueError("pass transcribe_base_url to the transcription provider itself")
            speech = transcribe
        elif isinstance(transcribe, str):
            # The chat endpoint's server usually serves transcriptions too (vLLM, OpenAI).
            same = main.name == "openai"
            speech = TranscriptionProvider(
                transcribe,
                base_url=transcribe_base_url or (main.base_url if same else None),
                api_key_env=api_key_env if same else None,
            )
        elif transcribe is not None:
            raise TypeError(
                f"transcribe must be a model name or a provider, not {type(transcribe).__name__}"
            )
        return cls(
            main,
            stage("describe_model", describe_model),
            stage("fuse_model", fuse_model),
            speech,
        )

    def provenance(
        self,
        pipeline: str,
        modalities: Sequence[str] | None,
        prompts: Prompts | None,
        options: QueryOptions,
    ) -> dict[str, object]:
        """The provenance record of the pipeline run with these providers."""
        stages: dict[str, Provider | None] = {"transcribe": self.transcribe}
        if pipeline != "one-stage":
            stages.update(describe=self.describe, fuse=self.fuse)
        return pipeline_record(pipeline, modalities, prompts, stages, options)

    async def engines(
        self, stack: AsyncExitStack, cache: Cache | None, options: QueryOptions, usage: Usage
    ) -> tuple[Engine, Engine, Engine, Engine | None]:
        """One engine per distinct provider, entered on ``stack``: main, describe, fuse and
        transcribe (None without one)."""
        made: dict[int, Engine] = {}

        async def engine(prov: Provider) -> Engine:
            if id(prov) not in made:
                made[id(prov)] = await stack.enter_async_context(
                    Engine(prov, cache, options, usage)
                )
            return made[id(prov)]

        speech = await engine(self.transcribe) if self.transcribe is not None else None
        return await engine(self.main), await engine(self.describe), await engine(self.fuse), speech


def study_class(pipeline: str) -> type[Study]:
    return TwoStageStudy if pipeline == "two-stage" else Study


def instruction_frames(
    pipeline: str, modalities: tuple[str, ...] | None, sampling: Sampling
) -> int:
    """The frame count the task's instruction is rendered for (see ``Task.request``)."""
    if pipeline == "two-stage":
        return 0  # the final answer is asked of the fused, text-only account
    # nfbl without video sends frames for the model to read body language from, unless the
    # video has a cue file: such videos are asked with the 0-frame instruction.
    if modalities is None or {"video", "nfbl"} & set(modalities):
        return sampling.frames
    return 0


def check_pipeline(pipeline: str, modalities: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if pipeline not in PIPELINES:
        raise ValueError(f"pipeline must be one of {', '.join(PIPELINES)}, got {pipeline!r}")
    if pipeline == "two-stage" and modalities is None:
        return ("video",)  # frames only: a transcript or audio is required once named
    return modalities


async def aquery(
    videos: Videos,
    *,
    provider: str | Provider,
    model: str | None = None,
    task: str | Task = "ratings",
    emotions: str | PathLike | Sequence[str] | None = None,
    scale: tuple[float, float] | None = None,
    template: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    sampling: Sampling | None = None,
    options: QueryOptions | None = None,
    cache: CacheSpec = None,
    out: PathLike | None = None,
    usage: Usage | None = None,
    modalities: str | Sequence[str] | None = None,
    pipeline: str = "one-stage",
    describe_model: str | Provider | None = None,
    fuse_model: str | Provider | None = None,
    prompts: Prompts | None = None,
    descriptions: PathLike | None = None,
    deidentify: bool | Deidentify | None = None,
    inline_limit_bytes: int | None = None,
    transcribe: str | Provider | None = None,
    transcribe_base_url: str | None = None,
) -> pl.DataFrame:
    """Ask a multimodal model about every video; return the long-form table (asynchronous).

    Frames are sampled from each video (``sampling``), sent with the task's prompt and JSON
    schema to an OpenAI-compatible Chat Completions server or Gemini, and each reply is
    validated against the schema. Requests run concurrently under rate limits and retry
    transient failures (honouring ``Retry-After``); every reply is cached in SQLite as soon as
    it arrives, so a re-run or a resumed run never pays twice.

    Parameters
    ----------
    videos : path, sequence of paths, or mapping of str to path
        A video file, a directory (searched recursively), a list of those, or a mapping of
        video id to path. Ids default to file stems.
    provider : {"openai", "gemini"} or Provider
        The API, or a configured provider instance.
    model : str, optional
        Model name as the server knows it (required with a provider name).
    task : {"ratings", "dimensions", "openset", "classify"} or Task, default "ratings"
        Ratings of each emotion, affective dimensions, open-vocabulary emotion words, or one
        label from a closed set.
    emotions : str, path or sequence of str, optional
        The items rated or the labels offered: ``"ck34"`` (Cowen & Keltner's 34 categories,
        the default), a file with one name per line, or a list. Not for ``openset``.
    scale : (float, float), optional
        The rating scale's bounds, for ``ratings`` and ``dimensions``.
    template : str, optional
        A prompt template replacing the task's default.
    base_url : str, optional
        The server, e.g. ``http://127.0.0.1:8000/v1`` for a local vLLM server.
    api_key_env : str, optional
        Name of the environment variable holding the API key (default ``OPENAI_API_KEY``;
        ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``). Keys are read only from the environment
        and never reach the cache, logs or reports.
    sampling : Sampling, optional
        Frames per video (or per window), longest side in pixels, JPEG quality, window length,
        audio, de-identification.
    options : QueryOptions, optional
        Concurrency, rate limits, retries, timeouts, repeats, temperature, progress bar.
    cache : path, Cache or False, optional
        A SQLite path (default ``$EMOALIGN_CACHE`` or ``~/.cache/emoalign/query.sqlite``), an
        open ``Cache``, or ``False`` for none.
    out : path, optional
        Also write the table to this Parquet file (atomically), with its provenance in the
        file's metadata (``read_provenance``).
    usage : Usage, optional
        Filled with tokens, requests, retries and cost as the run goes.
    modalities : str or sequence of str, optional
        What is sent: ``"video,audio,text,nfbl"`` or a list of those. Each one listed is
        required of every video. Default: frames plus the transcript when there is one (one
        stage), frames only (two stages).
    pipeline : {"one-stage", "two-stage"}, default "one-stage"
        ``two-stage`` describes each modality of each window, fuses the descriptions per
        window and then per video, and asks the task of the fused account; its rows are per
        video (window 0).
    describe_model, fuse_model : str or Provider, optional
        The models of stage 1 (descriptions) and stage 2 (fusion); default ``model``.
    prompts : Prompts, optional
        Replacements for the stage templates of the two-stage pipeline.
    descriptions : path, optional
        Write the intermediate texts (descriptions, fusions) of a two-stage run to Parquet.
    deidentify : bool or Deidentify, optional
        Blur faces and anonymise voices before anything is encoded or sent (``True`` for the
        default settings). Recorded in the provenance.
    inline_limit_bytes : int, optional
        Gemini's cap on the inline media of one request (default 20 MiB).
    transcribe : str or Provider, optional
        A speech-to-text model: videos without a transcript sidecar get one per window from
        the OpenAI-compatible ``/audio/transcriptions`` endpoint, cached like every reply.
    transcribe_base_url : str, optional
        Its server (default: ``base_url`` for the openai provider, else OpenAI).

    Returns
    -------
    polars.DataFrame
        One row per (video, window, repeat, item) with columns ``video_id``, ``model``,
        ``task``, ``item``, ``value``, ``repeat``, ``reply_id``, ``window``, ``status``,
        ``error``, ``raw``. Every unit has its ``ok`` rows or exactly one failure row
        (``invalid``, ``error`` or ``video_error``); see ``failures`` and ``to_wide``.

    Raises
    ------
    TypeError
        If ``videos``, ``task``, ``cache``, ``deidentify`` or ``transcribe`` is of the wrong
        type.
    ValueError
        If no video is found, the task, provider, pipeline, a modality or a setting is invalid,
        or ``emotions``, ``scale`` or ``template`` is given alongside a ``Task``.
    """
    task_obj = resolve_task(task, emotions, scale, template)
    mods = None if modalities is None else parse_modalities(modalities)
    mods = check_pipeline(pipeline, mods)
    if descriptions is not None and pipeline != "two-stage":
        raise ValueError("descriptions are written by pipeline='two-stage' only")
    provs = Providers.make(
        provider,
        model,
        describe_model,
        fuse_model,
        base_url=base_url,
        api_key_env=api_key_env,
        inline_limit_bytes=inline_limit_bytes,
        transcribe=transcribe,
        transcribe_base_url=transcribe_base_url,
    )
    sampling = resolve_sampling(sampling, mods, deidentify, provs.transcribe is not None)
    # Each engine decides "auto" settings for its own model (the stages may use others); the
    # study builds requests, and the provenance records them, as decided for the main model.
    options = options if options is not None else QueryOptions()
    decided = options.for_provider(provs.main)
    usage = usage if usage is not None else Usage()
    paths = resolve_videos(videos)
    show = options.progress if options.progress is not None else sys.stderr.isatty()
    rows = Rows(provs.main.model, task_obj.name)
    notes = Descriptions() if descriptions is not None else None
    store, owned = open_cache(cache)
    try:
        async with AsyncExitStack() as stack:
            engine, describe, fuse, speech = await provs.engines(stack, store, options, usage)
            pipe = Pipeline(mods, prompts or Prompts(), describe, fuse, notes, speech)
            kind = study_class(pipeline)
            await kind(engine, task_obj, sampling, decided, store, rows, pipe).run(paths, show)
    finally:
        if owned and store is not None:
            store.close()
    df = rows.frame()
    if out is not None:
        record = query_provenance(
            provs.main,
            task_obj,
            sampling,
            decided,
            usage,
            pipeline=provs.provenance(pipeline, mods, prompts, options),
            instruction_frames=instruction_frames(pipeline, mods, sampling),
        )
        write_parquet(df, out, provenance_metadata(record))
    if notes is not None and descriptions is not None:
        notes.write(descriptions)
    log.info("%s %s on %d videos: %s", provs.main.model, task_obj.name, len(paths), usage.summary())
    return df


def query(videos: Videos, **kwargs: object) -> pl.DataFrame:
    """Ask a multimodal model about every video; return the long-form table.

    The synchronous form of ``aquery``, with the same parameters and result; it is also what
    calling the package does: ``emoalign.query(videos, provider=..., model=...)``.

    Parameters
    ----------
    videos : path, sequence of paths, or mapping of str to path
        The videos, as for ``aquery``.
    **kwargs
        Every keyword argument of ``aquery`` (``provider``, ``model``, ``task``, ...,
        ``pipeline``, ``modalities``, ``deidentify``); ``inspect.signature(query)`` lists them.

    Returns
    -------
    polars.DataFrame
        The long-form table that ``aquery`` returns.

    Raises
    ------
    RuntimeError
        If called from inside a running event loop (use ``await aquery(...)`` there).

    Examples
    --------
    >>> import emoalign
    >>> df = emoalign.query("videos/", provider="openai", model="gpt-4o",
    ...                     task="ratings")  # doctest: +SKIP
    >>> ratings = emoalign.query.to_wide(df)  # videos × 34 emotions  # doctest: +SKIP
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("query() cannot run inside an event loop; use 'await aquery(...)'")
    return asyncio.run(aquery(videos, **kwargs))  # type: ignore[arg-type]


# help(query) and IDEs show aquery's keyword arguments.
query.__signature__ = inspect.signature(aquery)  # type: ignore[attr-defined]
