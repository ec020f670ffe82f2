"""The two-stage pipeline over a run (MER-OV, EALD-MLLM): describe, fuse, then answer.

Per window, one free-text description per modality (the NFBL cue file, when there is one, is the
description) and one fusion of them; for videos with several windows, one fusion of the windows'
accounts with their times; then the task, asked of the account, once per repeat. Its rows are per
video, at window 0. Every call goes through the engines' cache: a run killed in stage 2 re-asks
nothing of stage 1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from emoalign.query.engine import Engine, Outcome
from emoalign.query.modalities import nfbl_text
from emoalign.query.pipeline import (
    describe_request,
    fuse_video_request,
    fuse_window_request,
    parse_text,
)
from emoalign.query.request import Request
from emoalign.query.study import NO_CUES, SILENT, Speech, StageFailed, Study
from emoalign.query.video import VideoError, VideoPlan, Window


class TwoStageStudy(Study):
    """A :class:`Study` whose answer per video comes from fused stage-1 descriptions."""

    def _units(self, plan: VideoPlan) -> int:
        return 1  # one answer per video, on the video-level account

    async def _answer(
        self,
        video_id: str,
        plan: VideoPlan,
        decode: Callable[[], Awaitable[VideoPlan]],
        speech: Speech,
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
        except StageFailed as exc:
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
        speech: Speech,
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
                text = nfbl_text(nfbl, window.start, window.end) or NO_CUES
                self._describe_row(video_id, "describe", window, modality, None, "sidecar", text)
                return text
            transcript = None
            if modality == "text":
                assert speech.available  # checked by _missing
                transcript = speech.text(window)
                if not transcript:  # nothing said here: nothing to ask about
                    self._describe_row(
                        video_id, "describe", window, modality, None, "sidecar", SILENT
                    )
                    return SILENT

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
        raise StageFailed(outcome.status, f"{what} ({where}): {outcome.error}")

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
