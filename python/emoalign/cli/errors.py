"""User errors on the command line: one clean line and exit code 2; ``--debug`` for the traceback.

Every sub-command's ``run`` is wrapped by :func:`user_errors`. What counts as a user error is what
the library raises for bad input (``ValueError``, ``TypeError``, ``MemoryError`` for problems
too large to fit, ``OSError`` for files that are missing or unwritable) and what polars raises
for malformed tables; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

Command = Callable[[argparse.Namespace], int]

USAGE = 2


def is_user_error(exc: BaseException) -> bool:
    if isinstance(exc, ValueError | TypeError | MemoryError | OSError):
        return True
    # polars is loaded only by the commands that read tables; a polars error means a bad table.
    polars = sys.modules.get("polars")
    return polars is not None and isinstance(exc, polars.exceptions.PolarsError)


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (polars and OS errors may span several)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def user_errors(run: Command) -> Command:
    """Wraps a sub-command so that a user error prints ``PROG: error: MESSAGE`` and returns 2.

    PROG is ``args.error_prefix`` when the sub-command's parser sets it (nested commands such as
    ``emoalign score openset``), else ``emoalign COMMAND``. With ``args.debug`` the error is
    raised instead, traceback and all.
    """

    @functools.wraps(run)
    def guarded(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except Exception as exc:
            if getattr(args, "debug", False) or not is_user_error(exc):
                raise
            prefix = getattr(args, "error_prefix", None) or f"emoalign {args.command}"
            print(f"{prefix}: error: {one_line(exc)}", file=sys.stderr)
            return USAGE

    return guarded


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    return _bounded(int, text, lambda v: v >= 1, "a positive integer")


def nonnegative_int(text: str) -> int:
    """argparse type: an integer ≥ 0."""
    return _bounded(int, text, lambda v: v >= 0, "an integer ≥ 0")


def nonnegative_float(text: str) -> float:
    """argparse type: a finite number ≥ 0."""
    return _bounded(float, text, lambda v: 0 <= v < float("inf"), "a number ≥ 0")


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    return _bounded(float, text, lambda v: 0 < v < float("inf"), "a positive number")


def output_folder(text: str) -> str:
    """argparse type: a folder to write into (made if missing), never an existing file."""
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a file; give a folder to write into")
    return text


def output_file(text: str) -> Path:
    """argparse type: a file to write (its folder is made if missing), never a folder."""
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a folder; give a file path")
    return Path(text)


def _bounded(kind: type, text: str, ok: Callable[[float], bool], what: str) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        # argparse names the option in front of this message and exits with status 2.
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value
