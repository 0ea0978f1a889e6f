"""The one table renderer: aligned columns for people (upper-case headers,
two spaces between columns, no trailing blanks), padded by display width (East
Asian wide characters and most emoji take two columns, combining marks none),
so names with accents, CJK text or emoji stay aligned.  The registry
pre-renders ``modelhub list`` with it when it builds the index, and the CLI
prints every table with it; it imports nothing at module level, so it stays
off every start-up path."""

from __future__ import annotations

# typing stays off the CLI's start (annotations are strings here)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any


def _char_width(ch: str) -> int:
    import unicodedata

    code = ord(ch)
    if code < 32 or 0x7F <= code < 0xA0:
        return 0  # control characters
    # zero width: combining marks, format characters (ZWJ, bidi marks), and
    # variation selectors (which are Mn)
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 2
    return 1


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal (ASCII: its length)."""
    if text.isascii():
        return len(text)
    return sum(_char_width(ch) for ch in text)


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` display columns, ending in ``…`` when cut."""
    if display_width(text) <= width:
        return text
    out: list[str] = []
    used = 0
    for ch in text:
        w = _char_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces, upper-case headers, no
    trailing blanks, no final newline; ``None`` shows as ``-``."""
    cells = [[("-" if v is None else str(v)) for v in row] for row in rows]
    titles = [h.upper() for h in headers]
    if all(t.isascii() for t in titles) and all(v.isascii() for row in cells for v in row):
        # one format call per row: thousands of rows (`modelhub list`) stay fast
        cols = list(zip(*cells, strict=True)) if cells else [() for _ in titles]
        widths = [max([len(t), *map(len, col)]) for t, col in zip(titles, cols, strict=True)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines = [fmt.format(*titles).rstrip()]
        lines.extend(fmt.format(*row).rstrip() for row in cells)
        return "\n".join(lines)
    measured = [[(v, display_width(v)) for v in row] for row in [titles, *cells]]
    widths = [0] * len(titles)
    for row in measured:
        for i, (_, w) in enumerate(row):
            widths[i] = max(widths[i], w)
    return "\n".join(
        "  ".join(v + " " * (widths[i] - w) for i, (v, w) in enumerate(row)).rstrip()
        for row in measured
    )


def render_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """:func:`format_table` with a final newline."""
    return format_table(headers, rows) + "\n"
