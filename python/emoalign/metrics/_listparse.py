"""Parsing of list-valued cells such as ``"['happy', 'relaxed']"`` in OV-MERD style label files."""

from __future__ import annotations

import ast
import re
from typing import Literal

ListSyntax = Literal["python", "mer2024"]
LIST_SYNTAXES: tuple[ListSyntax, ...] = ("python", "mer2024")

_QUOTES = re.compile("['\"]")


def parse_list_string(text: str | None, *, where: str, syntax: ListSyntax = "python") -> list[str]:
    """Parse one cell holding a list of words, e.g. ``"['happy', \\"don't know\\"]"``.

    Parameters
    ----------
    text : str or None
        The cell. An empty or missing cell is an empty list.
    where : str
        Where the cell is (file and row), for error messages.
    syntax : {"python", "mer2024"}, default "python"
        ``"python"`` reads the cell as a Python/JSON list literal of strings, so quotes inside
        words survive. ``"mer2024"`` reproduces MERTools' MER2024 ``string_to_list``: take the
        text between the first ``[`` and the next ``]`` and split it on every quote character.
        That splits ``"don't believe"`` into ``'don'`` and ``'t believe'``; the published
        MER2024 synonym groups were made from such fragments, so only this mode reproduces the
        published OV-MERD score.

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        If ``syntax`` is unknown or the cell is not a list of strings in that syntax.
    """
    if text is None or not text.strip():
        return []
    if syntax == "mer2024":
        return _parse_mer2024(text, where)
    if syntax != "python":
        raise ValueError(f"syntax must be one of {LIST_SYNTAXES}, got {syntax!r}")
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError(
            f"{where}: cannot parse {text!r} as a list of strings ({exc.__class__.__name__}); "
            "write it like \"['happy', 'relaxed']\", or pass list_syntax='mer2024' for "
            "MERTools' lenient quote splitting"
        ) from None
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise ValueError(
            f"{where}: expected a list of strings like \"['happy', 'relaxed']\", got {text!r}"
        )
    return list(value)


def _parse_mer2024(text: str, where: str) -> list[str]:
    if "[" not in text:
        raise ValueError(f"{where}: cannot parse {text!r}: a list string must contain '['")
    inner = text.split("[", 1)[1].split("]", 1)[0]
    return [piece for piece in _QUOTES.split(inner) if piece.strip() not in ("", ",")]


def parse_nested_list_string(
    text: str, *, where: str, syntax: ListSyntax = "python"
) -> list[list[str]]:
    """Parse a list of word lists, e.g. MER2024's synonym groups ``"[['a', 'b'], ['c']]"``.

    ``syntax="mer2024"`` mirrors MERTools' ``listlist_to_list``: split on brackets, then each
    piece on quotes.
    """
    if syntax == "mer2024":
        pieces = [p for p in re.split(r"[\[\]]", text) if p.strip() not in ("", ",")]
        return [[w for w in _QUOTES.split(p) if w.strip() not in ("", ",")] for p in pieces]
    if syntax != "python":
        raise ValueError(f"syntax must be one of {LIST_SYNTAXES}, got {syntax!r}")
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError(
            f"{where}: cannot parse {text!r} as a list of word lists ({exc.__class__.__name__})"
        ) from None
    if not isinstance(value, list | tuple) or not all(
        isinstance(group, list | tuple) and all(isinstance(w, str) for w in group)
        for group in value
    ):
        raise ValueError(
            f"{where}: expected a list of word lists like \"[['a', 'b'], ['c']]\", got {text!r}"
        )
    return [list(group) for group in value]
