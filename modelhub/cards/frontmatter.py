"""Splitting a card into YAML front matter and Markdown body, and loading the
front matter with errors that point at the card's own lines."""

from __future__ import annotations

import re
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


# -- fast path ---------------------------------------------------------------
# Nearly every card's front matter is flat ``key: value`` lines, ``key: [a, b]``
# lists, a quoted string or two and one nested ``article_header:`` mapping.
# Those are read here directly; anything else (comments, anchors, tags, block
# scalars, multi-line values, unusual keys or characters) returns ``None`` and
# goes to the YAML library. The values are exactly what _CardLoader gives
# (tests/cards/test_frontmatter_fast.py compares the two).

# Characters the fast path accepts: printable ones without YAML's other line
# breaks (NEL, LS, PS), tabs, BOMs or surrogates. Anything else, let libyaml judge.
_UNSAFE_CHAR_RE = re.compile(
    "[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
# A mapping entry: indent, key, and the value after ": " (or nothing).
# A plain scalar that can only be a one-line string (or a bool/null word): it
# starts with no indicator and holds no ": ", " #" or trailing ":".
# (The loop is (?:(?!: | #).)* unrolled: a ':' not before a space, a '#' not
# after one, anything else but a line break.)
_PLAIN = r"[A-Za-z0-9_(\xa0-\U0010ffff][^:#\n]*(?:(?::(?! )|(?<! )#)[^:#\n]*)*(?<!:)"
_PLAIN_RE = re.compile(_PLAIN + r"\Z")
# A mapping entry: indent, key, and the value after ": " (or nothing), in
# group 3 when it is such a plain scalar (most are), else in group 4.
_ENTRY_RE = re.compile(rf"( *)([A-Za-z_][A-Za-z0-9_]*):(?: +(?:({_PLAIN})|(.*)))?\Z")
_FLOW_ITEM_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+/-]*(?: [A-Za-z0-9_.+/-]+)*\Z")
# The words _CardLoader's implicit resolvers turn into bools and nulls.
_WORDS: dict[str, Any] = {
    **dict.fromkeys(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
    **dict.fromkeys(("~", "null", "Null", "NULL"), None),
}
_KEY_WORDS = frozenset(w.lower() for w in _WORDS)
_FAIL = object()


def _fast_value(raw: str) -> Any:
    """The value of a one-line scalar or flow list, or ``_FAIL``."""
    if not raw:
        return None
    first = raw[0]
    if first == '"':
        inner = raw[1:-1]
        if len(raw) > 1 and raw[-1] == '"' and '"' not in inner and "\\" not in inner:
            return inner
        return _FAIL
    if first == "'":
        inner = raw[1:-1]
        if len(raw) > 1 and raw[-1] == "'" and "'" not in inner:
            return inner
        return _FAIL
    if first == "[":
        if raw[-1] != "]":
            return _FAIL
        inner = raw[1:-1].strip(" ")
        if not inner:
            return []
        items: list[Any] = []
        for part in inner.split(","):
            item = part.strip(" ")
            if _FLOW_ITEM_RE.match(item) is None:
                return _FAIL
            items.append(_WORDS.get(item, item))
        return items
    if _PLAIN_RE.match(raw) is None:
        return _FAIL
    return _WORDS.get(raw, raw)


def fast_load(yaml_text: str) -> dict[str, Any] | None:
    """The mapping of a simple front matter, exactly as :class:`_CardLoader`
    would load it; ``None`` when the text is not simple enough to be sure."""
    if _UNSAFE_CHAR_RE.search(yaml_text) is not None:
        return None
    out: dict[str, Any] = {}
    nested: dict[str, Any] | None = None  # the mapping being filled by indented lines
    nested_indent = 0
    parent = ""  # key of the last top-level entry with an empty value
    for line in yaml_text.split("\n"):
        line = line.rstrip(" ")
        if not line:
            continue
        m = _ENTRY_RE.match(line)
        if m is None:
            return None
        indent, key, plain, raw = m.groups()
        if key.lower() in _KEY_WORDS:
            return None
        if plain is not None:
            value = _WORDS.get(plain, plain)
            raw = plain
        else:
            value = _fast_value(raw or "")
            if value is _FAIL:
                return None
        if indent:
            if not parent or (nested is not None and len(indent) != nested_indent):
                return None
            if nested is None:
                nested = {}
                nested_indent = len(indent)
                out[parent] = nested
            nested[key] = value
            continue
        out[key] = value
        parent = key if raw is None else ""
        nested = None
    return out or None  # an empty document loads as None: let YAML say so


@dataclass(frozen=True, slots=True)
class Split:
    meta: dict[str, Any]
    body: str
    body_line: int  # 1-based line number of the body's first line


# A closing ``---``/``...`` line, found from the newline before it.
_CLOSING_FENCE_RE = re.compile(r"\n(?:---|\.\.\.)[^\S\n]*(?=\n|\Z)")


def _fence_end(text: str, start: int) -> tuple[int, int] | None:
    """Offset of the closing ``---``/``...`` line from ``start`` on (the
    start of the line after the opening fence) and the offset just past it;
    ``None`` when there is none."""
    m = _CLOSING_FENCE_RE.search(text, start - 1)
    if m is None:
        return None
    end = text.find("\n", m.end())
    return m.start() + 1, len(text) if end < 0 else end + 1


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
    meta = fast_load(yaml_text)
    try:
        if meta is None:
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
