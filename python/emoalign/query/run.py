"""``query`` / ``aquery``: ask a model about every video and collect the long-form table.

Per video: a sampling plan (restored from the cache by file identity, or decoded), then one
request per (window, repeat), or, in the two-stage pipeline, one description per (window,
modality), one fusion per window (and one per video for several windows) and one final request
per repeat. Pixels and audio are decoded only when some request actually has to be sent, so
replaying a finished study reads nothing but the cache.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, TypeVar

import polars as pl
from tqdm.auto import tqdm

from emoalign.deid.settings import Deidentify
from emoalign.query.cache import Cache, default_cache_path
from emoalign.query.cost import Usage
from emoalign.query.engine import Engine, ImageLoader, Outcome, QueryOptions
from emoalign.query.modalities import find_nfbl, nfbl_text, parse_modalities
from emoalign.query.output import Rows, write_parquet
from emoalign.query.pipeline import (
    Descriptions,
    Prompts,
    describe_request,
    fuse_video_request,
    fuse_window_request,
    parse_text,
)
from emoalign.query.providers import Provider, make_provider
from emoalign.query.providers.transcription import TranscriptionProvider
from emoalign.query.request import Audio, Request, Turn
from emoalign.query.tasks import Task, make_task
from emoalign.query.video import (
    Sampling,
    VideoError,
    VideoPlan,
    Window,
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
PIPELINES = ("one-stage", "two-stage")
T = TypeVar("T")
# Stand-ins for a window where a sidecar has nothing: the model is told, not left guessing.
_SILENT = "(Nothing is said in this part of the video.)"
_NO_CUES = "(No body-language cues were annotated for this part of the video.)"


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


@dataclass(frozen=True)
class Pipeline:
    """What a study sends and how: modalities, one or two stages, and the stage engines.

    ``modalities`` None is the classic one-stage request (frames, plus the transcript when a
    sidecar exists); an explicit tuple makes every listed modality required, and a video lacking
    one is reported for it. ``describe`` and ``fuse`` are the engines of stages 1 and 2.
    """

    modalities: tuple[str, ...] | None = None
    two_stage: bool = False
    prompts: Prompts = field(default_factory=Prompts)
    describe: Engine | None = None
    fuse: Engine | None = None
    descriptions: Descriptions | None = None
    # Speech to text for videos without a transcript sidecar (None: sidecars only).
    transcribe: Engine | None = None


@dataclass(frozen=True)
class _Speech:
    """Where a video's transcript comes from: its sidecar, or per-window transcriptions."""

    sidecar: Path | None
    transcribed: tuple[str, ...] | None = None

    @property
    def available(self) -> bool:
        return self.sidecar is not None or self.transcribed is not None

    def text(self, window: Window) -> str | None:
        """The words of ``window`` (may be empty), or None without any source."""
        if self.transcribed is not None:
            return self.transcribed[window.index]
        if self.sidecar is None:
            return None
        return transcript_text(self.sidecar, window.start, window.end)


