"""Version numbers as Spark NLP's ResourceDownloader compares them.

A version is a tuple of ints (``(3, 4, 0)``); ``()`` means "unknown" on a
candidate and "no upper bound" on a target.
"""

from __future__ import annotations

from modelhub.cards.values import same_version_key

Version = tuple[int, ...]


def parse_version(value: object) -> Version:
    """``"3.4.0"``, ``"3.4.0+"``, ``"Spark NLP 3.4"``, ``[3, 4]`` or ``None`` -> a tuple.

    Non-numeric parts end the version (``"3.0.0-rc1"`` -> ``(3, 0, 0)``), as
    Spark NLP's ``Version.parse`` keeps only the integer prefix.
    """
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        out: list[int] = []
        for p in value:
            if isinstance(p, bool) or not isinstance(p, int):
                break
            out.append(p)
        return tuple(out)
    text = str(value).strip()
    # keep the first run that starts with a digit ("Spark NLP 3.4.0+" -> "3.4.0+")
    start = next((i for i, ch in enumerate(text) if ch.isdigit()), None)
    if start is None:
        return ()
    parts: list[int] = []
    for piece in text[start:].split("."):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(piece):
            break
    return tuple(parts)


_NO_BOUND = ("", "none", "any")


def parse_target(value: object, what: str = "version target") -> Version:
    """A resolution target: ``None``, ``""``, ``"none"`` or ``"any"`` mean no
    upper bound; anything else must hold a version number (``"5.5.1"``).
    Raises :class:`ValueError` naming the value for text without one
    (``"latest"``, ``"x.y"``), which :func:`parse_version` would read as no
    bound."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _NO_BOUND):
        return ()
    version = parse_version(value)
    if not version:
        raise ValueError(
            f"{what} {value!r} is not a version: give numbers such as 5.5.1 "
            "('none' for no upper bound)"
        )
    return version


def format_version(version: Version) -> str:
    return ".".join(map(str, version))


def is_compatible(candidate: Version, target: Version) -> bool:
    """Spark NLP's rule: an empty target has no upper bound; otherwise the
    candidate is not longer than the target and, at the first component where
    they differ, not higher (``3.4.0`` fits ``5.5.1``, ``5.6`` does not, ``3.0``
    fits ``3.0.2``, ``3.0.2`` does not fit ``3.0``)."""
    if not target:
        return True
    if len(candidate) > len(target):
        return False
    for c, t in zip(candidate, target, strict=False):
        if c != t:
            return c < t
    return True


def why_incompatible(candidate: Version, target: Version, what: str) -> str | None:
    """A sentence saying why ``candidate`` does not fit ``target``, or None."""
    if is_compatible(candidate, target):
        return None
    c, t = format_version(candidate), format_version(target)
    if len(candidate) > len(target):
        return f"{what} {c} is more specific than the target {t}"
    return f"{what} {c} is newer than the target {t}"


same_version = same_version_key
"""Equal up to trailing zeros (``3.4`` == ``3.4.0``)."""
