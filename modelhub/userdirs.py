"""Where a user's files go, as text: the home directory, the XDG cache and
config folders on Linux (what platformdirs computes, without importing it on
every CLI start), ``~`` expansion and pathlib's normalization.  Reads no
modelhub setting: :mod:`modelhub.config` does that."""

from __future__ import annotations

import os
import sys


def norm(path: str) -> str:
    """``str(PurePosixPath(path))``: empty and ``.`` parts dropped, exactly two
    leading slashes kept, as pathlib normalizes."""
    lead = "//" if path[:2] == "//" and path[2:3] != "/" else "/" if path[:1] == "/" else ""
    return lead + "/".join(p for p in path.split("/") if p and p != ".") or "."


def expand(path: str) -> str:
    """``Path(path).expanduser()`` as text (posix)."""
    path = norm(path)
    if path[:1] == "~":
        home = os.path.expanduser(path)
        if home[:1] == "~":  # no home directory: pathlib's error
            from pathlib import Path

            return str(Path(path).expanduser())
        path = norm(home)
    return path


def _xdg_text(var: str, fallback: str) -> str | None:
    """On Linux the XDG rule is what platformdirs computes; doing it here keeps
    platformdirs (and its import cost) off every CLI start."""
    if sys.platform != "linux":
        return None
    value = os.environ.get(var)
    base = value if value and os.path.isabs(value) else os.path.join(_home(), fallback)
    return norm(os.path.join(base, "modelhub"))


def _home() -> str:
    home = os.path.expanduser("~")
    if home == "~":  # pathlib's Path.home() error
        from pathlib import Path

        return str(Path.home())
    return home


def default_cache_text() -> str:
    """The default cache directory (no config, no variable), as text."""
    fast = _xdg_text("XDG_CACHE_HOME", ".cache")
    if fast is not None:
        return fast
    from platformdirs import user_cache_path

    return str(user_cache_path("modelhub", appauthor=False))


def default_config_text() -> str:
    fast = _xdg_text("XDG_CONFIG_HOME", ".config")
    if fast is not None:
        return fast + "/config.toml"
    from platformdirs import user_config_path

    return str(user_config_path("modelhub", appauthor=False) / "config.toml")


if os.name != "posix":  # pathlib's rules for other systems

    def norm(path: str) -> str:
        from pathlib import Path

        return str(Path(path))

    def expand(path: str) -> str:
        from pathlib import Path

        return str(Path(path).expanduser())
