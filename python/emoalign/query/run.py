"""``query`` / ``aquery``: ask a model about every video and collect the long-form table.

Per video: a sampling plan (restored from the cache by file identity, or decoded), then one
request per (window, repeat). Pixels are decoded only when some request actually has to be sent,
so replaying a finished study reads nothing but the cache.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import polars as pl
from tqdm.auto import tqdm

from emoalign.query.cache import Cache, default_cache_path
from emoalign.query.cost import Usage
from emoalign.query.engine import Engine, ImageLoader, QueryOptions
from emoalign.query.output import Rows, write_parquet
from emoalign.query.provenance import provenance_metadata, query_provenance
from emoalign.query.providers import Provider, make_provider
from emoalign.query.request import Request
from emoalign.query.tasks import Task, make_task
from emoalign.query.video import (
    Sampling,
    VideoError,
    VideoPlan,
    find_transcript,
    list_videos,
    plan_key,
    sample_video,
    transcript_text,
)

log = logging.getLogger("emoalign.query")

PathLike = str | os.PathLike[str]
Videos = PathLike | Sequence[PathLike] | Mapping[str, PathLike]
CacheSpec = PathLike | Cache | Literal[False] | None


class FramesChanged(Exception):
    """Decoding now yields other JPEG bytes than the stored plan (e.g. after a Pillow upgrade)."""


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


class _Study:
    def __init__(
        self,
        engine: Engine,
        task: Task,
        sampling: Sampling,
        options: QueryOptions,
        cache: Cache | None,
        rows: Rows,
    ) -> None:
        self.engine = engine
        self.task = task
        self.sampling = sampling
        self.options = options
        self.cache = cache
        self.rows = rows
        # Decoding is CPU-bound work in threads: one per core is enough.
        self._decode_slots = asyncio.Semaphore(os.cpu_count() or 1)
        # Bounds how many videos hold decoded frames in memory at once.
        self._video_slots = asyncio.Semaphore(2 * options.concurrency)
        self.failed_units = 0

    async def run(self, videos: dict[str, Path], show_progress: bool) -> None:
        bar = tqdm(
            total=len(videos),
            unit="video",
            disable=not show_progress,
            smoothing=0.05,
            desc=f"{self.engine.provider.model} {self.task.name}",
            dynamic_ncols=True,
        )

        async def one(video_id: str, path: Path) -> None:
            async with self._video_slots:
                await self._video(video_id, path)
            bar.update(1)
            bar.set_postfix(
                failed=self.failed_units, cached=self.engine.usage.cached_replies, refresh=False
            )

        try:
            await asyncio.gather(*(one(v, p) for v, p in videos.items()))
        finally:
            bar.close()

    async def _decode(self, path: Path) -> VideoPlan:
        async with self._decode_slots:
            return await asyncio.to_thread(sample_video, path, self.sampling)

    async def _video(self, video_id: str, path: Path) -> None:
        decoded: VideoPlan | None = None
        lock = asyncio.Lock()
        key: str | None = None

        async def decode() -> VideoPlan:
            nonlocal decoded
            async with lock:
                if decoded is None:
                    decoded = await self._decode(path)
                    if self.cache is not None and key is not None:
                        self.cache.put_plan(key, decoded.to_json())
            return decoded

        try:
            key = plan_key(path, self.sampling)
            stored = self.cache.get_plan(key) if self.cache is not None else None
            plan = VideoPlan.from_json(stored) if stored is not None else await decode()
        except (VideoError, OSError) as exc:
            for repeat in range(self.options.repeats):
                self._fail(video_id, 0, repeat, "video_error", str(exc))
            return
        sidecar = find_transcript(path)
        units = []
        for w in range(len(plan.windows)):
            # One prompt per window; its samples share its canonical form and encoded body.
            try:
                prompt = self._request(plan, w, sidecar)
            except OSError as exc:  # an unreadable transcript fails this window's units only
                for repeat in range(self.options.repeats):
                    self._fail(video_id, w, repeat, "video_error", str(exc) or type(exc).__name__)
                continue
            units += [
                self._unit(video_id, plan, w, prompt.for_repeat(repeat), sidecar, decode)
                for repeat in range(self.options.repeats)
            ]
        await asyncio.gather(*units)

    async def _unit(
        self,
        video_id: str,
        plan: VideoPlan,
        w: int,
        request: Request,
        sidecar: Path | None,
        decode: Callable[[], Awaitable[VideoPlan]],
    ) -> None:
        def loader(target: VideoPlan) -> ImageLoader:
            async def images() -> Mapping[str, bytes]:
                got = (await decode()).images()
                if any(f.digest not in got for f in target.windows[w].frames):
                    raise FramesChanged
                return got

            return images

        parse = self.task.parse
        repeat = request.repeat
        try:
            try:
                outcome = await self.engine.ask(request, parse, loader(plan))
            except FramesChanged:
                fresh = await decode()
                outcome = await self.engine.ask(
                    self._request(fresh, w, sidecar).for_repeat(repeat), parse, loader(fresh)
                )
        except (VideoError, OSError) as exc:
            self._fail(video_id, w, repeat, "video_error", str(exc) or type(exc).__name__)
            return
        if outcome.status == "ok":
            assert outcome.value is not None
            self.rows.add_ok(video_id, w, repeat, outcome.reply_id, outcome.value)
        else:
            self._fail(
                video_id,
                w,
                repeat,
                outcome.status,
                outcome.error or "",
                outcome.raw,
                outcome.reply_id,
            )

    def _request(self, plan: VideoPlan, w: int, sidecar: Path | None) -> Request:
        window = plan.windows[w]
        transcript = transcript_text(sidecar, window.start, window.end) if sidecar else None
        return self.task.request(
            window,
            n_windows=len(plan.windows),
            transcript=transcript,
            temperature=self.options.temperature,
            max_tokens=self.options.max_tokens,
            repeat=0,
        )

    def _fail(
        self,
        video_id: str,
        window: int,
        repeat: int,
        status: str,
        error: str,
        raw: str | None = None,
        reply_id: str | None = None,
    ) -> None:
        self.failed_units += 1
        self.rows.add_failure(video_id, window, repeat, status, error, raw, reply_id)


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
        Frames per video (or per window), longest side in pixels, JPEG quality, window length.
    options : QueryOptions, optional
        Concurrency, rate limits, retries, timeouts, repeats, temperature, progress bar.
    cache : path, Cache or False, optional
        A SQLite path (default ``$EMOALIGN_CACHE`` or ``~/.cache/emoalign/query.sqlite``), an
        open ``Cache``, or ``False`` for none.
    out : path, optional
        Also write the table to this Parquet file (atomically).
    usage : Usage, optional
        Filled with tokens, requests, retries and cost as the run goes.

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
        If ``videos``, ``task`` or ``cache`` is of the wrong type.
    ValueError
        If no video is found, the task, provider or a setting is invalid, or ``emotions``,
        ``scale`` or ``template`` is given alongside a ``Task``.
    """
    if isinstance(task, Task):
        if emotions is not None or scale is not None or template is not None:
            raise ValueError(
                "set emotions, scale and template on the Task itself, not alongside it"
            )
        task_obj = task
    elif isinstance(task, str):
        items = (
            None
            if emotions is None
            else (emotions if isinstance(emotions, (str, os.PathLike)) else list(emotions))
        )
        task_obj = make_task(task, items=items, scale=scale, template=template)
    else:
        raise TypeError(f"task must be a task name or a Task, not {type(task).__name__}")
    prov = make_provider(provider, model, base_url=base_url, api_key_env=api_key_env)
    sampling = sampling if sampling is not None else Sampling()
    # "auto" settings decided once, so that requests are built with what is sent.
    options = (options if options is not None else QueryOptions()).for_provider(prov)
    usage = usage if usage is not None else Usage()
    paths = resolve_videos(videos)
    show = options.progress if options.progress is not None else sys.stderr.isatty()
    rows = Rows(prov.model, task_obj.name)
    store, owned = open_cache(cache)
    try:
        async with Engine(prov, store, options, usage) as engine:
            await _Study(engine, task_obj, sampling, options, store, rows).run(paths, show)
    finally:
        if owned and store is not None:
            store.close()
    df = rows.frame()
    if out is not None:
        record = query_provenance(prov, task_obj, sampling, options, usage)
        write_parquet(df, out, provenance_metadata(record))
    log.info("%s %s on %d videos: %s", prov.model, task_obj.name, len(paths), usage.summary())
    return df


def query(
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
) -> pl.DataFrame:
    """Ask a multimodal model about every video; return the long-form table.

    The synchronous form of ``aquery``, with the same parameters and result; it is also what
    calling the package does: ``emoalign.query(videos, provider=..., model=...)``.

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
    return asyncio.run(
        aquery(
            videos,
            provider=provider,
            model=model,
            task=task,
            emotions=emotions,
            scale=scale,
            template=template,
            base_url=base_url,
            api_key_env=api_key_env,
            sampling=sampling,
            options=options,
            cache=cache,
            out=out,
            usage=usage,
        )
    )
