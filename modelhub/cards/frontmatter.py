"""Splitting a card into YAML front matter and Markdown body, and loading the
front matter with errors that point at the card's own lines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from modelhub.errors import CardError

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STRING_TAGS = frozenset(
    {"tag:yaml.org,2002:float", "tag:yaml.org,2002:int", "tag:yaml.org,2002:timestamp"}
)


class _CardLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loader (the C one when PyYAML has it) that keeps numbers and dates
    as written: ``spark_version: 3.10`` must stay ``"3.10"``, not ``3.1``, and
    dates come in formats YAML does not know anyway."""


_CardLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _STRING_TAGS]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True, slots=True)
class Split:
    meta: dict[str, Any]
    body: str
    body_line: int  # 1-based line number of the body's first line


def _fence_end(text: str, start: int) -> tuple[int, int] | None:
    """Offset of the closing ``---``/``...`` line after ``start`` and the
    offset just past it; ``None`` when there is none."""
    pos = start
    n = len(text)
    while pos < n:
        end = text.find("\n", pos)
        if end < 0:
            end = n
        line = text[pos:end].rstrip()
        if line in ("---", "..."):
            return pos, min(end + 1, n)
        pos = end + 1
    return None


def split_card(text: str, source: str | None) -> Split:
    """Separates front matter from body; raises :class:`CardError` for a
    missing or unterminated front matter and for malformed YAML."""
    # Leading blank lines are tolerated; anything else before the opening
    # fence means the card has no front matter.
    stripped = text.lstrip("\n")
    skipped_lines = len(text) - len(stripped)
    first_end = stripped.find("\n")
    first = (stripped if first_end < 0 else stripped[:first_end]).rstrip()
    if first != "---":
        raise CardError(
            "missing front matter: a card must start with a '---' line, then YAML "
            "(name:, title:, ...), then another '---' line",
            path=source,
            line=skipped_lines + 1,
        )
    if first_end < 0:
        raise CardError(
            "unterminated front matter: no closing '---' line",
            path=source,
            line=skipped_lines + 1,
        )
    yaml_start = first_end + 1
    closing = _fence_end(stripped, yaml_start)
    if closing is None:
        raise CardError(
            "unterminated front matter: the '---' on this line is never closed by "
            "another '---' line",
            path=source,
            line=skipped_lines + 1,
        )
    close_at, body_at = closing
    yaml_text = stripped[yaml_start:close_at]
    yaml_line = skipped_lines + 2  # file line of the YAML's first line
    try:
        meta = yaml.load(yaml_text, Loader=_CardLoader)  # a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = yaml_line + mark.line if mark is not None else yaml_line
        problem = exc.problem or exc.context or "invalid YAML"
        raise CardError(f"malformed YAML front matter: {problem}", path=source, line=line) from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise CardError(
            f"malformed YAML front matter: {exc}", path=source, line=yaml_line
        ) from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise CardError(
            f"front matter is a YAML {type(meta).__name__}, not a mapping of keys to values",
            path=source,
            line=yaml_line,
        )
    meta = {str(k).strip().lower(): v for k, v in meta.items() if k is not None}
    body_line = skipped_lines + stripped.count("\n", 0, body_at) + 1
    return Split(meta=meta, body=stripped[body_at:], body_line=body_line)
