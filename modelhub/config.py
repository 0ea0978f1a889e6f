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

from modelhub.errors import ConfigError
from modelhub.knobs import Knob, knob_value, offline_value
from modelhub.userdirs import default_cache_text, default_config_text, expand, norm

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

MiB = 1 << 20


KNOBS: dict[str, Knob] = {
    k.key: k
    for k in (
        Knob("fsync", "MODELHUB_FSYNC", "bool", True),
        Knob("direct_io", "MODELHUB_DIRECT_IO", "bool", True),
        Knob("trust_unrecorded", "MODELHUB_TRUST_UNRECORDED", "bool", False),
        Knob("download_connections", "MODELHUB_CONNECTIONS", "count", 8),
        # a chunk smaller than one O_DIRECT block (4 KiB) is a typo, not a choice
        Knob("download_chunk_mb", "MODELHUB_CHUNK_MB", "number", 16.0, minimum=4096 / MiB),
        Knob("lock_stale_seconds", "MODELHUB_LOCK_STALE", "number", 120.0),
        Knob("read_timeout", "MODELHUB_READ_TIMEOUT", "number", 60.0),
        Knob("retries", "MODELHUB_RETRIES", "count", 6),
        Knob("retry_base", "MODELHUB_RETRY_BASE", "number", 0.5),
        Knob("retry_total", "MODELHUB_RETRY_TOTAL", "number", 300.0),
        Knob("extract_max_gb", "MODELHUB_EXTRACT_MAX_GB", "number", 64.0),
        Knob("extract_max_files", "MODELHUB_EXTRACT_MAX_FILES", "count", 200_000),
        Knob("extract_max_ratio", "MODELHUB_EXTRACT_MAX_RATIO", "number", 200.0),
        Knob("hf_endpoint", "HF_ENDPOINT", "url", "https://huggingface.co"),
        Knob("spark_load_log", "MODELHUB_SPARK_LOAD_LOG", "path", None),
        # seconds for a whole download; None: max(10 min, the size at 1 MB/s)
        Knob("download_deadline", "MODELHUB_DOWNLOAD_DEADLINE", "number", None),
        # the ceiling of a download whose size nothing announces
        Knob("download_max_gb", "MODELHUB_DOWNLOAD_MAX_GB", "number", 64.0),
    )
}
"""The tuning knobs, by config key; modules naming a variable in a message
take it from here (``KNOBS["extract_max_files"].env``)."""

# The core settings' variables, by config key (cards, mirrors: ``:``-separated).
ENV: dict[str, str] = {
    "config_file": "MODELHUB_CONFIG",
    "cache_dir": "MODELHUB_CACHE",
    "offline": "MODELHUB_OFFLINE",
    "cards": "MODELHUB_CARDS",
    "mirrors": "MODELHUB_MIRROR",
    "s3_endpoint": "MODELHUB_S3_ENDPOINT",
    "bucket": "MODELHUB_BUCKET",
    "lib_version": "MODELHUB_LIB_VERSION",
    "spark_version": "MODELHUB_SPARK_VERSION",
}

# Variables that change which catalog the settings describe: a change in any
# of them (a test, a notebook setting MODELHUB_CARDS) must be seen at once.
CATALOG_ENV: tuple[str, ...] = (
    *(ENV[k] for k in ("config_file", "cache_dir", "cards", "mirrors", "s3_endpoint")),
    *(ENV[k] for k in ("bucket", "lib_version", "spark_version")),
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "HOME",
)