class _StageFailed(Exception):
    def __init__(self, status: str, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


class Decoder:
    """Decodes videos in threads, one per core, sharing each decode among the studies of a run.

    The 14 configurations of an ablation start on the same videos at the same time: without
    sharing, each would decode (and de-identify) every video itself. The last few decodes are
    kept, by (path, speaker), for studies that ask a moment later.
    """

    def __init__(self, sampling: Sampling, keep: int = 64) -> None:
        self.sampling = sampling
        self._slots = asyncio.Semaphore(os.cpu_count() or 1)
        self._recent: dict[tuple[Path, str], asyncio.Future[VideoPlan]] = {}
        self._keep = keep

    async def decode(self, path: Path, video_id: str) -> VideoPlan:
        key = (path, video_id)
        future = self._recent.get(key)
        if future is None:
            future = asyncio.ensure_future(self._run(path, video_id))
            self._recent[key] = future
            while len(self._recent) > self._keep:
                del self._recent[next(iter(self._recent))]
        # shield: one study's cancellation must not cancel the decode others wait for.
        return await asyncio.shield(future)

    async def _run(self, path: Path, video_id: str) -> VideoPlan:
        async with self._slots:
            return await asyncio.to_thread(sample_video, path, self.sampling, speaker=video_id)


class _Study:
    def __init__(
        self,
        engine: Engine,
        task: Task,
        sampling: Sampling,
        options: QueryOptions,
        cache: Cache | None,
        rows: Rows,
        pipeline: Pipeline | None = None,
        decoder: Decoder | None = None,
    ) -> None:
        self.engine = engine
        self.task = task
        self.sampling = sampling
        self.options = options
        self.cache = cache
        self.rows = rows
        self.pipeline = pipeline or Pipeline()
        self.decoder = decoder or Decoder(sampling)
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

    async def _video(self, video_id: str, path: Path) -> None:
        decoded: VideoPlan | None = None
        lock = asyncio.Lock()
        key: str | None = None

        async def decode() -> VideoPlan:
            nonlocal decoded
            async with lock:
                if decoded is None:
                    decoded = await self.decoder.decode(path, video_id)
                    if self.cache is not None and key is not None:
                        self.cache.put_plan(key, decoded.to_json())
            return decoded

        two_stage = self.pipeline.two_stage
        try:
            key = plan_key(path, self.sampling)
            stored = self.cache.get_plan(key) if self.cache is not None else None
            plan = VideoPlan.from_json(stored) if stored is not None else await decode()
        except (VideoError, OSError) as exc:
            self._fail_all(video_id, 1, "video_error", str(exc))
            return
        # Two-stage runs answer once per video (on the video-level account): window 0.
        n_units = 1 if two_stage else len(plan.windows)
        speech = _Speech(find_transcript(path))
        nfbl = find_nfbl(path)
        missing = self._missing(path, plan, speech)
        if missing is not None:
            self._fail_all(video_id, n_units, "video_error", missing)
            return
        wanted = self.pipeline.modalities
        if (
            speech.sidecar is None
            and self.pipeline.transcribe is not None
            and not plan.no_audio
            and (wanted is None or "text" in wanted)
        ):
            try:
                speech = await self._transcribe(plan, decode)
            except _StageFailed as exc:
                self._fail_all(video_id, n_units, exc.status, exc.error)
                return
            except (VideoError, OSError) as exc:
                self._fail_all(video_id, n_units, "video_error", str(exc) or type(exc).__name__)
                return
        if two_stage:
            await self._two_stage(video_id, plan, decode, speech, nfbl)
            return
        units = []
        for w in range(len(plan.windows)):
            # One prompt per window; its samples share its canonical form and encoded body.
            try:
                prompt = self._request(plan, w, speech, nfbl)
            except (OSError, ValueError) as exc:  # an unreadable sidecar fails this window only
                for repeat in range(self.options.repeats):
                    self._fail(video_id, w, repeat, "video_error", str(exc) or type(exc).__name__)
                continue
            units += [
                self._unit(video_id, plan, w, prompt.for_repeat(repeat), speech, nfbl, decode)
                for repeat in range(self.options.repeats)
            ]
        await asyncio.gather(*units)

    def _missing(self, path: Path, plan: VideoPlan, speech: _Speech) -> str | None:
        """Why this video cannot give a modality that was asked for, or None."""
        wanted = self.pipeline.modalities or ()
        if "audio" in wanted and plan.no_audio:
            return f"{path.name}: no audio stream, which modality 'audio' needs"
        if "text" in wanted and not speech.available:
            if self.pipeline.transcribe is None:
                return (
                    f"{path.name}: no transcript sidecar ({path.stem}.srt, .vtt or .txt), "
                    "which modality 'text' needs; or ask for transcription"
                )
            if plan.no_audio:
                return (
                    f"{path.name}: no transcript sidecar and no audio stream to transcribe, "
                    "which modality 'text' needs"
                )
        return None

    async def _transcribe(
        self, plan: VideoPlan, decode: Callable[[], Awaitable[VideoPlan]]
    ) -> _Speech:
        """Every window's audio through the transcription endpoint (cached like any reply)."""
        engine = self.pipeline.transcribe
        assert engine is not None

        def build(w: int) -> Callable[[VideoPlan], Request]:
            def request(target: VideoPlan) -> Request:
                clip = target.windows[w].audio
                assert clip is not None  # sampled with audio whenever transcription is on
                return Request(
                    turns=(Turn("user", (Audio(clip.digest),)),),
                    schema=None,
                    schema_name="transcription",
                    temperature=0.0,
                    max_tokens=self.options.max_tokens,
                )

            return request

        def words(text: str) -> str:
            return text.strip()  # silence transcribes to nothing, which is a valid answer

        outcomes = await asyncio.gather(
            *(
                self._ask_media(engine, build(w), words, plan, w, decode)
                for w in range(len(plan.windows))
            )
        )
        texts = []
        for w, outcome in enumerate(outcomes):
            if outcome.status != "ok":
                raise _StageFailed(outcome.status, f"transcription (window {w}): {outcome.error}")
            texts.append(outcome.value or "")
        return _Speech(None, tuple(texts))

    def _fail_all(self, video_id: str, windows: int, status: str, error: str) -> None:
        for w in range(windows):
            for repeat in range(self.options.repeats):
                self._fail(video_id, w, repeat, status, error)

    async def _ask_media(
        self,
        engine: Engine,
        build: Callable[[VideoPlan], Request],
        parse: Callable[[str], T],
        plan: VideoPlan,
        w: int,
        decode: Callable[[], Awaitable[VideoPlan]],
    ) -> Outcome[T]:
        """Ask a request about window ``w``; its media are decoded only if it must be sent."""

        def loader(target: VideoPlan) -> ImageLoader:
            async def media() -> Mapping[str, bytes]:
                got = (await decode()).images()
                if any(d not in got for d in target.windows[w].digests()):
                    raise FramesChanged
                return got

            return media

        try:
            return await engine.ask(build(plan), parse, loader(plan))
        except FramesChanged:
            fresh = await decode()
            return await engine.ask(build(fresh), parse, loader(fresh))

    async def _unit(
        self,
        video_id: str,
        plan: VideoPlan,
        w: int,
        request: Request,
        speech: _Speech,
        nfbl: Path | None,
        decode: Callable[[], Awaitable[VideoPlan]],
    ) -> None:
        repeat = request.repeat

        def build(target: VideoPlan) -> Request:
            if target is plan:
                return request
            return self._request(target, w, speech, nfbl).for_repeat(repeat)

        try:
            outcome = await self._ask_media(self.engine, build, self.task.parse, plan, w, decode)
        except (VideoError, OSError) as exc:
            self._fail(video_id, w, repeat, "video_error", str(exc) or type(exc).__name__)
            return
        self._record(video_id, w, repeat, outcome)

    def _record(
        self, video_id: str, w: int, repeat: int, outcome: Outcome[list[tuple[str, float]]]
    ) -> None:
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

    def _request(self, plan: VideoPlan, w: int, speech: _Speech, nfbl: Path | None) -> Request:
        window = plan.windows[w]
        wanted = self.pipeline.modalities
        common = {
            "n_windows": len(plan.windows),
            "temperature": self.options.temperature,
            "max_tokens": self.options.max_tokens,
            "repeat": 0,
        }
        if wanted is None:  # the classic request: its cache keys must not change
            return self.task.request(window, transcript=speech.text(window), **common)
        transcript = None
        if "text" in wanted:
            assert speech.available  # checked by _missing
            transcript = speech.text(window) or _SILENT
        audio = None
        if "audio" in wanted:
            assert window.audio is not None  # checked by _missing
            audio = Audio(window.audio.digest)
        cues = None
        if "nfbl" in wanted and nfbl is not None:
            cues = nfbl_text(nfbl, window.start, window.end) or _NO_CUES
        # Without a cue file, body language is read from the frames by the model itself.
        frames = "video" in wanted or ("nfbl" in wanted and nfbl is None)
        return self.task.request(
            window, transcript=transcript, frames=frames, audio=audio, nfbl=cues, **common
        )

    async def _two_stage(
        self,
        video_id: str,
        plan: VideoPlan,
        decode: Callable[[], Awaitable[VideoPlan]],
        speech: _Speech,
        nfbl: Path | None,
    ) -> None:
        n = len(plan.windows)
        results = await asyncio.gather(
            *(self._window_account(video_id, plan, w, decode, speech, nfbl) for w in range(n)),
            return_exceptions=True,
        )
        try:
            accounts: list[str] = []
            for result in results:
                if isinstance(result, BaseException):
                    raise result
                accounts.append(result)
            account = accounts[0] if n == 1 else await self._video_account(video_id, plan, accounts)
        except _StageFailed as exc:
            self._fail_all(video_id, 1, exc.status, exc.error)
            return
        except (VideoError, OSError, ValueError) as exc:
            self._fail_all(video_id, 1, "video_error", str(exc) or type(exc).__name__)
            return

        async def final(repeat: int) -> None:
            request = self.task.account_request(
                account,
                temperature=self.options.temperature,
                max_tokens=self.options.max_tokens,
                repeat=0,
            ).for_repeat(repeat)
            self._record(video_id, 0, repeat, await self.engine.ask(request, self.task.parse))

        await asyncio.gather(*(final(r) for r in range(self.options.repeats)))

    async def _window_account(
        self,
        video_id: str,
        plan: VideoPlan,
        w: int,
        decode: Callable[[], Awaitable[VideoPlan]],
        speech: _Speech,
        nfbl: Path | None,
    ) -> str:
        """Stages 1 and 2 for window ``w``: the descriptions, then their fusion."""
        pipe = self.pipeline
        assert pipe.modalities is not None and pipe.describe is not None and pipe.fuse is not None
        window = plan.windows[w]
        n = len(plan.windows)
        opts = {"temperature": self.options.temperature, "max_tokens": self.options.max_tokens}

        async def describe(modality: str) -> str:
            if modality == "nfbl" and nfbl is not None:
                text = nfbl_text(nfbl, window.start, window.end) or _NO_CUES
                self._describe_row(video_id, "describe", window, modality, None, "sidecar", text)
                return text
            transcript = None
            if modality == "text":
                assert speech.available  # checked by _missing
                transcript = speech.text(window)
                if not transcript:  # nothing said here: nothing to ask about
                    self._describe_row(
                        video_id, "describe", window, modality, None, "sidecar", _SILENT
                    )
                    return _SILENT

            def build(target: VideoPlan) -> Request:
                return describe_request(
                    modality, target.windows[w], n, pipe.prompts, transcript=transcript, **opts
                )

            outcome = await self._ask_media(pipe.describe, build, parse_text, plan, w, decode)
            return self._stage_text(video_id, "describe", window, modality, pipe.describe, outcome)

        texts = await asyncio.gather(*(describe(m) for m in pipe.modalities))
        request = fuse_window_request(
            dict(zip(pipe.modalities, texts, strict=True)), window, n, pipe.prompts, **opts
        )
        outcome = await pipe.fuse.ask(request, parse_text)
        return self._stage_text(video_id, "fuse_window", window, None, pipe.fuse, outcome)

    async def _video_account(self, video_id: str, plan: VideoPlan, accounts: list[str]) -> str:
        pipe = self.pipeline
        assert pipe.fuse is not None
        request = fuse_video_request(
            list(zip(plan.windows, accounts, strict=True)),
            pipe.prompts,
            temperature=self.options.temperature,
            max_tokens=self.options.max_tokens,
        )
        outcome = await pipe.fuse.ask(request, parse_text)
        return self._stage_text(
            video_id, "fuse_video", None, None, pipe.fuse, outcome, span=(0.0, plan.duration)
        )

    def _stage_text(
        self,
        video_id: str,
        stage: str,
        window: Window | None,
        modality: str | None,
        engine: Engine,
        outcome: Outcome[str],
        span: tuple[float, float] | None = None,
    ) -> str:
        model = engine.provider.model
        if outcome.status == "ok":
            assert outcome.value is not None
            self._describe_row(
                video_id, stage, window, modality, model, "ok", outcome.value, span=span
            )
            return outcome.value
        self._describe_row(
            video_id,
            stage,
            window,
            modality,
            model,
            outcome.status,
            outcome.raw,
            outcome.error,
            span,
        )
        where = f"window {window.index}" if window is not None else "video"
        what = f"{stage} {modality}" if modality else stage
        raise _StageFailed(outcome.status, f"{what} ({where}): {outcome.error}")

    def _describe_row(
        self,
        video_id: str,
        stage: str,
        window: Window | None,
        modality: str | None,
        model: str | None,
        status: str,
        text: str | None,
        error: str | None = None,
        span: tuple[float, float] | None = None,
    ) -> None:
        if self.pipeline.descriptions is not None:
            self.pipeline.descriptions.add(
                video_id, stage, window, modality, model, status, text, error, span
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
    """Ask ``model`` about every video; return the long-form table (see :mod:`.output`).

    ``videos`` is a file, a directory (searched recursively), a list of those, or a mapping of
    video id to path. ``task`` is a task name or a :class:`Task`; ``emotions`` (``ck34``, a file
    with one name per line, or a list) replaces the items rated or the labels offered. ``cache``
    is a SQLite path (default: :func:`default_cache_path`), an open :class:`Cache`, or ``False``.
    ``out`` also writes the table to Parquet. Pass a :class:`Usage` to read tokens and cost.

    Multimodal studies: ``modalities`` (``"video,audio,text,nfbl"`` or a list; default: frames
    plus the transcript when there is one) chooses what is sent, and each one listed is required.
    ``pipeline="two-stage"`` describes each modality of each window (``describe_model``), fuses
    the descriptions per window and then per video (``fuse_model``), and asks the task of the
    fused account; its rows are per video (window 0). ``prompts`` replaces stage templates and
    ``descriptions`` writes the intermediate texts to Parquet. ``deidentify`` (True or a
    :class:`~emoalign.deid.Deidentify`) blurs faces and anonymises voices before anything is
    encoded or sent. ``inline_limit_bytes`` caps Gemini's inline media per request.
    ``transcribe`` names a speech-to-text model: videos without a transcript sidecar get one per
    window from the OpenAI-compatible ``/audio/transcriptions`` endpoint (``base_url`` for the
    openai provider, else ``transcribe_base_url`` or OpenAI), cached like every reply.
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
    options = options if options is not None else QueryOptions()
    usage = usage if usage is not None else Usage()
    paths = resolve_videos(videos)
    show = options.progress if options.progress is not None else sys.stderr.isatty()
    rows = Rows(provs.main.model, task_obj.name)
    notes = Descriptions() if descriptions is not None else None
    store, owned = open_cache(cache)
    try:
        async with AsyncExitStack() as stack:
            engine, describe, fuse, speech = await provs.engines(stack, store, options, usage)
            pipe = Pipeline(
                mods, pipeline == "two-stage", prompts or Prompts(), describe, fuse, notes, speech
            )
            study = _Study(engine, task_obj, sampling, options, store, rows, pipe)
            await study.run(paths, show)
    finally:
        if owned and store is not None:
            store.close()
    df = rows.frame()
    if out is not None:
        write_parquet(df, out)
    if notes is not None and descriptions is not None:
        notes.write(descriptions)
    log.info("%s %s on %d videos: %s", provs.main.model, task_obj.name, len(paths), usage.summary())
    return df


def query(videos: Videos, **kwargs: object) -> pl.DataFrame:
    """Synchronous :func:`aquery` (same arguments); not callable from inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("query() cannot run inside an event loop; use 'await aquery(...)'")
    return asyncio.run(aquery(videos, **kwargs))  # type: ignore[arg-type]


# help(query) and IDEs show aquery's keyword arguments.
query.__signature__ = inspect.signature(aquery)  # type: ignore[attr-defined]
