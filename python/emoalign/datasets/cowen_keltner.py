"""Cowen & Keltner (2017): self-reported emotions for 2185 short videos.

The authors' public CSV has one row per clip (``Filename``, e.g. ``0001.mp4``) and three column
blocks: 34 category-choice proportions, 14 mean dimension ratings (1-9) and 600 free-response
term proportions. Video ids are the file stems (``0001``), as the query layer names videos.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

CK_FILENAME = "CowenKeltnerEmotionalVideos.csv"
# Pinned to a commit of the public mirror so that the checksum below stays valid.
CK_URL = (
    "https://raw.githubusercontent.com/yasolix/emotionalwork/"
    "eb92c80193d410711d5415a99230ff166b880f94/CowenKeltnerEmotionalVideos.csv"
)
CK_SHA256 = "91dfc5d33d4529e7e42e48e07fcd844a1236f32cb4927dee89767d57be7435ff"
N_VIDEOS = 2185
N_CATEGORIES = 34
N_DIMENSIONS = 14
N_FREE_RESPONSE = 600


@dataclass(frozen=True)
class CowenKeltner:
    """The Cowen & Keltner (2017) ratings of 2185 videos, as returned by ``load_cowen_keltner``.

    Attributes
    ----------
    categories : polars.DataFrame
        ``video_id`` and 34 columns: the share of raters who chose each emotion category.
    dimensions : polars.DataFrame
        ``video_id`` and 14 columns: mean ratings (1-9) of affective dimensions such as valence
        and arousal.
    free_response : polars.DataFrame
        ``video_id`` and 600 columns: the share of raters who used each free-response term.
    path : pathlib.Path
        The CSV the data was read from.

    References
    ----------
    Cowen, A. S. and Keltner, D. (2017). Self-report captures 27 distinct categories of emotion
    bridged by continuous gradients. *PNAS* 114(38), E7900–E7909.
    """

    categories: pl.DataFrame
    dimensions: pl.DataFrame
    free_response: pl.DataFrame
    path: Path

    @property
    def ids(self) -> list[str]:
        """The video ids (file stems such as ``"0001"``), in row order."""
        return self.categories.get_column("video_id").to_list()

    @property
    def category_names(self) -> list[str]:
        """The 34 category names, in column order."""
        return self.categories.columns[1:]

    @property
    def dimension_names(self) -> list[str]:
        """The 14 dimension names, in column order."""
        return self.dimensions.columns[1:]

    @property
    def free_response_terms(self) -> list[str]:
        """The 600 free-response terms, in column order."""
        return self.free_response.columns[1:]

    @property
    def labels(self) -> np.ndarray:
        """Each video's top category (the most chosen; ties go to the first in column order)."""
        names = np.asarray(self.category_names, dtype=object)
        return names[self.array("categories").argmax(axis=1)].astype(str)

    def array(self, block: str) -> np.ndarray:
        """One block as a float64 array.

        Parameters
        ----------
        block : {"categories", "dimensions", "free_response"}

        Returns
        -------
        numpy.ndarray of float64, shape (2185, k)
            Videos × names, rows in ``ids`` order, ready for ``emoalign.rdm``.

        Raises
        ------
        ValueError
            If ``block`` is not one of the three names.
        """
        return self.block(block).drop("video_id").to_numpy().astype(np.float64, copy=False)

    def block(self, block: str) -> pl.DataFrame:
        """One block as a polars DataFrame (``video_id`` + one column per name).

        Parameters
        ----------
        block : {"categories", "dimensions", "free_response"}

        Returns
        -------
        polars.DataFrame

        Raises
        ------
        ValueError
            If ``block`` is not one of the three names.
        """
        if block not in ("categories", "dimensions", "free_response"):
            raise ValueError(
                f"unknown block {block!r}; choose categories, dimensions or free_response"
            )
        frame: pl.DataFrame = getattr(self, block)
        return frame


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksum(path: Path, expected: str = CK_SHA256) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise ValueError(
            f"{path} has sha256 {actual}, not the published file's {expected}; it is not the "
            f"original Cowen & Keltner CSV (pass verify=False to read a modified copy)"
        )


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "emoalign" / "datasets"


