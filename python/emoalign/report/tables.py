"""The report's tables: rows under (key, header, formatter) columns, in a sideways scroller,
with key numbers tagged by their path in ``metrics.json``."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any


def key(metric: str, text: str) -> str:
    """A key number, tagged with its path in metrics.json (``data-metric``)."""
    return f'<span data-metric="{html.escape(metric)}">{text}</span>'


Column = tuple[str, str, Callable[[Any], str]]


def table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    caption: str,
    row_class: Callable[[dict[str, Any]], str] | None = None,
    metric: Callable[[dict[str, Any], str], str | None] | None = None,
) -> str:
    """An HTML table of ``rows`` with (key, header, formatter) ``columns``, in a scroller."""
    head = "".join(f"<th>{html.escape(header)}</th>" for _, header, _ in columns)
    body = []
    for row in rows:
        cls = row_class(row) if row_class else ""
        cells = []
        for name, _, fmt in columns:
            text = fmt(row.get(name))
            path = metric(row, name) if metric else None
            cells.append(f"<td>{key(path, text) if path else text}</td>")
        body.append(f"<tr{f' class={cls}' if cls else ''}>{''.join(cells)}</tr>")
    return (
        f"<div class=wrap><table><caption>{caption}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def plain(value: Any) -> str:
    """Any cell value as text: '—' when missing, yes/no for booleans."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return html.escape(str(value))


def number(value: Any) -> str:
    """A cell of a generic table: floats to three decimals (three significant digits below
    0.001, so that small p-values and distances keep their size), anything else as ``plain``."""
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.3g}" if 0 < abs(value) < 1e-3 else f"{value:.3f}"
    return plain(value)


def records(rows: Sequence[dict[str, Any]], caption: str = "") -> str:
    """A table of dict rows with one column per key of the first row ("none" when empty)."""
    if not rows:
        return "<p class=note>none</p>"
    return table(rows, [(name, name, number) for name in rows[0]], html.escape(caption))
