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
import math
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


MAX_LINE = 1 << 16  # real lines are a few hundred characters
MAX_FIELD = 1024
MAX_VERSION_TEXT = 64
MIN_TIME_MS = 0  # 1970-01-01
MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def check_version(version: Version, what: str) -> Version:
    """``version`` when it has at most 8 parts of at most 10 digits each."""
    if len(version) > 8 or any(not 0 <= p < 10**10 for p in version):
        raise ValueError(f"'{what}' is not a version of small non-negative numbers")
    return version


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _opt_str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"'{key}' is not a string")
    if len(value) > MAX_FIELD or "\0" in value:
        raise ValueError(f"'{key}' is longer than {MAX_FIELD} characters or holds NUL")
    value = value.strip()
    return value or None


def _parts(obj: dict[str, Any], key: str) -> Version:
    value = obj.get(key)
    if isinstance(value, dict):
        value = value.get("parts")
    if isinstance(value, str):
        if len(value) > MAX_VERSION_TEXT:
            raise ValueError(f"'{key}' is {len(value)} characters long")
        return check_version(parse_version(value), key)
    if not isinstance(value, list) or not all(
        isinstance(p, int) and not isinstance(p, bool) for p in value
    ):
        raise ValueError(f"'{key}' has no list of integer 'parts'")
    return check_version(tuple(value), key)


def parse_line(text: str, *, folder: str, line: int) -> MetadataLine:
    """One line -> :class:`MetadataLine`; ``ValueError`` saying what is wrong."""
    if len(text) > MAX_LINE:
        raise ValueError(f"a line of {len(text)} characters (at most {MAX_LINE})")
    try:
        obj = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    name = _opt_str(obj, "name")
    if not name:
        raise ValueError("no 'name'")
    time_value = obj.get("time")
    if isinstance(time_value, (int, float)) and not isinstance(time_value, bool):
        if not MIN_TIME_MS <= time_value <= MAX_TIME_MS:
            raise ValueError("'time' is not between 1970 and 9999")
        time_ms = int(time_value)
    elif isinstance(time_value, str) and len(time_value) <= 64:
        try:
            time_ms = iso_to_epoch_ms(time_value)
        except ValueError:
            raise ValueError(f"'time' {time_value!r} is not an ISO 8601 time") from None
        if not MIN_TIME_MS <= time_ms <= MAX_TIME_MS:
            raise ValueError(f"'time' {time_value!r} is not between 1970 and 9999")
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


METADATA_LIMIT = 256 << 20  # the largest real folder is a few MB


def read_metadata(path: str, *, folder: str) -> list[MetadataLine]:
    """Reads a metadata.json file (see :func:`iter_metadata`) without
    blocking on a FIFO or following a link; a file that is not a regular
    file, or is too large, is an OSError-like ValueError for the caller."""
    from modelhub.saferead import read_small

    text = read_small(path, limit=METADATA_LIMIT).decode("utf-8", errors="replace")
    return list(iter_metadata(text, folder=folder, source=path))