def catalog_environment() -> tuple[str | None, ...]:
    """The current values of :data:`CATALOG_ENV`: equal tuples, same catalog."""
    return tuple(os.environ.get(name) for name in CATALOG_ENV)


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
    "offline_source",
    *KNOBS,
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
    extra: dict[str, Any]  # the config file's knob values as written (compatibility)
    # what turned offline on, for messages ("MODELHUB_OFFLINE", "HF_HUB_OFFLINE",
    # "TRANSFORMERS_OFFLINE", "'offline' in <config file>"); None when off or set in code
    offline_source: str | None
    fsync: bool
    direct_io: bool
    trust_unrecorded: bool
    download_connections: int
    download_chunk_mb: float
    lock_stale_seconds: float
    read_timeout: float
    retries: int
    retry_base: float
    retry_total: float
    extract_max_gb: float
    extract_max_files: int
    extract_max_ratio: float
    hf_endpoint: str
    spark_load_log: str | None
    download_deadline: float | None
    download_max_gb: float

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
        offline_source: str | None = None,
        fsync: bool = True,
        direct_io: bool = True,
        trust_unrecorded: bool = False,
        download_connections: int = 8,
        download_chunk_mb: float = 16.0,
        lock_stale_seconds: float = 120.0,
        read_timeout: float = 60.0,
        retries: int = 6,
        retry_base: float = 0.5,
        retry_total: float = 300.0,
        extract_max_gb: float = 64.0,
        extract_max_files: int = 200_000,
        extract_max_ratio: float = 200.0,
        hf_endpoint: str = "https://huggingface.co",
        spark_load_log: str | None = None,
        download_deadline: float | None = None,
        download_max_gb: float = 64.0,
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
            offline_source if offline else None,
            fsync,
            direct_io,
            trust_unrecorded,
            download_connections,
            download_chunk_mb,
            lock_stale_seconds,
            read_timeout,
            retries,
            retry_base,
            retry_total,
            extract_max_gb,
            extract_max_files,
            extract_max_ratio,
            hf_endpoint,
            spark_load_log,
            download_deadline,
            download_max_gb,
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

    @property
    def download_chunk(self) -> int:
        """The download range size in bytes."""
        return int(self.download_chunk_mb * MiB)

    @property
    def extract_max_bytes(self) -> int:
        """The most bytes one archive may expand to."""
        return int(self.extract_max_gb * 2**30)

    @property
    def download_max_bytes(self) -> int:
        """The most bytes a download of unannounced size may have."""
        return int(self.download_max_gb * 2**30)

    def with_changes(self, **changes: Any) -> Settings:
        values = {name: getattr(self, name) for name in _FIELDS}
        for name in changes:
            if name not in values:
                raise TypeError(f"Settings has no field {name!r}")
        values.update(changes)
        return Settings(**values)


def _paths(value: str) -> tuple[str, ...]:
    return tuple(p for p in value.split(os.pathsep) if p)


def _read_file(path: str) -> dict[str, Any]:
    import tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix or remove the file") from exc
    except UnicodeDecodeError as exc:  # tomllib decodes UTF-8 first: a binary file
        raise ConfigError(
            f"{path}: the config file is not UTF-8 text (byte {exc.start}); fix or remove it"
        ) from exc
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder, not a config file; point at a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    return data


def _config_path(env: dict[str, str]) -> str | None:
    """The config file to read: ``MODELHUB_CONFIG`` (must be a file), else
    the default location when a file is there."""
    var = ENV["config_file"]
    if env.get(var):
        path = norm(env[var])
        if os.path.isdir(path):
            raise ConfigError(f"{var}={path} is a folder, not a config file; point it at a file")
        if not os.path.isfile(path):
            raise ConfigError(f"{var}={path} does not exist; create it or unset it")
        return path
    candidate = default_config_text()
    if os.path.isdir(candidate):
        raise ConfigError(
            f"{candidate} (the default config file) is a folder; remove it or set {var}"
        )
    return candidate if os.path.isfile(candidate) else None


