"""Checking one setting's raw value: a :class:`Knob` says which variable
and config key set it and what kind of value it takes; :func:`knob_value`
turns text from the environment or a TOML value into that type, or raises
the one :class:`~modelhub.errors.ConfigError` form naming both.  The table
of knobs lives in :mod:`modelhub.config`, the only module reading settings."""

from __future__ import annotations

from modelhub.errors import ConfigError

# typing stays off the CLI's start (annotations are strings here)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off", ""})


class Knob:
    """One tuning setting: its config key, its variable, its kind and default.

    ``kind`` is ``"bool"``, ``"count"`` (a whole number >= 1), ``"number"``
    (finite, more than 0, at least ``minimum``), ``"url"`` (http or https with
    a host) or ``"path"``.  Every knob goes through :func:`knob_value`: one
    validation path, one error form naming the variable and the key.
    """

    __slots__ = ("default", "env", "key", "kind", "minimum")

    def __init__(
        self, key: str, env: str, kind: str, default: Any, minimum: float | None = None
    ) -> None:
        self.key, self.env, self.kind, self.default, self.minimum = (
            key,
            env,
            kind,
            default,
            minimum,
        )


def _knob_error(knob: Knob, raw: Any, from_env: bool, where: str, problem: str) -> ConfigError:
    """The one error form: the variable and the key, whichever was given."""
    if from_env:
        return ConfigError(f"{knob.env} (config key '{knob.key}'): {knob.env}={raw!r} {problem}")
    return ConfigError(f"{where}: '{knob.key}' (or {knob.env}) = {raw!r} {problem}")


def knob_value(knob: Knob, raw: Any, from_env: bool, where: str) -> Any:
    """``raw`` (text from the variable, or a TOML value) checked and typed."""
    kind = knob.kind
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int) and raw in (0, 1):
            return bool(raw)  # `fsync = 0` in TOML, as before
        text = raw.strip().lower() if isinstance(raw, str) else None
        if text in TRUE:
            return True
        if text in FALSE and text:
            return False
        raise _knob_error(
            knob, raw, from_env, where, "is not a boolean: use 1/0, true/false, yes/no or on/off"
        )
    if kind in ("count", "number"):
        return _number(knob, raw, from_env, where)
    if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
        raise _knob_error(knob, raw, from_env, where, "must be non-empty text")
    if kind == "url":
        return _url(knob, raw, from_env, where)
    return raw  # a path: modelhub.config expands it


def _number(knob: Knob, raw: Any, from_env: bool, where: str) -> int | float:
    import math

    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise _knob_error(knob, raw, from_env, where, "is not a number")
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        raise _knob_error(knob, raw, from_env, where, "is not a number") from None
    if not math.isfinite(value):
        raise _knob_error(knob, raw, from_env, where, "is not a finite number")
    if not value > 0:
        raise _knob_error(knob, raw, from_env, where, "must be more than 0")
    if knob.minimum is not None and value < knob.minimum:
        raise _knob_error(knob, raw, from_env, where, f"must be at least {knob.minimum:g}")
    if knob.kind == "count":
        if value != int(value):
            raise _knob_error(knob, raw, from_env, where, "is not a whole number")
        return int(value)
    return value


def _url(knob: Knob, raw: str, from_env: bool, where: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(raw.strip())
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        ok = False
    if not ok:
        raise _knob_error(
            knob, raw, from_env, where, "is not a URL: give http(s)://host[:port][/path]"
        )
    return raw.strip()
