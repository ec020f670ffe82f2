"""One run over a set of videos: sampling plans, decoding shared between studies, and the
one-stage requests (one per window and repeat) whose outcomes become the long-form rows.

Pixels and audio are decoded only when some request actually has to be sent, so replaying a
finished study reads nothing but the cache. :mod:`.twostage` builds the two-stage pipeline on
this class.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from tqdm.auto import tqdm

from emoalign.query.cache import Cache
from emoalign.query.engine import Engine, ImageLoader, Outcome, QueryOptions
from emoalign.query.modalities import find_nfbl, nfbl_text
from emoalign.query.output import Rows
from emoalign.query.pipeline import Descriptions, Prompts
from emoalign.query.request import Audio, Request, Turn
from emoalign.query.tasks import Task
from emoalign.query.video import (
    Sampling,
    VideoError,
    VideoPlan,
    Window,
    find_transcript,
    plan_key,
    sample_video,
    transcript_text,
)


class FramesChanged(Exception):
    """Decoding now yields other JPEG bytes than the stored plan (e.g. after a Pillow upgrade)."""


T = TypeVar("T")
# Stand-ins for a window where a sidecar has nothing: the model is told, not left guessing.
SILENT = "(Nothing is said in this part of the video.)"
NO_CUES = "(No body-language cues were annotated for this part of the video.)"


@dataclass(frozen=True)
class Pipeline:
    """What a study sends and how: modalities, prompts, and the engines of the stages.

    ``modalities`` None is the classic one-stage request (frames, plus the transcript when a
    sidecar exists); an explicit tuple makes every listed modality required, and a video lacking
    one is reported for it. ``describe`` and ``fuse`` are the engines of stages 1 and 2.
    """

    modalities: tuple[str, ...] | None = None
    prompts: Prompts = field(default_factory=Prompts)
    describe: Engine | None = None
    fuse: Engine | None = None
    descriptions: Descriptions | None = None
    # Speech to text for videos without a transcript sidecar (None: sidecars only).
    transcribe: Engine | None = None


@dataclass(frozen=True)
class Speech:
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


class StageFailed(Exception):
    def __init__(self, status: str, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


class Decoder:
    """Decodes videos in threads, one per core, sharing each decode among the studies of a run.

    The 14 configurations of an ablation start on the same videos at the same time: without
    sharing, each would decode (and de-identify) every video itself. The last ``keep`` decodes
    are kept, by (path, speaker), for studies that ask a moment later; a single study keeps none
    (it holds its own decode while it needs it), since a long video's frames and audio take MBs.
    """

    def __init__(self, sampling: Sampling, keep: int = 0) -> None:
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


class Study:
    """Asks every video of a run, one request per window (see :class:`TwoStageStudy`)."""

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

        try:
            key = plan_key(path, self.sampling)
            stored = self.cache.get_plan(key) if self.cache is not None else None
            plan = VideoPlan.from_json(stored) if stored is not None else await decode()
        except (VideoError, OSError) as exc:
            self._fail_all(video_id, 1, "video_error", str(exc))
            return
        n_units = self._units(plan)
        speech = Speech(find_transcript(path))
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
            except StageFailed as exc:
                self._fail_all(video_id, n_units, exc.status, exc.error)
                return
            except (VideoError, OSError) as exc:
                self._fail_all(video_id, n_units, "video_error", str(exc) or type(exc).__name__)
                return
        await self._answer(video_id, plan, decode, speech, nfbl)

    def _units(self, plan: VideoPlan) -> int:
        """Units (answers per repeat) of a video: one per window."""
        return len(plan.windows)

    async def _answer(
        self,
        video_id: str,
        plan: VideoPlan,
        decode: Callable[[], Awaitable[VideoPlan]],
        speech: Speech,
        nfbl: Path | None,
    ) -> None:
        """One request per window and repeat, about the window's media."""
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

    def _missing(self, path: Path, plan: VideoPlan, speech: Speech) -> str | None:
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
    ) -> Speech:
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
                raise StageFailed(outcome.status, f"transcription (window {w}): {outcome.error}")
            texts.append(outcome.value or "")
        return Speech(None, tuple(texts))

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
        speech: Speech,
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

    def _request(self, plan: VideoPlan, w: int, speech: Speech, nfbl: Path | None) -> Request:
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
            transcript = speech.text(window) or SILENT
        audio = None
        if "audio" in wanted:
            assert window.audio is not None  # checked by _missing
            audio = Audio(window.audio.digest)
        cues = None
        if "nfbl" in wanted and nfbl is not None:
            cues = nfbl_text(nfbl, window.start, window.end) or NO_CUES
        # Without a cue file, body language is read from the frames by the model itself.
        frames = "video" in wanted or ("nfbl" in wanted and nfbl is None)
        return self.task.request(
            window, transcript=transcript, frames=frames, audio=audio, nfbl=cues, **common
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
