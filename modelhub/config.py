"""Settings, from (lowest to highest precedence) defaults, the config file and
environment variables.

The config file is TOML at ``$MODELHUB_CONFIG`` or
``<user config dir>/modelhub/config.toml``::

    cache_dir = "/data/modelhub"
    offline = false
    cards = ["/srv/cards"]
    mirrors = ["/mnt/mirror"]
    s3_endpoint = "http://127.0.0.1:9000"
    bucket = "auxdata.johnsnowlabs.com"
    folders = ["public/models"]
    private_folders = ["clinical/models"]
    lib_version = "5.5.1"
    spark_version = "3.5"

This module is imported on every CLI start, so it stays cheap: no network,
no heavy imports, the file read only when it exists.
"""

from __future__ import annotations

import os
import sys

from modelhub.errors import ConfigError

# typing stays off the CLI's start (annotations are strings here)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

DEFAULT_BUCKET = "auxdata.johnsnowlabs.com"
DEFAULT_FOLDERS: tuple[str, ...] = ("public/models",)
DEFAULT_PRIVATE_FOLDERS: tuple[str, ...] = (
    "clinical/models",
    "finance/models",
    "legal/models",
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

_FIELDS = (
    "cache_dir",
    "offline",
    "cards",
    "mirrors",
    "s3_endpoint",
    "bucket",
    "folders",
    "private_folders",
    "lib_version",
    "spark_version",
    "config_file",
    "extra",
)
# Fields holding paths; load_settings() keeps them as text until first read.
_PATH_FIELDS = ("cache_dir", "cards", "config_file")


class Settings:
    """The effective settings (immutable; compare, hash and print like a frozen
    dataclass with these fields).

    A hand-written class rather than a dataclass, and paths kept as text until
    a path field is first read: ``dataclasses`` (via ``inspect``) and
    ``pathlib`` together cost more than the rest of a warm ``modelhub list``.
    """

    __slots__ = (*_FIELDS, "_raw")

    cache_dir: Path
    offline: bool
    cards: tuple[Path, ...]
    mirrors: tuple[str, ...]
    s3_endpoint: str | None
    bucket: str
    folders: tuple[str, ...]
    private_folders: tuple[str, ...]
    lib_version: str | None  # None: no upper bound
    spark_version: str | None
    config_file: Path | None
    extra: dict[str, Any]

    def __init__(
        self,
        cache_dir: Path,
        offline: bool = False,
        cards: tuple[Path, ...] = (),
        mirrors: tuple[str, ...] = (),
        s3_endpoint: str | None = None,
        bucket: str = DEFAULT_BUCKET,
        folders: tuple[str, ...] = DEFAULT_FOLDERS,
        private_folders: tuple[str, ...] = DEFAULT_PRIVATE_FOLDERS,
        lib_version: str | None = None,
        spark_version: str | None = None,
        config_file: Path | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        values = (
            cache_dir,
            offline,
            cards,
            mirrors,
            s3_endpoint,
            bucket,
            folders,
            private_folders,
            lib_version,
            spark_version,
            config_file,
            {} if extra is None else extra,
        )
        for name, value in zip(_FIELDS, values, strict=True):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_raw", {})

    @classmethod
    def _from_text(cls, raw: dict[str, Any], **values: Any) -> Settings:
        """Settings whose path fields (``raw``: normalized text, a tuple of
        text for ``cards``) become ``Path`` objects on first read."""
        self = cls.__new__(cls)
        for name in _FIELDS:
            if name not in raw:
                object.__setattr__(self, name, values[name])
        object.__setattr__(self, "_raw", raw)
        return self

    def __getattr__(self, name: str) -> Any:
        # Reached only for a slot not set yet: a path field kept as text.
        raw = object.__getattribute__(self, "_raw")
        if name not in raw:
            raise AttributeError(f"'Settings' object has no attribute {name!r}")
        from pathlib import Path

        text = raw[name]
        value = (
            None
            if text is None
            else tuple(Path(t) for t in text)
            if isinstance(text, tuple)
            else Path(text)
        )
        object.__setattr__(self, name, value)
        return value

    def path_text(self, name: str) -> Any:
        """The path field ``name`` (``cache_dir``, ``cards``, ``config_file``)
        as text (a tuple of text for ``cards``, ``None`` stays ``None``),
        without building ``Path`` objects: for the CLI's warm path."""
        if name not in _PATH_FIELDS:
            raise ValueError(f"{name!r} is not a path field of Settings")
        raw = self._raw
        if name in raw:
            return raw[name]
        value = getattr(self, name)
        if name == "cards":
            return tuple(str(p) for p in value)
        return None if value is None else str(value)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Settings)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={v!r}" for n, v in zip(_FIELDS, self._values(), strict=True))
        return f"Settings({fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Settings, self._values())

    def with_changes(self, **changes: Any) -> Settings:
        values = {name: getattr(self, name) for name in _FIELDS}
        for name in changes:
            if name not in values:
                raise TypeError(f"Settings has no field {name!r}")
        values.update(changes)
        return Settings(**values)


def _norm(path: str) -> str:
    """``str(PurePosixPath(path))``: empty and ``.`` parts dropped, exactly two
    leading slashes kept, as pathlib normalizes."""
    lead = "//" if path[:2] == "//" and path[2:3] != "/" else "/" if path[:1] == "/" else ""
    return lead + "/".join(p for p in path.split("/") if p and p != ".") or "."


def _expand(path: str) -> str:
    """``Path(path).expanduser()`` as text (posix)."""
    path = _norm(path)
    if path[:1] == "~":
        home = os.path.expanduser(path)
        if home[:1] == "~":  # no home directory: pathlib's error
            from pathlib import Path

            return str(Path(path).expanduser())
        path = _norm(home)
    return path


def _xdg_text(var: str, fallback: str) -> str | None:
    """On Linux the XDG rule is what platformdirs computes; doing it here keeps
    platformdirs (and its import cost) off every CLI start."""
    if sys.platform != "linux":
        return None
    value = os.environ.get(var)
    base = value if value and os.path.isabs(value) else os.path.join(_home(), fallback)
    return _norm(os.path.join(base, "modelhub"))


def _home() -> str:
    home = os.path.expanduser("~")
    if home == "~":  # pathlib's Path.home() error
        from pathlib import Path

        return str(Path.home())
    return home


def _default_cache_text() -> str:
    fast = _xdg_text("XDG_CACHE_HOME", ".cache")
    if fast is not None:
        return fast
    from platformdirs import user_cache_path

    return str(user_cache_path("modelhub", appauthor=False))


def _default_config_text() -> str:
    fast = _xdg_text("XDG_CONFIG_HOME", ".config")
    if fast is not None:
        return fast + "/config.toml"
    from platformdirs import user_config_path

    return str(user_config_path("modelhub", appauthor=False) / "config.toml")


def default_cache_dir() -> Path:
    from pathlib import Path

    return Path(_default_cache_text())


def default_config_file() -> Path:
    from pathlib import Path

    return Path(_default_config_text())


def _parse_bool(value: str, what: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ConfigError(f"{what}={value!r} is not a boolean: use 1/0, true/false, yes/no or on/off")


def _paths(value: str) -> tuple[str, ...]:
    return tuple(p for p in value.split(os.pathsep) if p)


if os.name != "posix":  # pathlib's rules for other systems

    def _norm(path: str) -> str:
        from pathlib import Path

        return str(Path(path))

    def _expand(path: str) -> str:
        from pathlib import Path

        return str(Path(path).expanduser())


def _read_file(path: str) -> dict[str, Any]:
    import tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix or remove the file") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    return data


def _str_tuple(data: dict[str, Any], key: str, path: str) -> tuple[str, ...] | None:
    if key not in data:
        return None
    value = data[key]
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{path}: '{key}' must be a string or a list of strings")


_KNOWN = frozenset(_FIELDS) - {"config_file", "extra"}


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from defaults, the config file and ``env``
    (``os.environ`` when not given)."""
    env = dict(os.environ) if env is None else env
    cfg_path = _norm(env["MODELHUB_CONFIG"]) if env.get("MODELHUB_CONFIG") else None
    if cfg_path is not None and not os.path.isfile(cfg_path):
        raise ConfigError(f"MODELHUB_CONFIG={cfg_path} does not exist; create it or unset it")
    if cfg_path is None:
        candidate = _default_config_text()
        cfg_path = candidate if os.path.isfile(candidate) else None
    data = _read_file(cfg_path) if cfg_path else {}
    where = cfg_path or "<config>"

    extra = {k: v for k, v in data.items() if k not in _KNOWN}

    cache_dir = _expand(str(data["cache_dir"])) if "cache_dir" in data else None
    if env.get("MODELHUB_CACHE"):
        cache_dir = _expand(env["MODELHUB_CACHE"])
    if cache_dir is None:
        cache_dir = _default_cache_text()

    offline = data.get("offline", False)
    if not isinstance(offline, bool):
        raise ConfigError(f"{where}: 'offline' must be true or false")
    if "MODELHUB_OFFLINE" in env:
        offline = _parse_bool(env["MODELHUB_OFFLINE"], "MODELHUB_OFFLINE")

    cards = _str_tuple(data, "cards", where) or ()
    if env.get("MODELHUB_CARDS"):
        cards = cards + _paths(env["MODELHUB_CARDS"])

    mirrors = _str_tuple(data, "mirrors", where) or ()
    if env.get("MODELHUB_MIRROR"):
        mirrors = _paths(env["MODELHUB_MIRROR"]) + mirrors

    def opt_str(key: str, env_key: str) -> str | None:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{where}: '{key}' must be a string")
        return env.get(env_key) or value

    def opt_target(key: str, env_key: str) -> str | None:
        value = opt_str(key, env_key)
        if value is not None:
            # only when set: off the warm path otherwise
            from modelhub.registry.versions import parse_target

            try:
                parse_target(value)
            except ValueError:
                origin = env_key if env.get(env_key) else f"{where}: '{key}'"
                raise ConfigError(
                    f"{origin}={value!r} is not a version: give numbers such as 5.5.1, "
                    "or unset it for no upper bound"
                ) from None
        return value

    return Settings._from_text(
        {
            "cache_dir": cache_dir,
            "cards": tuple(_expand(p) for p in cards),
            "config_file": cfg_path,
        },
        offline=offline,
        mirrors=mirrors,
        s3_endpoint=opt_str("s3_endpoint", "MODELHUB_S3_ENDPOINT"),
        bucket=opt_str("bucket", "MODELHUB_BUCKET") or DEFAULT_BUCKET,
        folders=_str_tuple(data, "folders", where) or DEFAULT_FOLDERS,
        private_folders=_str_tuple(data, "private_folders", where) or DEFAULT_PRIVATE_FOLDERS,
        lib_version=opt_target("lib_version", "MODELHUB_LIB_VERSION"),
        spark_version=opt_target("spark_version", "MODELHUB_SPARK_VERSION"),
        extra=extra,
    )


def number_setting(settings: Settings, key: str, env: str, default: float) -> float:
    """A positive finite number from the variable ``env``, else the config
    file's ``key``, else ``default``; anything else is a ConfigError naming
    both (read at call time)."""
    import math

    raw = os.environ.get(env, "").strip() or settings.extra.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{env} ({key}) = {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ConfigError(f"{env} ({key}) = {raw!r} is not a finite number")
    if not value > 0:
        raise ConfigError(f"{env} ({key}) = {raw!r} must be more than 0")
    return value