def download_cowen_keltner(
    cache_dir: str | os.PathLike[str] | None = None, *, url: str = CK_URL
) -> Path:
    """Download the public Cowen & Keltner CSV, checked against its sha256.

    A file already there with the right checksum is reused. The download goes to a temporary
    file that replaces the target only once its checksum matches, so a failed or tampered
    download never leaves a file that looks valid.

    Parameters
    ----------
    cache_dir : str or os.PathLike, optional
        Target folder; default ``$XDG_CACHE_HOME/emoalign/datasets`` (``~/.cache``).
    url : str, default ``CK_URL``
        Where to download from (a commit-pinned public mirror).

    Returns
    -------
    pathlib.Path
        The verified CSV.

    Raises
    ------
    ValueError
        If the downloaded file's checksum is not ``CK_SHA256``.
    urllib.error.URLError
        If the download fails.

    References
    ----------
    Cowen, A. S. and Keltner, D. (2017). Self-report captures 27 distinct categories of emotion
    bridged by continuous gradients. *PNAS* 114(38), E7900–E7909.
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = folder / CK_FILENAME
    if target.is_file() and sha256_file(target) == CK_SHA256:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{CK_FILENAME}.", suffix=".part", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        verify_checksum(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """A file, or a folder holding the CSV under its published name."""
    p = Path(path)
    if p.is_dir():
        p = p / CK_FILENAME
    if not p.is_file():
        raise FileNotFoundError(
            f"Cowen & Keltner CSV not found at {p}; pass the CSV or its folder, or call "
            f"load_cowen_keltner(download=True) to fetch the public file"
        )
    return p


def load_cowen_keltner(
    path: str | os.PathLike[str] | None = None,
    *,
    download: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    verify: bool = True,
) -> CowenKeltner:
    """Read the Cowen & Keltner (2017) ratings: 2185 videos × 34 categories, 14 dimensions and
    600 free-response terms.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The CSV (``CowenKeltnerEmotionalVideos.csv``) or its folder.
    download : bool, default False
        Without ``path``, fetch the public file (checksum-verified) into ``cache_dir``,
        reusing an earlier download.
    cache_dir : str or os.PathLike, optional
        Where downloads go; default ``~/.cache/emoalign/datasets``.
    verify : bool, default True
        Check a given file against the published sha256 (``CK_SHA256``).

    Returns
    -------
    CowenKeltner
        The three blocks keyed by ``video_id`` (the file stems, e.g. ``"0001"``, as the query
        layer names videos).

    Raises
    ------
    FileNotFoundError
        If ``path`` holds no CSV.
    ValueError
        If neither ``path`` nor ``download`` is given, the checksum differs (pass
        ``verify=False`` for a modified copy), or the file does not have the published columns.

    References
    ----------
    Cowen, A. S. and Keltner, D. (2017). Self-report captures 27 distinct categories of emotion
    bridged by continuous gradients. *PNAS* 114(38), E7900–E7909.

    Examples
    --------
    >>> from emoalign.datasets import load_cowen_keltner
    >>> ck = load_cowen_keltner("../shared/data/cowen_keltner_2017")  # doctest: +SKIP
    >>> ck.array("categories").shape  # doctest: +SKIP
    (2185, 34)
    """
    if path is None:
        if not download:
            raise ValueError(
                "no path given: pass the CSV (or its folder), or download=True to fetch the "
                f"public file from {CK_URL} into {cache_dir or default_cache_dir()}"
            )
        csv = download_cowen_keltner(cache_dir)
    else:
        csv = resolve_path(path)
        if verify:
            verify_checksum(csv)
    # Every column but Filename is numeric; reading as text first avoids polars inferring
    # integer types from columns whose first rows happen to be whole numbers.
    raw = pl.read_csv(csv, infer_schema=False)
    expected = 1 + N_CATEGORIES + N_DIMENSIONS + N_FREE_RESPONSE
    if raw.width != expected or raw.columns[0] != "Filename":
        raise ValueError(
            f"{csv} has {raw.width} columns starting with {raw.columns[:1]}; the Cowen & Keltner "
            f"CSV has {expected}, starting with Filename"
        )
    ids = raw.get_column("Filename").str.replace(r"\.mp4$", "").alias("video_id")
    values = raw.drop("Filename").select(pl.all().cast(pl.Float64))
    names = values.columns
    cut1, cut2 = N_CATEGORIES, N_CATEGORIES + N_DIMENSIONS
    return CowenKeltner(
        categories=values.select(names[:cut1]).insert_column(0, ids),
        dimensions=values.select(names[cut1:cut2]).insert_column(0, ids),
        free_response=values.select(names[cut2:]).insert_column(0, ids),
        path=csv,
    )
