"""Terminal output shared by the commands: aligned tables for people, JSON for
scripts, plural nouns, sizes.

Every table the CLI prints goes through :func:`modelhub.tables.format_table`,
which pads by display width, so names with accents, CJK text or emoji stay
aligned.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from modelhub.tables import clip, display_width, format_table  # noqa: F401 (re-exported)


def print_json(data: Any, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    json.dump(data, out, indent=2, ensure_ascii=False, default=str)
    out.write("\n")


def _plain(value: Any) -> Any:
    """``value`` as JSON data (paths as text, tuples as lists), or
    :data:`_SKIP` when it has no plain form."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        items = [_plain(v) for v in value]
        return _SKIP if any(v is _SKIP for v in items) else items
    if isinstance(value, dict):
        out = {str(k): _plain(v) for k, v in value.items()}
        return _SKIP if any(v is _SKIP for v in out.values()) else out
    if type(value).__name__.endswith("Path"):
        return str(value)
    return _SKIP


_SKIP = object()


def error_dict(exc: BaseException, exit_code: int) -> dict[str, Any]:
    """The ``"error"`` object of ``--json`` output: ``type``, ``message`` and
    ``exit_code``, then every public attribute the exception carries (``url``,
    ``name``, ``path``, ``status``, ...) that has a JSON form."""
    message = str(exc)
    if isinstance(exc, KeyboardInterrupt):
        message = "interrupted"
    out: dict[str, Any] = {"type": type(exc).__name__, "message": message, "exit_code": exit_code}
    if isinstance(exc, OSError):
        if exc.errno is not None:
            out["errno"] = exc.errno
        if exc.filename is not None:
            out["path"] = str(exc.filename)
    for key, value in vars(exc).items():
        if key.startswith("_") or key in out:
            continue
        plain = _plain(value)
        if plain is not _SKIP:
            out[key] = plain
    return out


def plural(n: int, noun: str, plural_form: str | None = None) -> str:
    """``1 entry``, ``2 entries``, ``0 files``: the count with its noun."""
    if n == 1:
        return f"{n} {noun}"
    if plural_form is None:
        if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
            plural_form = noun[:-1] + "ies"
        elif noun.endswith(("s", "x", "ch", "sh")):
            plural_form = noun + "es"
        else:
            plural_form = noun + "s"
    return f"{n} {plural_form}"


def print_table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], out: TextIO | None = None
) -> None:
    (out or sys.stdout).write(format_table(headers, rows) + "\n")


def human_size(n: int | float | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"
