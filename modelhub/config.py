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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from modelhub.errors import ConfigError

DEFAULT_BUCKET = "auxdata.johnsnowlabs.com"
DEFAULT_FOLDERS: tuple[str, ...] = ("public/models",)
DEFAULT_PRIVATE_FOLDERS: tuple[str, ...] = (
    "clinical/models",
    "finance/models",
    "legal/models",
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    cache_dir: Path
    offline: bool = False
    cards: tuple[Path, ...] = ()
    mirrors: tuple[str, ...] = ()
    s3_endpoint: str | None = None
    bucket: str = DEFAULT_BUCKET
    folders: tuple[str, ...] = DEFAULT_FOLDERS
    private_folders: tuple[str, ...] = DEFAULT_PRIVATE_FOLDERS
    lib_version: str | None = None  # None: no upper bound
    spark_version: str | None = None
    config_file: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def with_changes(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _xdg_dir(var: str, fallback: str) -> Path | None:
    """On Linux the XDG rule is what platformdirs computes; doing it here keeps
    platformdirs (and its import cost) off every CLI start."""
    if sys.platform != "linux":
        return None
    value = os.environ.get(var)
    base = Path(value) if value and os.path.isabs(value) else Path.home() / fallback
    return base / "modelhub"


def default_cache_dir() -> Path:
    fast = _xdg_dir("XDG_CACHE_HOME", ".cache")
    if fast is not None:
        return fast
    from platformdirs import user_cache_path

    return user_cache_path("modelhub", appauthor=False)


def default_config_file() -> Path:
    fast = _xdg_dir("XDG_CONFIG_HOME", ".config")
    if fast is not None:
        return fast / "config.toml"
    from platformdirs import user_config_path

    return user_config_path("modelhub", appauthor=False) / "config.toml"


def _parse_bool(value: str, what: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ConfigError(f"{what}={value!r} is not a boolean: use 1/0, true/false, yes/no or on/off")


def _paths(value: str) -> tuple[str, ...]:
    return tuple(p for p in value.split(os.pathsep) if p)


def _read_file(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix or remove the file") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    return data


def _str_tuple(data: dict[str, Any], key: str, path: Path) -> tuple[str, ...] | None:
    if key not in data:
        return None
    value = data[key]
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{path}: '{key}' must be a string or a list of strings")


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from defaults, the config file and ``env``
    (``os.environ`` when not given)."""
    env = dict(os.environ) if env is None else env
    cfg_path = Path(env["MODELHUB_CONFIG"]) if env.get("MODELHUB_CONFIG") else None
    if cfg_path is not None and not cfg_path.is_file():
        raise ConfigError(f"MODELHUB_CONFIG={cfg_path} does not exist; create it or unset it")
    if cfg_path is None:
        candidate = default_config_file()
        cfg_path = candidate if candidate.is_file() else None
    data = _read_file(cfg_path) if cfg_path else {}
    where = cfg_path or Path("<config>")

    known = {
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
    }
    extra = {k: v for k, v in data.items() if k not in known}

    cache_dir = Path(str(data["cache_dir"])).expanduser() if "cache_dir" in data else None
    if env.get("MODELHUB_CACHE"):
        cache_dir = Path(env["MODELHUB_CACHE"]).expanduser()
    if cache_dir is None:
        cache_dir = default_cache_dir()

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

    return Settings(
        cache_dir=cache_dir,
        offline=offline,
        cards=tuple(Path(p).expanduser() for p in cards),
        mirrors=mirrors,
        s3_endpoint=opt_str("s3_endpoint", "MODELHUB_S3_ENDPOINT"),
        bucket=opt_str("bucket", "MODELHUB_BUCKET") or DEFAULT_BUCKET,
        folders=_str_tuple(data, "folders", where) or DEFAULT_FOLDERS,
        private_folders=_str_tuple(data, "private_folders", where) or DEFAULT_PRIVATE_FOLDERS,
        lib_version=opt_str("lib_version", "MODELHUB_LIB_VERSION"),
        spark_version=opt_str("spark_version", "MODELHUB_SPARK_VERSION"),
        config_file=cfg_path,
        extra=extra,
    )
