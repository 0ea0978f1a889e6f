"""Reading S3 ``metadata.json`` files, the index Spark NLP itself resolves against.

One JSON object per line::

    {"name": "ner_clinical", "language": "en", "libVersion": {"parts": [2, 4, 0]},
     "sparkVersion": {"parts": [2, 4]}, "readyToUse": true,
     "time": "2020-01-28T17:34:18.110Z", "isZipped": true, "category": "ml",
     "checksum": "", "annotator": "NerDLModel", "engine": "tensorflow"}

The artifact's object key is
``{folder}/{name}_{language}_{libVersion}_{sparkVersion}_{epoch_ms}.zip``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

from modelhub.registry.versions import Version, format_version, parse_version

log = logging.getLogger(__name__)


class MetadataLine(NamedTuple):
    """One usable line of a metadata.json file."""

    name: str
    language: str | None
    lib_version: Version
    spark_version: Version
    ready_to_use: bool
    time_ms: int  # epoch milliseconds
    is_zipped: bool
    category: str | None
    checksum: str | None
    annotator: str | None
    engine: str | None
    folder: str
    line: int  # 1-based line number in the file

    @property
    def artifact(self) -> str:
        return artifact_name(
            self.name,
            self.language,
            self.lib_version,
            self.spark_version,
            self.time_ms,
            zipped=self.is_zipped,
        )

    @property
    def key(self) -> str:
        return f"{self.folder}/{self.artifact}"


def artifact_name(
    name: str,
    language: str | None,
    lib_version: Version,
    spark_version: Version,
    time_ms: int,
    *,
    zipped: bool = True,
) -> str:
    base = (
        f"{name}_{language or ''}_{format_version(lib_version)}_"
        f"{format_version(spark_version)}_{time_ms}"
    )
    return base + ".zip" if zipped else base


def iso_to_epoch_ms(value: str) -> int:
    """``2020-04-17T18:05:27.460Z`` -> ``1587146727460``; a time without zone is UTC."""
    dt = datetime.fromisoformat(value.strip())
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    # integer arithmetic: float timestamps can be off by one millisecond
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _opt_str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"'{key}' is not a string")
    value = value.strip()
    return value or None


def _parts(obj: dict[str, Any], key: str) -> Version:
    value = obj.get(key)
    if isinstance(value, dict):
        value = value.get("parts")
    if isinstance(value, str):
        return parse_version(value)
    if not isinstance(value, list) or not all(
        isinstance(p, int) and not isinstance(p, bool) for p in value
    ):
        raise ValueError(f"'{key}' has no list of integer 'parts'")
    return tuple(value)


def parse_line(text: str, *, folder: str, line: int) -> MetadataLine:
    """One line -> :class:`MetadataLine`; ``ValueError`` saying what is wrong."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    name = _opt_str(obj, "name")
    if not name:
        raise ValueError("no 'name'")
    time_value = obj.get("time")
    if isinstance(time_value, (int, float)) and not isinstance(time_value, bool):
        time_ms = int(time_value)
    elif isinstance(time_value, str):
        try:
            time_ms = iso_to_epoch_ms(time_value)
        except ValueError:
            raise ValueError(f"'time' {time_value!r} is not an ISO 8601 time") from None
    else:
        raise ValueError("no 'time'")
    ready = obj.get("readyToUse", True)
    zipped = obj.get("isZipped", True)
    return MetadataLine(
        name=name,
        language=_opt_str(obj, "language"),
        lib_version=_parts(obj, "libVersion"),
        spark_version=_parts(obj, "sparkVersion"),
        ready_to_use=ready is True,
        time_ms=time_ms,
        is_zipped=zipped is not False,
        category=_opt_str(obj, "category"),
        checksum=_opt_str(obj, "checksum"),
        annotator=_opt_str(obj, "annotator"),
        engine=_opt_str(obj, "engine"),
        folder=folder,
        line=line,
    )


def iter_metadata(text: str, *, folder: str, source: str) -> Iterator[MetadataLine]:
    """Parses a metadata.json text; bad or truncated lines are skipped with a
    warning naming ``source`` and the line number."""
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped:
            continue
        try:
            yield parse_line(stripped, folder=folder, line=number)
        except ValueError as exc:
            log.warning("%s:%d: skipped a metadata line: %s", source, number, exc)


def read_metadata(path: str, *, folder: str) -> list[MetadataLine]:
    """Reads a metadata.json file (see :func:`iter_metadata`)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    return list(iter_metadata(text, folder=folder, source=path))
