"""Small normalisers for the values cards write in many ways: versions, dates,
sizes, label lists, booleans, languages."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable
from typing import Any

_DOTTED_RE = re.compile(r"\d+(?:\.\d+)+")
_ISO_DATE_RE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?$")
_SLASH_DATE_RE = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")
_FILE_DATE_ISO = re.compile(r"^(\d{4})-+(\d{1,2})-+(\d{1,2})-")
_FILE_DATE_DMY = re.compile(r"^(\d{1,2})-(\d{1,2})-(\d{4})-")
_SIZE_RE = re.compile(r"(\d+(?:[.,]\d+)?)\s*([KMGT]?i?B|bytes?)\b", re.IGNORECASE)
_INT_RE = re.compile(r"\d+")
_LABEL_SPLIT_RE = re.compile(r"\s*[,;]\s*|\.\s+")
_LANG_RE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?$")
_UNITS = {"b": 1 / (1024 * 1024), "kb": 1 / 1024, "mb": 1.0, "gb": 1024.0, "tb": 1024.0 * 1024}

TRUE_WORDS = frozenset({"true", "yes", "y", "1", "on"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "off"})


def text(value: Any) -> str | None:
    """A scalar YAML/table value as a stripped string; ``None`` for empty or
    non-scalar values."""
    if type(value) is str:  # the usual case, first
        return value.strip() or None
    if value is None or isinstance(value, dict | list | tuple | set):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    out = str(value).strip()
    return out or None


def str_list(value: Any) -> list[str]:
    """Scalars of a YAML list (or a comma-separated string) as stripped strings.
    Nested structures are ignored rather than flattened: a YAML alias bomb must
    not become a gigantic string."""
    if isinstance(value, list | tuple):
        items: Iterable[Any] = value
    elif isinstance(value, str):
        items = value.split(",")
    else:
        one = text(value)
        return [one] if one else []
    out = []
    for item in items:
        s = text(item)
        if s:
            out.append(s)
    return out


def version_key(v: str) -> tuple[int, ...]:
    return tuple(map(int, _INT_RE.findall(v)[:6]))


def find_version(value: str | None) -> str | None:
    """The first dotted version in text like ``Spark NLP 2.4.0+`` or
    ``Spark NLP JSL2.5.0`` (``2.4.0``, ``2.5.0``)."""
    if not value:
        return None
    m = _DOTTED_RE.search(value)
    return m.group(0) if m else None


def same_version(a: str, b: str) -> bool:
    """``3.0`` and ``3.0.0`` name the same version."""
    return a == b or same_version_key(version_key(a), version_key(b))


def same_version_key(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Equal up to trailing zeros (``(3, 4)`` == ``(3, 4, 0)``): the one
    version equality, also :func:`modelhub.registry.versions.same_version`."""
    n = max(len(a), len(b))
    return a + (0,) * (n - len(a)) == b + (0,) * (n - len(b))


def parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    s = text(value)
    if s is None:
        return None
    s = s.lower().strip("*`[] ")
    if s in TRUE_WORDS:
        return True
    if s in FALSE_WORDS:
        return False
    return None


def parse_size_mb(value: str | None) -> float | None:
    """``411.0 MB`` → 411.0; ``921 Bytes``, ``272.3 KB``, ``1.4 GB`` in MB (1 KB = 1024 B)."""
    if not value:
        return None
    m = _SIZE_RE.search(value)
    if m is None:
        return None
    number = float(m.group(1).replace(",", "."))
    unit = m.group(2).lower().replace("i", "")
    if unit.startswith("byte"):
        unit = "b"
    factor = _UNITS.get(unit)
    if factor is None:
        return None
    return round(number * factor, 6)


def parse_ints(values: Iterable[str]) -> list[int]:
    out = []
    for v in values:
        out.extend(int(x) for x in _INT_RE.findall(v))
    return out


def parse_labels(value: str | None) -> tuple[str, ...]:
    """``[sentence, token]``, ``sentence, token``, ``sentence. token`` → a tuple."""
    if not value:
        return ()
    s = value.strip().strip("[]()").strip()
    out = []
    for part in _LABEL_SPLIT_RE.split(s):
        part = part.strip().strip("[]'\"`*").strip()
        if part:
            out.append(part)
    return tuple(out)


def parse_language(value: Any) -> str | None:
    """``en``, ``[en]``, ``"en"`` → ``en``; ``None`` when empty."""
    s = text(value)
    if s is None:
        if isinstance(value, list) and value:
            return parse_language(value[0])
        return None
    s = s.strip("[]'\"`* ").strip()
    return s or None


def looks_like_language(value: str) -> bool:
    return bool(_LANG_RE.match(value))


def file_date(file_name: str | None) -> _dt.date | None:
    """The date a card's file name starts with: ``2020-01-28-``, ``2020--03-25-``
    or day-month-year ``01-02-2020-``."""
    if not file_name:
        return None
    m = _FILE_DATE_ISO.match(file_name)
    try:
        if m:
            return _dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        m = _FILE_DATE_DMY.match(file_name)
        if m:
            return _dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    except ValueError:
        return None
    return None


def parse_date(value: Any, file_name: str | None = None) -> str | None:
    """ISO ``YYYY-MM-DD`` from ``2020-01-28``, ``2020-05-04 20:11:00 +0800`` or
    ``03/07/2020``. Slash dates are day/month/year on these cards (the file
    ``2020-07-03-…`` says ``03/07/2020``); the file name's date settles the
    order when it matches the other reading."""
    if isinstance(value, _dt.datetime):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    s = text(value)
    if s is None:
        return None
    m = _ISO_DATE_RE.match(s)
    try:
        if m:
            return _dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
        m = _SLASH_DATE_RE.match(s)
        if m:
            a, b, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
            hint = file_date(file_name)
            candidates = []
            for day, month in ((a, b), (b, a)):
                try:
                    candidates.append(_dt.date(year, month, day))
                except ValueError:
                    continue
            if not candidates:
                return None
            if hint is not None and hint in candidates:
                return hint.isoformat()
            return candidates[0].isoformat()
    except ValueError:
        return None
    return None
