"""The one table renderer: aligned columns for people (upper-case headers,
two spaces between columns, no trailing blanks, a final newline).  The
registry pre-renders ``modelhub list`` with it when it builds the index, and
the CLI prints its tables with it; it imports nothing, so it stays off no
start-up path."""

from __future__ import annotations

# typing stays off the CLI's start (annotations are strings here)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def render_table(headers: list[str], rows: list[tuple[Any, ...]]) -> str:
    """``rows`` of text under ``headers``, built with one format call per
    row: thousands of rows stay fast."""
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in headers]
    widths = [
        max(len(h), *map(len, col)) if col else len(h) for h, col in zip(headers, cols, strict=True)
    ]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*(h.upper() for h in headers)).rstrip()]
    lines.extend(fmt.format(*row).rstrip() for row in rows)
    lines.append("")
    return "\n".join(lines)