def _unknown_keys(data: dict[str, Any], where: str) -> None:
    unknown = sorted(k for k in data if k not in _KNOWN)
    if not unknown:
        return
    import difflib

    key = unknown[0]
    close = difflib.get_close_matches(key, sorted(_KNOWN), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise ConfigError(
        f"{where}: unknown config key '{key}'; {hint}known keys: {', '.join(sorted(_KNOWN))}"
    )


def _knobs(data: dict[str, Any], env: dict[str, str], where: str) -> dict[str, Any]:
    """Every knob: the variable when set (non-empty), else the config key,
    else the default; each checked by :func:`knob_value`."""
    out: dict[str, Any] = {}
    for key, knob in KNOBS.items():
        text = env.get(knob.env, "")
        if text.strip():
            value = knob_value(knob, text, True, where)
        elif key in data:
            value = knob_value(knob, data[key], False, where)
        else:
            value = knob.default
        out[key] = expand(value) if knob.kind == "path" and value is not None else value
    return out


def _path_text(data: dict[str, Any], key: str, where: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value or "\x00" in value:
        raise ConfigError(
            f"{where}: '{key}' (or {ENV[key]}) must be a path (non-empty text), not {value!r}"
        )
    return value


def _str_tuple(data: dict[str, Any], key: str, path: str) -> tuple[str, ...] | None:
    if key not in data:
        return None
    value = data[key]
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    also = f" (or {ENV[key]})" if key in ENV else " (config file only)"
    raise ConfigError(f"{path}: '{key}'{also} must be a string or a list of strings")


_KNOWN = frozenset(_FIELDS) - {"config_file", "extra"}  # every config key


def setting_names() -> list[tuple[str, str | None]]:
    """``(config key, variable or None)`` of every setting, in the README's order."""
    pairs = [(k, v) for k, v in ENV.items() if k != "config_file"]
    pairs += [("folders", None), ("private_folders", None)]
    return pairs + [(k.key, k.env) for k in KNOBS.values()]


def setting_sources(env: dict[str, str] | None = None) -> list[tuple[str, str | None, str]]:
    """``(config key, variable or None, source)`` for every setting, where the
    source is ``env VAR``, ``config FILE`` or ``default``: what ``modelhub env``
    shows beside each value. Raises ConfigError as :func:`load_settings` does."""
    env = dict(os.environ) if env is None else env
    cfg_path = _config_path(env)
    data = _read_file(cfg_path) if cfg_path else {}
    out = []
    for key, var in setting_names():
        if var is not None and (var in env if key == "offline" else env.get(var)):
            source = f"env {var}"
        elif key in data:
            source = f"config {cfg_path}"
        else:
            source = "default"
        out.append((key, var, source))
    return out


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from defaults, the config file and ``env``
    (``os.environ`` when not given)."""
    env = dict(os.environ) if env is None else env
    cfg_path = _config_path(env)
    data = _read_file(cfg_path) if cfg_path else {}
    where = cfg_path or "<config>"
    _unknown_keys(data, where)
    knobs = _knobs(data, env, where)
    extra = {k: v for k, v in data.items() if k in KNOBS}

    cache_dir = expand(_path_text(data, "cache_dir", where)) if "cache_dir" in data else None
    if env.get("MODELHUB_CACHE"):
        cache_dir = expand(env["MODELHUB_CACHE"])
    if cache_dir is None:
        cache_dir = default_cache_text()

    offline, offline_source = offline_value(data, env, where, ENV["offline"])

    cards = _str_tuple(data, "cards", where) or ()
    if env.get("MODELHUB_CARDS"):
        cards = cards + _paths(env["MODELHUB_CARDS"])

    mirrors = _str_tuple(data, "mirrors", where) or ()
    if env.get("MODELHUB_MIRROR"):
        mirrors = _paths(env["MODELHUB_MIRROR"]) + mirrors

    def opt_str(key: str, env_key: str) -> str | None:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{where}: '{key}' (or {env_key}) must be a string")
        return env.get(env_key) or value

    def opt_url(key: str, env_key: str) -> str | None:
        value = opt_str(key, env_key)
        if value is None or value == "":
            return None
        return str(
            knob_value(Knob(key, env_key, "url", None), value, bool(env.get(env_key)), where)
        )

    def opt_target(key: str, env_key: str) -> str | None:
        value = opt_str(key, env_key)
        if value is not None:
            # only when set: off the warm path otherwise
            from modelhub.registry.versions import parse_target

            try:
                parse_target(value)
            except ValueError:
                origin = (
                    f"{env_key} (config key '{key}'): {env_key}"
                    if env.get(env_key)
                    else f"{where}: '{key}' (or {env_key})"
                )
                raise ConfigError(
                    f"{origin}={value!r} is not a version: give numbers such as 5.5.1, "
                    "or unset it for no upper bound"
                ) from None
        return value

    return Settings._from_text(
        {
            "cache_dir": cache_dir,
            "cards": tuple(expand(p) for p in cards),
            "config_file": cfg_path,
        },
        offline=offline,
        offline_source=offline_source,
        mirrors=mirrors,
        s3_endpoint=opt_url("s3_endpoint", "MODELHUB_S3_ENDPOINT"),
        bucket=opt_str("bucket", "MODELHUB_BUCKET") or DEFAULT_BUCKET,
        folders=_str_tuple(data, "folders", where) or DEFAULT_FOLDERS,
        private_folders=_str_tuple(data, "private_folders", where) or DEFAULT_PRIVATE_FOLDERS,
        lib_version=opt_target("lib_version", "MODELHUB_LIB_VERSION"),
        spark_version=opt_target("spark_version", "MODELHUB_SPARK_VERSION"),
        extra=extra,
        **knobs,
    )
